// rdmablk-rdma-hostile: a misbehaving RDMA initiator. It speaks just enough
// of the rdmablk protocol (raw librdmacm and verbs, no librdmablk) to send
// what a correct initiator never sends — bad private data, a wrong ticket,
// unknown opcodes, out-of-range and oversized requests, reserved bits, writes
// to a read-only export, a bogus rkey, a truncated capsule — and checks that
// the target answers each with the status docs/protocol.md prescribes and
// that the connection still carries good I/O afterwards.
//
// usage: rdmablk-rdma-hostile HOST PORT RW_EXPORT RO_EXPORT [OPTIONS]
//   --file EXPORT    a file export (served through the shared bounce buffers):
//                    a client that stops reading its responses must not hold
//                    them from other sessions
//   --direct         RW_EXPORT and RO_EXPORT grant direct mode: forged
//                    addresses and keys in the initiator's own RDMA READ/WRITE
//   --burst N        N queue-0 connects at once (asking for the largest depth)
//                    that never log in: all answered within a bound, the
//                    target still serving (another host, with --alt-host)
//   --alt-host HOST  another address of the same target: a stolen ticket used
//                    from there is refused
//   --denied EXPORT  an export whose allow list refuses this host (repeatable);
//   --secret EXPORT  an export with a secret: logins without it fail and the
//                    connection carries no I/O
// Two modes run on their own instead of the checks above, while the calling
// case measures well-behaved sessions:
//   --drip SECONDS   with --file: a client that takes one response every
//                    --drip-interval MS (2000) and keeps its queue full of
//                    READs, until SECONDS pass or --drip-stop FILE exists
//   --flood-src ADDR (repeatable) --flood-per N (32) queue-0 connects from
//                    each address that never log in: the first --flood-cap N
//                    (256) fill the target's cap, each later one evicts the
//                    oldest, the rest are closed after --login-timeout
//                    SECONDS (10); a client from another address gets in at
//                    once with the cap full, one from a flood address right
//                    after
// Only the first MiB of RW_EXPORT is written (by the checks that succeed or
// by transfers whose result is unspecified); the rest of it, and RO_EXPORT,
// must stay unchanged, which the calling VM case verifies.
// Exit status: 0 every expectation met, 1 otherwise (each check prints
// "ok:" or "FAIL:").
#include <arpa/inet.h>
#include <endian.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>
#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <random>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "rdmablk/proto.h"
#include "rdmablk/proto_check.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kWait = std::chrono::seconds(10);

int failures = 0;
void check(bool ok, const std::string& what) {
  fmt::print("{}: {}\n", ok ? "ok" : "FAIL", what);
  if (!ok) ++failures;
}
const char* status_name(int s) { return rdmablk_status_str(s); }

struct Message {
  rdmablk_rsp rsp{};
  std::vector<std::byte> payload;
};

bool ipv4(const std::string& a, sockaddr_in& out) {
  out = {};
  out.sin_family = AF_INET;
  return inet_pton(AF_INET, a.c_str(), &out.sin_addr) == 1;
}

// One RC connection to the target with its own PD, CQ and buffers.
class Conn {
 public:
  // `src`: the local IPv4 address to connect from (empty: the route's).
  Conn(const std::string& host, const std::string& port, const std::string& src = {}) {
    ch_ = rdma_create_event_channel();
    if (!ch_ || rdma_create_id(ch_, &id_, nullptr, RDMA_PS_TCP)) throw std::runtime_error("rdma_create_id");
    fcntl(ch_->fd, F_SETFL, fcntl(ch_->fd, F_GETFL) | O_NONBLOCK);
    rdma_addrinfo hints{}, *res = nullptr;
    hints.ai_port_space = RDMA_PS_TCP;
    if (rdma_getaddrinfo(host.c_str(), port.c_str(), &hints, &res)) throw std::runtime_error("rdma_getaddrinfo");
    sockaddr_in from{};
    if (!src.empty() && !ipv4(src, from)) throw std::runtime_error("bad source address " + src);
    int rc = rdma_resolve_addr(id_, src.empty() ? nullptr : reinterpret_cast<sockaddr*>(&from), res->ai_dst_addr, 2000);
    rdma_freeaddrinfo(res);
    if (rc || next_event() != RDMA_CM_EVENT_ADDR_RESOLVED)
      throw std::runtime_error("address not resolved");
    if (rdma_resolve_route(id_, 2000) || next_event() != RDMA_CM_EVENT_ROUTE_RESOLVED)
      throw std::runtime_error("route not resolved");
    pd_ = ibv_alloc_pd(id_->verbs);
    cq_ = ibv_create_cq(id_->verbs, 128, nullptr, nullptr, 0);
    if (!pd_ || !cq_) throw std::runtime_error("pd/cq");
    ibv_qp_init_attr qa{};
    qa.send_cq = qa.recv_cq = cq_;
    qa.qp_type = IBV_QPT_RC;
    qa.cap.max_send_wr = 16;
    qa.cap.max_recv_wr = kRecvs;
    qa.cap.max_send_sge = qa.cap.max_recv_sge = 1;
    if (rdma_create_qp(id_, pd_, &qa)) throw std::runtime_error("rdma_create_qp");
    send_.resize(64 + 8192);
    recv_.resize(kRecvs * kRecvSize);
    data_.resize(1 << 20);
    int access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE;
    send_mr_ = ibv_reg_mr(pd_, send_.data(), send_.size(), IBV_ACCESS_LOCAL_WRITE);
    recv_mr_ = ibv_reg_mr(pd_, recv_.data(), recv_.size(), IBV_ACCESS_LOCAL_WRITE);
    data_mr_ = ibv_reg_mr(pd_, data_.data(), data_.size(), access);
    if (!send_mr_ || !recv_mr_ || !data_mr_) throw std::runtime_error("ibv_reg_mr");
    for (uint32_t i = 0; i < kRecvs; ++i) post_recv(i);
  }
  ~Conn() {
    if (id_ && established_) rdma_disconnect(id_);
    if (id_ && id_->qp) rdma_destroy_qp(id_);
    if (send_mr_) ibv_dereg_mr(send_mr_);
    if (recv_mr_) ibv_dereg_mr(recv_mr_);
    if (data_mr_) ibv_dereg_mr(data_mr_);
    if (cq_) ibv_destroy_cq(cq_);
    if (pd_) ibv_dealloc_pd(pd_);
    if (id_) rdma_destroy_id(id_);
    if (ch_) rdma_destroy_event_channel(ch_);
  }

  // Connects with `len` bytes of `pdata`. On a reject: the rdmablk status in
  // its private data (or -1 if none); on success: 0, and `rep` filled.
  int connect(const void* pdata, uint8_t len, rdmablk_cm_rep* rep = nullptr) {
    rdma_conn_param cp{};
    cp.private_data = pdata;
    cp.private_data_len = len;
    cp.initiator_depth = cp.responder_resources = 1;
    cp.retry_count = 7;
    cp.rnr_retry_count = 7;
    if (rdma_connect(id_, &cp)) return -2;
    rdma_cm_event* ev = wait_event();
    if (!ev) return -3;
    int result = -1;
    if (ev->event == RDMA_CM_EVENT_ESTABLISHED) {
      established_ = true;
      result = 0;
      if (rep && ev->param.conn.private_data_len >= sizeof(*rep)) std::memcpy(rep, ev->param.conn.private_data, sizeof(*rep));
    } else if (ev->event == RDMA_CM_EVENT_REJECTED && ev->param.conn.private_data_len >= sizeof(rdmablk_cm_rej)) {
      rdmablk_cm_rej rej;
      std::memcpy(&rej, ev->param.conn.private_data, sizeof(rej));
      if (le32toh(rej.magic) == RDMABLK_MAGIC) result = le16toh(rej.status);
    }
    rdma_ack_cm_event(ev);
    return result;
  }

  // SENDs a capsule plus `payload`; true once the send completed.
  bool send(const rdmablk_cmd& cmd, const void* payload = nullptr, size_t n = 0, size_t cut = 0) {
    std::memcpy(send_.data(), &cmd, sizeof(cmd));
    if (n) std::memcpy(send_.data() + sizeof(cmd), payload, n);
    ibv_sge sge{reinterpret_cast<uintptr_t>(send_.data()), static_cast<uint32_t>(cut ? cut : sizeof(cmd) + n),
                send_mr_->lkey};
    ibv_send_wr wr{}, *bad = nullptr;
    wr.wr_id = kSendId;
    wr.sg_list = &sge;
    wr.num_sge = 1;
    wr.opcode = IBV_WR_SEND;
    wr.send_flags = IBV_SEND_SIGNALED;
    if (ibv_post_send(id_->qp, &wr, &bad)) return false;
    send_done_ = false;
    auto until = Clock::now() + kWait;
    while (!send_done_ && !broken_ && Clock::now() < until) poll();
    return send_done_;
  }

  // The next response, or nullopt after kWait or once the QP broke.
  std::optional<Message> recv() {
    auto until = Clock::now() + kWait;
    while (inbox_.empty() && !broken_ && Clock::now() < until) poll();
    if (inbox_.empty()) return std::nullopt;
    Message m = std::move(inbox_.front());
    inbox_.pop_front();
    return m;
  }

  // Sends and waits for the answer to `cmd`: its status, or -1.
  int status_of(const rdmablk_cmd& cmd, const void* payload = nullptr, size_t n = 0, Message* out = nullptr) {
    if (!send(cmd, payload, n)) return -1;
    auto m = recv();
    if (!m || le32toh(m->rsp.tag) != le32toh(cmd.tag)) return -1;
    int s = le16toh(m->rsp.status);
    if (out) *out = std::move(*m);
    return s;
  }

  // True when the target ended the connection within kWait.
  bool wait_disconnect() {
    auto until = Clock::now() + kWait;
    while (Clock::now() < until) {
      rdma_cm_event* ev = wait_event(std::chrono::milliseconds(100));
      if (ev) {
        bool gone = ev->event == RDMA_CM_EVENT_DISCONNECTED;
        rdma_ack_cm_event(ev);
        if (gone) {
          rdma_disconnect(id_);  // answer it, as a polite peer does
          established_ = false;
          return true;
        }
      }
      poll();
    }
    return false;
  }

  // Stops reposting receive buffers (a client that stops reading its
  // responses), or starts again, reposting every buffer held back.
  void set_reading(bool on) {
    reading_ = on;
    if (on) {
      for (uint32_t i : held_) post_recv(i);
      held_.clear();
    }
  }
  // Reposts one receive buffer held back (a slow reader takes one response);
  // false when none is held.
  bool repost_one() {
    if (held_.empty()) return false;
    post_recv(held_.front());
    held_.erase(held_.begin());
    return true;
  }
  size_t held_recvs() const { return held_.size(); }
  // True once the target ended the connection (polls the CM, no waiting).
  bool gone() {
    while (rdma_cm_event* ev = wait_event(std::chrono::milliseconds(0))) {
      if (ev->event == RDMA_CM_EVENT_DISCONNECTED) gone_ = true;
      rdma_ack_cm_event(ev);
    }
    return gone_ || broken_;
  }
  // Drives the completion queue for `d` (the inbox fills, nothing is sent).
  void pump(std::chrono::milliseconds d) {
    auto until = Clock::now() + d;
    while (Clock::now() < until && !broken_) poll();
  }
  size_t inbox_size() const { return inbox_.size(); }

  // The initiator's own RDMA READ or WRITE of `len` bytes of data() against
  // (raddr, rkey), as direct mode does: the work completion's status, or -1
  // when none came within kWait.
  int rdma(ibv_wr_opcode op, uint64_t raddr, uint32_t rkey, uint32_t len) {
    ibv_sge sge{reinterpret_cast<uintptr_t>(data_.data()), len, data_mr_->lkey};
    ibv_send_wr wr{}, *bad = nullptr;
    wr.wr_id = kRdmaId;
    wr.sg_list = &sge;
    wr.num_sge = 1;
    wr.opcode = op;
    wr.send_flags = IBV_SEND_SIGNALED;
    wr.wr.rdma.remote_addr = raddr;
    wr.wr.rdma.rkey = rkey;
    if (ibv_post_send(id_->qp, &wr, &bad)) return -1;
    rdma_status_ = -1;
    auto until = Clock::now() + kWait;
    while (rdma_status_ < 0 && Clock::now() < until) poll();
    return rdma_status_;
  }

  bool broken() const { return broken_; }
  std::byte* data() { return data_.data(); }
  uint64_t data_addr() const { return reinterpret_cast<uintptr_t>(data_.data()); }
  uint32_t data_rkey() const { return data_mr_->rkey; }

 private:
  static constexpr uint32_t kRecvs = 16, kRecvSize = 256;
  static constexpr uint64_t kSendId = ~0ull, kRdmaId = ~1ull;

  rdma_cm_event* wait_event(std::chrono::milliseconds timeout = kWait) {
    pollfd p{ch_->fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return nullptr;
    rdma_cm_event* ev = nullptr;
    return rdma_get_cm_event(ch_, &ev) == 0 ? ev : nullptr;
  }
  // The type of the next CM event (UNREACHABLE when none came in time).
  rdma_cm_event_type next_event() {
    rdma_cm_event* ev = wait_event();
    if (!ev) return RDMA_CM_EVENT_UNREACHABLE;
    auto got = ev->event;
    rdma_ack_cm_event(ev);
    return got;
  }
  void post_recv(uint32_t i) {
    ibv_sge sge{reinterpret_cast<uintptr_t>(recv_.data() + i * kRecvSize), kRecvSize, recv_mr_->lkey};
    ibv_recv_wr wr{}, *bad = nullptr;
    wr.wr_id = i;
    wr.sg_list = &sge;
    wr.num_sge = 1;
    ibv_post_recv(id_->qp, &wr, &bad);
  }
  void poll() {
    ibv_wc wc[8];
    int n = ibv_poll_cq(cq_, 8, wc);
    if (n <= 0) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      return;
    }
    for (int i = 0; i < n; ++i) {
      if (wc[i].wr_id == kRdmaId) rdma_status_ = wc[i].status;
      if (wc[i].status != IBV_WC_SUCCESS) {
        broken_ = true;
        continue;
      }
      if (wc[i].wr_id == kRdmaId) continue;
      if (wc[i].wr_id == kSendId) {
        send_done_ = true;
        continue;
      }
      Message m;
      const std::byte* p = recv_.data() + wc[i].wr_id * kRecvSize;
      if (wc[i].byte_len >= sizeof(rdmablk_rsp)) {
        std::memcpy(&m.rsp, p, sizeof(m.rsp));
        m.payload.assign(p + sizeof(m.rsp), p + wc[i].byte_len);
        inbox_.push_back(std::move(m));
      }
      if (reading_)
        post_recv(static_cast<uint32_t>(wc[i].wr_id));
      else
        held_.push_back(static_cast<uint32_t>(wc[i].wr_id));
    }
  }

  rdma_event_channel* ch_ = nullptr;
  rdma_cm_id* id_ = nullptr;
  ibv_pd* pd_ = nullptr;
  ibv_cq* cq_ = nullptr;
  ibv_mr *send_mr_ = nullptr, *recv_mr_ = nullptr, *data_mr_ = nullptr;
  std::vector<std::byte> send_, recv_, data_;
  std::deque<Message> inbox_;
  std::vector<uint32_t> held_;  // receive buffers not reposted
  int rdma_status_ = -1;
  bool established_ = false, send_done_ = false, broken_ = false, reading_ = true, gone_ = false;
};

rdmablk_cm_req cm_req(uint16_t qid, uint16_t depth, uint64_t session = 0, const uint8_t* ticket = nullptr) {
  rdmablk_cm_req r{};
  r.magic = htole32(RDMABLK_MAGIC);
  r.version = htole16(RDMABLK_PROTO_VERSION);
  r.qid = htole16(qid);
  r.queue_depth = htole16(depth);
  r.session_id = htole64(session);
  if (ticket) std::memcpy(r.ticket, ticket, RDMABLK_TICKET_LEN);
  return r;
}

rdmablk_cmd cmd(uint8_t op, uint32_t tag, uint64_t offset = 0, uint32_t length = 0, uint8_t flags = 0) {
  rdmablk_cmd c{};
  c.opcode = op;
  c.flags = flags;
  c.tag = htole32(tag);
  c.offset = htole64(offset);
  c.length = htole32(length);
  return c;
}

struct Login {
  rdmablk_login_rsp rsp{};
  bool ok = false;
};

// Opens queue 0 on `exp` and logs in (no secret, an all-zero MAC).
// `connected`: the connect's outcome (Conn::connect), `status`: the LOGIN's.
Login login(Conn& c, const std::string& exp, uint32_t& tag, bool direct = false, int* status = nullptr,
            int* connected = nullptr) {
  Login l;
  auto req = cm_req(0, 16);
  rdmablk_cm_rep rep{};
  int cs = c.connect(&req, sizeof(req), &rep);
  if (connected) *connected = cs;
  if (cs != 0) return l;
  rdmablk_login_req lr{};
  lr.features = htole32(direct ? RDMABLK_FEAT_ALL : RDMABLK_FEAT_ALL & ~RDMABLK_FEAT_DIRECT);
  lr.nr_queues = htole16(1);
  lr.queue_depth = htole16(16);
  lr.max_io_size = htole32(1u << 20);
  std::memcpy(lr.export_name, exp.data(), exp.size());
  std::memcpy(lr.host_id, "hostile", 7);
  Message m;
  int s = c.status_of(cmd(RDMABLK_OP_LOGIN, ++tag, 0, sizeof(lr)), &lr, sizeof(lr), &m);
  if (status) *status = s;
  if (s == RDMABLK_S_SUCCESS && m.payload.size() >= sizeof(l.rsp)) {
    std::memcpy(&l.rsp, m.payload.data(), sizeof(l.rsp));
    l.ok = true;
  }
  return l;
}

void expect(int got, int want, const std::string& what) {
  check(got == want, fmt::format("{}: {} (want {})", what, got < 0 ? "no answer" : status_name(got), status_name(want)));
}

struct Opts {
  std::string host, port, rw, ro, file, alt, secret;
  std::vector<std::string> denied;
  bool direct = false;
  unsigned burst = 0;
  unsigned drip = 0;                     // seconds of slow dripping (0: none)
  unsigned drip_interval_ms = 2000;
  std::string drip_stop;                 // a file whose appearance ends the drip
  std::vector<std::string> flood_src;    // source addresses of the flood
  unsigned flood_per = 32;               // connects from each
  unsigned flood_cap = 256;              // the target's --rdma-max-pending
  unsigned login_timeout = 10;           // the target's --rdma-login-timeout
};

bool valid_opcode(int op) {
  switch (op) {
    case RDMABLK_OP_READ:
    case RDMABLK_OP_WRITE:
    case RDMABLK_OP_FLUSH:
    case RDMABLK_OP_DISCARD:
    case RDMABLK_OP_WRITE_ZEROES:
    case RDMABLK_OP_KEEPALIVE:
    case RDMABLK_OP_LOGIN:
    case RDMABLK_OP_DISCOVER:
      return true;
    default:
      return false;
  }
}

// A command naming a buffer of `c` (its data region unless told otherwise).
rdmablk_cmd buf_cmd(Conn& c, uint8_t op, uint32_t& tag, uint64_t off, uint32_t len, uint64_t addr = 0,
                    uint32_t rkey = 0) {
  auto k = cmd(op, ++tag, off, len);
  k.addr = htole64(addr ? addr : c.data_addr());
  k.rkey = htole32(rkey ? rkey : c.data_rkey());
  return k;
}

// Sends a command whose data transfer must fail: the target answers
// TRANSPORT or ends the connection, and never SUCCESS.
void expect_transfer_refused(Conn& c, const rdmablk_cmd& k, const std::string& what) {
  if (!c.send(k)) {
    check(c.broken(), what + ": the command could not even be sent");
    return;
  }
  auto ans = c.recv();
  bool ok = (!ans && (c.broken() || c.wait_disconnect())) || (ans && le16toh(ans->rsp.status) == RDMABLK_S_TRANSPORT);
  check(ok, fmt::format("{}: {}", what,
                        ans ? fmt::format("answered {}", status_name(le16toh(ans->rsp.status)))
                            : std::string("connection ended")));
}

// ---- tickets: another session's, a stale one, one used from another address ----
void check_tickets(const Opts& o) {
  auto a = std::make_unique<Conn>(o.host, o.port);
  Conn b(o.host, o.port);
  uint32_t ta = 0, tb = 0;
  Login la = login(*a, o.rw, ta), lb = login(b, o.rw, tb);
  check(la.ok && lb.ok, "two sessions log in");
  if (!la.ok || !lb.ok) return;
  const uint64_t ida = le64toh(la.rsp.session_id), idb = le64toh(lb.rsp.session_id);
  {
    auto r = cm_req(1, 16, ida, lb.rsp.ticket);
    Conn j(o.host, o.port);
    expect(j.connect(&r, sizeof(r)), RDMABLK_S_BAD_TICKET, "join session A with session B's ticket");
  }
  {
    auto r = cm_req(0, 16, ida, la.rsp.ticket);
    Conn j(o.host, o.port);
    expect(j.connect(&r, sizeof(r)), RDMABLK_S_BAD_MESSAGE, "queue 0 carrying a session id and ticket");
  }
  Conn q1(o.host, o.port);
  uint32_t t1 = 0;
  {
    auto r = cm_req(1, 16, ida, la.rsp.ticket);
    expect(q1.connect(&r, sizeof(r)), RDMABLK_S_SUCCESS, "join session A as queue 1 with its ticket");
    expect(q1.status_of(buf_cmd(q1, RDMABLK_OP_READ, t1, 0, 4096)), RDMABLK_S_SUCCESS, "READ on the joined queue");
    Conn again(o.host, o.port);
    expect(again.connect(&r, sizeof(r)), RDMABLK_S_QUEUE_LIMIT, "join queue 1 a second time while it is connected");
  }
  if (!o.alt.empty()) {
    auto r = cm_req(1, 16, idb, lb.rsp.ticket);
    Conn x(o.alt, o.port);
    expect(x.connect(&r, sizeof(r)), RDMABLK_S_BAD_TICKET,
           fmt::format("session B's ticket used from another address (via {})", o.alt));
    // The real owner still joins.
    Conn y(o.host, o.port);
    expect(y.connect(&r, sizeof(r)), RDMABLK_S_SUCCESS, "session B's own host joins with it afterwards");
  }
  a.reset();  // queue 0 of session A leaves: the session ends
  check(q1.wait_disconnect(), "the target closes session A's queue 1 when its queue 0 leaves");
  {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    auto r = cm_req(1, 16, ida, la.rsp.ticket);
    Conn j(o.host, o.port);
    expect(j.connect(&r, sizeof(r)), RDMABLK_S_BAD_TICKET, "a stale ticket (session A ended)");
  }
}

// ---- every unknown opcode, random capsules, lengths past every limit ----
void check_garbage(const Opts& o) {
  Conn c(o.host, o.port);
  uint32_t tag = 0;
  Login l = login(c, o.rw, tag);
  check(l.ok, "LOGIN for the garbage checks");
  if (!l.ok) return;
  const uint64_t size = le64toh(l.rsp.size);
  const uint32_t max_io = le32toh(l.rsp.max_io_size), max_inline = le32toh(l.rsp.max_inline);
  const uint32_t feat = le32toh(l.rsp.features);
  int n = 0, bad = 0;
  for (int op = 0; op < 256; ++op) {
    if (valid_opcode(op)) continue;
    ++n;
    if (c.status_of(cmd(static_cast<uint8_t>(op), ++tag)) != RDMABLK_S_INVALID_OPCODE) ++bad;
  }
  check(bad == 0, fmt::format("{} unknown opcodes: each answered INVALID_OPCODE ({} not)", n, bad));

  std::mt19937_64 rng(0x6a7ba6e);
  n = 0, bad = 0;
  int no_answer = 0;
  std::vector<std::byte> payload(256);
  for (int i = 0; i < 1000 && !c.broken(); ++i) {
    rdmablk_cmd k;
    auto* p = reinterpret_cast<uint8_t*>(&k);
    for (size_t j = 0; j < sizeof(k); ++j) p[j] = static_cast<uint8_t>(rng());
    if (i % 2) k.opcode = static_cast<uint8_t>(rng() % 0x22);  // mostly real opcodes
    k.tag = htole32(++tag);
    for (auto& b : payload) b = static_cast<std::byte>(rng());
    size_t extra = rng() % 3 == 0 ? rng() % payload.size() : 0;
    int s = c.status_of(k, payload.data(), extra);
    ++n;
    if (s < 0) ++no_answer;
    else if (s == RDMABLK_S_SUCCESS) ++bad;
  }
  check(n == 1000 && bad == 0 && no_answer == 0,
        fmt::format("{} random capsules (random opcode, flags, fields, payload): {} refused, {} succeeded, {} unanswered",
                    n, n - bad - no_answer, bad, no_answer));

  auto k = cmd(RDMABLK_OP_DISCARD, ++tag, 0, (1u << 30) + 4096);
  expect(c.status_of(k), feat & RDMABLK_FEAT_DISCARD ? RDMABLK_S_TOO_LARGE : RDMABLK_S_UNSUPPORTED,
         "DISCARD of 1 GiB + 4 KiB");
  k = cmd(RDMABLK_OP_WRITE_ZEROES, ++tag, size - 4096, 8192);
  expect(c.status_of(k), feat & RDMABLK_FEAT_WRITE_ZEROES ? RDMABLK_S_OUT_OF_RANGE : RDMABLK_S_UNSUPPORTED,
         "WRITE_ZEROES running past the end");
  expect(c.status_of(buf_cmd(c, RDMABLK_OP_WRITE, tag, size - 4096, 8192)), RDMABLK_S_OUT_OF_RANGE,
         "WRITE (RDMA READ of the data) running past the end");
  expect(c.status_of(buf_cmd(c, RDMABLK_OP_WRITE, tag, 0, max_io + 4096)), RDMABLK_S_TOO_LARGE,
         "WRITE over max_io_size");
  expect(c.status_of(buf_cmd(c, RDMABLK_OP_READ, tag, 0, RDMABLK_MAX_IO_SIZE + 4096)), RDMABLK_S_TOO_LARGE,
         "READ over the protocol's 8 MiB");
  expect(c.status_of(buf_cmd(c, RDMABLK_OP_READ, tag, 0, 0)), RDMABLK_S_INVALID_FIELD, "READ of 0 bytes");
  expect(c.status_of(buf_cmd(c, RDMABLK_OP_READ, tag, 100, 4096)), RDMABLK_S_INVALID_FIELD, "READ at offset 100");
  expect(c.status_of(buf_cmd(c, RDMABLK_OP_READ, tag, size, 0xfffff000u)), RDMABLK_S_TOO_LARGE,
         "READ of 4 GiB - 4 KiB at the end");
  std::vector<std::byte> pat(512, std::byte{0x5a});
  k = cmd(RDMABLK_OP_WRITE, ++tag, 0, max_inline + 512, RDMABLK_CMD_F_INLINE);
  expect(c.status_of(k, pat.data(), pat.size()), RDMABLK_S_INVALID_FIELD, "inline WRITE claiming more than max_inline");
  expect(c.status_of(buf_cmd(c, RDMABLK_OP_DISCOVER, tag, 0, 1u << 20)), RDMABLK_S_INVALID_OPCODE,
         "DISCOVER after login");
  // Still serving this very connection.
  k = cmd(RDMABLK_OP_WRITE, ++tag, 8192, 512, RDMABLK_CMD_F_INLINE);
  expect(c.status_of(k, pat.data(), pat.size()), RDMABLK_S_SUCCESS, "good inline WRITE after the garbage");
  std::memset(c.data(), 0, 512);
  expect(c.status_of(buf_cmd(c, RDMABLK_OP_READ, tag, 8192, 512)), RDMABLK_S_SUCCESS, "good READ after the garbage");
  check(std::memcmp(c.data(), pat.data(), 512) == 0, "it returns what was written");
}

// ---- command mode: the target's RDMA READ/WRITE against forged keys and addresses ----
void check_forged_command(const Opts& o) {
  struct Case {
    const char* what;
    uint8_t op;
    int64_t addr_delta;  // from the start of the initiator's 1 MiB buffer
    uint32_t rkey_xor;
  };
  const Case cases[] = {
      {"READ into a buffer named past the end of its key", RDMABLK_OP_READ, (1 << 20) - 2048, 0},
      {"READ into a buffer named before the start of its key", RDMABLK_OP_READ, -4096, 0},
      {"WRITE from a forged rkey", RDMABLK_OP_WRITE, 0, 0x5a5a00},
      {"WRITE from a buffer named past the end of its key", RDMABLK_OP_WRITE, (1 << 20) - 2048, 0},
      {"WRITE from rkey 0, address 0", RDMABLK_OP_WRITE, INT64_MIN, 0},
  };
  for (const auto& cs : cases) {
    Conn c(o.host, o.port);
    uint32_t tag = 0;
    if (!login(c, o.rw, tag).ok) {
      check(false, fmt::format("LOGIN for: {}", cs.what));
      continue;
    }
    uint64_t addr = cs.addr_delta == INT64_MIN ? 0 : c.data_addr() + cs.addr_delta;
    uint32_t rkey = cs.addr_delta == INT64_MIN ? 0 : c.data_rkey() ^ cs.rkey_xor;
    auto k = cmd(cs.op, ++tag, 64 * 1024, 4096);  // inside the first MiB
    k.addr = htole64(addr);
    k.rkey = htole32(rkey);
    expect_transfer_refused(c, k, cs.what);
  }
}

// ---- direct mode: the initiator's own RDMA against forged keys and addresses ----
void check_direct(const Opts& o) {
  struct Region {
    uint64_t addr = 0, size = 0;
    uint32_t rkey = 0;
  };
  auto region_of = [&](Conn& c, const std::string& exp) {
    uint32_t tag = 0;
    Region r;
    Login l = login(c, exp, tag, true);
    if (l.ok && (le32toh(l.rsp.features) & RDMABLK_FEAT_DIRECT)) {
      r.addr = le64toh(l.rsp.region_addr);
      r.size = le64toh(l.rsp.region_size);
      r.rkey = le32toh(l.rsp.region_rkey);
    }
    return r;
  };
  Region rw, ro;
  {
    Conn c(o.host, o.port);
    rw = region_of(c, o.rw);
    check(rw.rkey != 0, fmt::format("direct mode on '{}' ({} bytes)", o.rw, rw.size));
    if (rw.rkey) check(c.rdma(IBV_WR_RDMA_READ, rw.addr, rw.rkey, 4096) == IBV_WC_SUCCESS, "a good direct READ");
    Conn d(o.host, o.port);
    ro = region_of(d, o.ro);
    check(ro.rkey != 0, fmt::format("direct mode on read-only '{}' ({} bytes)", o.ro, ro.size));
    if (ro.rkey) check(d.rdma(IBV_WR_RDMA_READ, ro.addr, ro.rkey, 4096) == IBV_WC_SUCCESS, "a good direct READ of it");
  }
  if (!rw.rkey || !ro.rkey) return;
  struct Case {
    std::string what;
    ibv_wr_opcode op;
    bool on_ro;          // log in to the read-only export (else the RW one)
    int64_t delta;       // from the region's start
    uint32_t rkey_xor;
    bool other_key;      // use the other export's rkey
  };
  const Case cases[] = {
      {"direct READ running past the export's end", IBV_WR_RDMA_READ, false, 0, 0, false},
      {"direct WRITE just past the export's end", IBV_WR_RDMA_WRITE, false, 1, 0, false},
      {"direct WRITE just before the export's start", IBV_WR_RDMA_WRITE, false, -4096, 0, false},
      {"direct WRITE with a forged rkey", IBV_WR_RDMA_WRITE, false, 64 * 1024, 0x5a5a00, false},
      {"direct WRITE with the next key index", IBV_WR_RDMA_WRITE, false, 64 * 1024, 0x100, false},
      {"direct WRITE with the previous key index", IBV_WR_RDMA_WRITE, false, 64 * 1024, 0xffffff00, false},
      {"direct WRITE to the read-only export", IBV_WR_RDMA_WRITE, true, 0, 0, false},
      {"direct WRITE to the read-only export's memory with the RW export's key", IBV_WR_RDMA_WRITE, true, 0, 0, true},
      {"direct WRITE to the RW export's memory with the read-only export's key", IBV_WR_RDMA_WRITE, false, 64 * 1024, 0,
       true},
  };
  for (const auto& cs : cases) {
    Conn c(o.host, o.port);
    Region r = region_of(c, cs.on_ro ? o.ro : o.rw);
    if (!r.rkey) {
      check(false, "LOGIN for: " + cs.what);
      continue;
    }
    const Region& other = cs.on_ro ? rw : ro;
    uint64_t addr = r.addr;
    if (cs.delta == 0 && cs.op == IBV_WR_RDMA_READ) addr = r.addr + r.size - 2048;
    else if (cs.delta == 1) addr = r.addr + r.size;
    else addr = r.addr + cs.delta;
    uint32_t rkey = cs.other_key ? other.rkey : r.rkey;
    if (cs.rkey_xor == 0x100) rkey += 0x100;
    else if (cs.rkey_xor == 0xffffff00) rkey -= 0x100;
    else rkey ^= cs.rkey_xor;
    std::memset(c.data(), 0xa5, 4096);
    int st = c.rdma(cs.op, addr, rkey, 4096);
    check(st != IBV_WC_SUCCESS, fmt::format("{}: {}", cs.what, st < 0 ? "no completion" : ibv_wc_status_str(static_cast<ibv_wc_status>(st))));
  }
}

// ---- access: a denied host, a missing or wrong secret: no byte moves ----
void check_access(const Opts& o) {
  auto refused = [&](const std::string& exp, const std::string& what, int want, bool random_mac) {
    Conn c(o.host, o.port);
    auto req = cm_req(0, 16);
    if (c.connect(&req, sizeof(req)) != 0) {
      check(false, what + ": queue 0 did not connect");
      return;
    }
    uint32_t tag = 0;
    rdmablk_login_req lr{};
    lr.features = htole32(RDMABLK_FEAT_ALL);
    lr.nr_queues = htole16(1);
    lr.queue_depth = htole16(16);
    lr.max_io_size = htole32(1u << 20);
    std::memcpy(lr.export_name, exp.data(), exp.size());
    std::memcpy(lr.host_id, "hostile", 7);
    if (random_mac)
      for (auto& b : lr.mac) b = static_cast<uint8_t>(std::rand());
    expect(c.status_of(cmd(RDMABLK_OP_LOGIN, ++tag, 0, sizeof(lr)), &lr, sizeof(lr)), want, what);
    // I/O right after the refusal: never served; the target disconnects.
    std::memset(c.data(), 0xee, 8192);
    auto k = buf_cmd(c, RDMABLK_OP_READ, tag, 0, 8192);
    int s = c.send(k) ? -1 : -2;
    if (s == -1)
      if (auto ans = c.recv()) s = le16toh(ans->rsp.status);
    bool untouched = true;
    for (int i = 0; i < 8192; ++i) untouched &= c.data()[i] == std::byte{0xee};
    check(s != RDMABLK_S_SUCCESS && untouched,
          fmt::format("{}: a READ afterwards moves no data ({})", what,
                      s >= 0 ? status_name(s) : "not answered, connection ended"));
    // (A KEEPALIVE, valid before login, finds the connection gone.)
    check(c.broken() || c.wait_disconnect() || c.status_of(cmd(RDMABLK_OP_KEEPALIVE, ++tag)) < 0,
          what + ": the target ends the connection");
  };
  for (const auto& d : o.denied)
    refused(d, fmt::format("LOGIN to '{}' from a host it does not allow", d), RDMABLK_S_HOST_DENIED, false);
  if (!o.secret.empty()) {
    refused(o.secret, fmt::format("LOGIN to '{}' without its secret", o.secret), RDMABLK_S_AUTH_FAILED, false);
    refused(o.secret, fmt::format("LOGIN to '{}' with a made-up MAC", o.secret), RDMABLK_S_AUTH_FAILED, true);
  }
}

// ---- a client that stops reading its responses ----
// It sends READs (more than its queue depth) but reposts no receive buffer,
// so the target's answers wait (RNR, retried forever) in its send queue,
// and the data of every later READ, in bounce buffers of the worker's
// shared pool, waits behind them. That must cost the target only that
// queue: another session of the same file export (whose READs need those
// bounce buffers) is served meanwhile, at worst after the target has
// given up on the stalled queue (5 s without a send completion).
void check_stall(const Opts& o) {
  Conn s(o.host, o.port);
  uint32_t ts = 0;
  Login l = login(s, o.file, ts);
  check(l.ok, fmt::format("LOGIN to file export '{}'", o.file));
  if (!l.ok) return;
  const uint64_t size = le64toh(l.rsp.size);
  s.set_reading(false);
  const int n = 48;
  int sent = 0;
  for (int i = 0; i < n; ++i) {
    uint64_t off = (uint64_t(i) * 65536) % (size - 65536) / 4096 * 4096;
    if (!s.send(buf_cmd(s, RDMABLK_OP_READ, ts, off, 65536))) break;
    ++sent;
  }
  const auto stalled = Clock::now();
  s.pump(std::chrono::milliseconds(500));
  fmt::print("stalled client: {} READs sent, {} answers received, then it stopped reading\n", sent, s.inbox_size());
  {
    Conn g(o.host, o.port);
    uint32_t tg = 0;
    check(login(g, o.file, tg).ok, "another session logs in to the same file export meanwhile");
    int good = 0;
    double first = -1;
    auto start = Clock::now();
    for (int i = 0; i < 64; ++i) {
      if (g.status_of(buf_cmd(g, RDMABLK_OP_READ, tg, uint64_t(i) * 65536 % (size - 65536) / 4096 * 4096, 65536)) !=
          RDMABLK_S_SUCCESS)
        break;
      if (first < 0) first = std::chrono::duration<double>(Clock::now() - start).count();
      ++good;
    }
    double secs = std::chrono::duration<double>(Clock::now() - start).count();
    check(good == 64 && secs < 10,
          fmt::format("it gets all of 64 READs of 64 KiB answered meanwhile ({} in {:.2f} s, the first after {:.2f} s)",
                      good, secs, first));
  }
  bool gone = s.broken() || s.wait_disconnect();
  double after = std::chrono::duration<double>(Clock::now() - stalled).count();
  check(gone, fmt::format("the target disconnects the client that stopped reading ({:.1f} s after it stopped)", after));
}

// ---- a burst of connects ----
// The rdmablk status in a REJECTED event's private data, -1 when the
// reject did not come from an rdmablk target.
int reject_status(const rdma_cm_event& ev) {
  if (ev.param.conn.private_data_len < sizeof(rdmablk_cm_rej)) return -1;
  rdmablk_cm_rej rej;
  std::memcpy(&rej, ev.param.conn.private_data, sizeof(rej));
  return le32toh(rej.magic) == RDMABLK_MAGIC ? le16toh(rej.status) : -1;
}

// " 3x NO_RESOURCES 1x (not from rdmablk)" from reject_status() counts.
std::string reject_summary(const std::map<int, unsigned>& reasons) {
  std::string why;
  for (auto [st, k] : reasons) why += fmt::format(" {}x {}", k, st < 0 ? "(not from rdmablk)" : status_name(st));
  return why;
}

// ROUTE_RESOLVED in a bulk connect (burst, flood): a one-entry QP on the PD
// and CQ all its connections share (made on the first), then the connect
// with `req`. False when any step fails.
bool bulk_connect(rdma_cm_id* id, ibv_pd*& pd, ibv_cq*& cq, const rdmablk_cm_req& req) {
  if (!pd) {
    pd = ibv_alloc_pd(id->verbs);
    cq = ibv_create_cq(id->verbs, 4096, nullptr, nullptr, 0);
  }
  ibv_qp_init_attr qa{};
  qa.send_cq = qa.recv_cq = cq;
  qa.qp_type = IBV_QPT_RC;
  qa.cap.max_send_wr = qa.cap.max_recv_wr = 1;
  qa.cap.max_send_sge = qa.cap.max_recv_sge = 1;
  rdma_conn_param cp{};
  cp.private_data = &req;
  cp.private_data_len = sizeof(req);
  cp.initiator_depth = cp.responder_resources = 1;
  cp.retry_count = cp.rnr_retry_count = 7;
  return pd && cq && id->verbs == pd->context && !rdma_create_qp(id, pd, &qa) && !rdma_connect(id, &cp);
}

void check_burst(const Opts& o, unsigned n) {
  rdma_event_channel* ch = rdma_create_event_channel();
  if (!ch) {
    check(false, "rdma_create_event_channel");
    return;
  }
  fcntl(ch->fd, F_SETFL, fcntl(ch->fd, F_GETFL) | O_NONBLOCK);
  rdma_addrinfo hints{}, *res = nullptr;
  hints.ai_port_space = RDMA_PS_TCP;
  if (rdma_getaddrinfo(o.host.c_str(), o.port.c_str(), &hints, &res)) {
    check(false, "rdma_getaddrinfo");
    return;
  }
  sockaddr_storage dst{};
  std::memcpy(&dst, res->ai_dst_addr, res->ai_dst_len);
  rdma_freeaddrinfo(res);
  enum St { kResolving, kConnecting, kUp, kRejected, kFailed, kDown };
  struct B {
    rdma_cm_id* id = nullptr;
    St st = kResolving;
  };
  std::vector<B> v(n);
  ibv_pd* pd = nullptr;
  ibv_cq* cq = nullptr;
  const auto req = cm_req(0, RDMABLK_MAX_QUEUE_DEPTH);  // as much as the target grants
  unsigned settled = 0, up = 0, rejected = 0, failed = 0;
  std::map<int, unsigned> reasons;
  auto settle = [&](B& b, St st) {
    if (b.st == kUp || b.st == kRejected || b.st == kFailed) return;
    b.st = st;
    ++settled;
    if (st == kUp) ++up;
    if (st == kRejected) ++rejected;
    if (st == kFailed) ++failed;
  };
  const auto t0 = Clock::now();
  for (unsigned i = 0; i < n; ++i) {
    if (rdma_create_id(ch, &v[i].id, reinterpret_cast<void*>(uintptr_t{i}), RDMA_PS_TCP) ||
        rdma_resolve_addr(v[i].id, nullptr, reinterpret_cast<sockaddr*>(&dst), 5000))
      settle(v[i], kFailed);
  }
  const auto deadline = t0 + std::chrono::seconds(120);
  while (settled < n && Clock::now() < deadline) {
    pollfd p{ch->fd, POLLIN, 0};
    ::poll(&p, 1, 100);
    rdma_cm_event* ev = nullptr;
    while (rdma_get_cm_event(ch, &ev) == 0) {
      B& b = v[reinterpret_cast<uintptr_t>(ev->id->context)];
      switch (ev->event) {
        case RDMA_CM_EVENT_ADDR_RESOLVED:
          if (rdma_resolve_route(b.id, 5000)) settle(b, kFailed);
          break;
        case RDMA_CM_EVENT_ROUTE_RESOLVED:
          if (bulk_connect(b.id, pd, cq, req))
            b.st = kConnecting;
          else
            settle(b, kFailed);
          break;
        case RDMA_CM_EVENT_ESTABLISHED:
          settle(b, kUp);
          break;
        case RDMA_CM_EVENT_REJECTED:
          ++reasons[reject_status(*ev)];
          settle(b, kRejected);
          break;
        case RDMA_CM_EVENT_DISCONNECTED:
          if (b.st == kUp) b.st = kDown;
          break;
        default:  // ADDR/ROUTE_ERROR, UNREACHABLE, CONNECT_ERROR
          settle(b, kFailed);
          break;
      }
      rdma_ack_cm_event(ev);
    }
  }
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  const std::string why = reject_summary(reasons);
  check(settled == n, fmt::format("burst of {} queue-0 connects: {} established, {} rejected{}, {} failed; "
                                  "all settled: {} ({:.1f} s)",
                                  n, up, rejected, why.empty() ? "" : " (" + why.substr(1) + ")", failed,
                                  settled == n ? "yes" : "NO", secs));
  check(up > 0, "the burst got connections");
  {
    // Another host is not locked out (the target caps connections that
    // have not logged in per source address).
    const std::string& other = o.alt.empty() ? o.host : o.alt;
    Conn f(other, o.port);
    uint32_t t = 0;
    bool ok = login(f, o.rw, t).ok && f.status_of(buf_cmd(f, RDMABLK_OP_READ, t, 0, 4096)) == RDMABLK_S_SUCCESS;
    check(ok, fmt::format("a new session (via {}) logs in and reads while {} burst connections are held", other, up));
  }
  for (auto& b : v)
    if (b.id && (b.st == kUp || b.st == kDown)) rdma_disconnect(b.id);
  auto until = Clock::now() + std::chrono::seconds(5);
  while (Clock::now() < until) {
    pollfd p{ch->fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    rdma_cm_event* ev = nullptr;
    while (rdma_get_cm_event(ch, &ev) == 0) rdma_ack_cm_event(ev);
  }
  for (auto& b : v) {
    if (!b.id) continue;
    if (b.id->qp) rdma_destroy_qp(b.id);
    rdma_destroy_id(b.id);
  }
  if (cq) ibv_destroy_cq(cq);
  if (pd) ibv_dealloc_pd(pd);
  rdma_destroy_event_channel(ch);
  fmt::print("burst: {} connections closed after {:.1f} s\n", up,
             std::chrono::duration<double>(Clock::now() - t0).count());
}

// ---- a client that takes its responses slowly ----
// Like the client that stops reading, but it reposts one receive buffer
// every --drip-interval (2 s): its send queue keeps completing something,
// so the target's stall check (5 s without a completion) never fires, and
// each response it takes makes room for one more READ of the file export,
// which it sends at once. So it keeps the target's requests for its queue
// all in use, each wanting a bounce buffer of the pool the worker shares
// with every file-export session on the same device. The calling case
// measures what that costs well-behaved sessions meanwhile; the target
// bounds what one queue may hold to its share of the pool.
void check_drip(const Opts& o) {
  Conn s(o.host, o.port);
  uint32_t ts = 0;
  Login l = login(s, o.file, ts);
  check(l.ok, fmt::format("LOGIN to file export '{}' for the slow drip", o.file));
  if (!l.ok) return;
  const uint64_t size = le64toh(l.rsp.size);
  uint64_t next = 0;
  auto read = [&] {
    uint64_t off = next++ * 65536 % (size - 65536) / 4096 * 4096;
    return s.send(buf_cmd(s, RDMABLK_OP_READ, ts, off, 65536));
  };
  s.set_reading(false);
  int sent = 0;
  while (sent < 48 && read()) ++sent;  // 2 x depth requests and depth receive buffers' worth
  s.pump(std::chrono::milliseconds(500));
  size_t seen = s.inbox_size();
  const size_t initial = seen;
  fmt::print("drip: {} READs sent, {} answered; from now on one response taken every {} ms\n", sent, seen,
             o.drip_interval_ms);
  std::fflush(stdout);  // the case starts its measurement on this line
  const auto start = Clock::now(), until = start + std::chrono::seconds(o.drip);
  unsigned drips = 0, more = 0;
  bool stuck = false;
  while (Clock::now() < until && !s.gone() && (o.drip_stop.empty() || access(o.drip_stop.c_str(), F_OK) != 0)) {
    s.pump(std::chrono::milliseconds(o.drip_interval_ms));
    // Every response taken freed a request on the target: fill it again.
    for (; seen < s.inbox_size(); ++seen) {
      if (!read()) {
        stuck = true;
        break;
      }
      ++more;
    }
    if (stuck) break;
    if (s.repost_one()) ++drips;
  }
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  const size_t answered = s.inbox_size();
  const bool connected = !s.gone();
  fmt::print("drip: {:.0f} s, {} receive buffers reposted one by one, {} responses in all, {} more READs sent\n", secs,
             drips, answered, more);
  check(connected && !stuck && drips > 0 && answered > initial,
        fmt::format("the slow-drip client stays connected and keeps its queue full for {:.0f} s (the stall check "
                    "does not fire): {} responses taken one every {} ms",
                    secs, answered, o.drip_interval_ms));
  s.set_reading(true);
  s.pump(std::chrono::milliseconds(500));
}

// ---- a connect flood from many source addresses ----
// --flood-per queue-0 connects from each --flood-src address, none of which
// ever logs in. Each address stays under the per-address cap (64), so only
// the target's global cap of connections that have not logged in
// (--flood-cap) bounds them. First --flood-cap of them, which fill it; once
// the youngest had the target's 1 s to log in, the rest: each must come in
// by evicting the oldest, and a well-behaved client from yet another
// address then gets in at the first try the same way. The connections not
// evicted are closed at the login deadline (--login-timeout, long enough
// for both phases). Right after the flood, one from a flood address logs in
// at the first try.
void check_flood(const Opts& o) {
  const unsigned n = static_cast<unsigned>(o.flood_src.size()) * o.flood_per;
  const unsigned first = std::min(n, o.flood_cap);
  rdma_event_channel* ch = rdma_create_event_channel();
  rdma_addrinfo hints{}, *res = nullptr;
  hints.ai_port_space = RDMA_PS_TCP;
  if (!ch || rdma_getaddrinfo(o.host.c_str(), o.port.c_str(), &hints, &res)) {
    check(false, "flood: event channel or address");
    return;
  }
  fcntl(ch->fd, F_SETFL, fcntl(ch->fd, F_GETFL) | O_NONBLOCK);
  sockaddr_storage dst{};
  std::memcpy(&dst, res->ai_dst_addr, res->ai_dst_len);
  rdma_freeaddrinfo(res);
  enum St { kIdle, kResolving, kConnecting, kUp, kRejected, kFailed, kDown };
  struct F {
    rdma_cm_id* id = nullptr;
    St st = kIdle;
    Clock::time_point asked, up, down;  // asked: rdma_connect sent, before the target accepts
  };
  std::vector<F> v(n);
  ibv_pd* pd = nullptr;
  ibv_cq* cq = nullptr;
  const auto req = cm_req(0, 16);
  unsigned settled = 0, up = 0, rejected = 0, failed = 0, down = 0;
  std::map<int, unsigned> reasons;
  auto settle = [&](F& f, St st) {
    if (f.st == kUp || f.st == kRejected || f.st == kFailed || f.st == kDown) return;
    f.st = st;
    ++settled;
    if (st == kUp) ++up;
    if (st == kRejected) ++rejected;
    if (st == kFailed) ++failed;
  };
  auto ask = [&](unsigned from, unsigned to) {
    for (unsigned i = from; i < to; ++i) {
      sockaddr_in src{};
      v[i].st = kResolving;
      if (!ipv4(o.flood_src[i / o.flood_per], src) ||
          rdma_create_id(ch, &v[i].id, reinterpret_cast<void*>(uintptr_t{i}), RDMA_PS_TCP) ||
          rdma_resolve_addr(v[i].id, reinterpret_cast<sockaddr*>(&src), reinterpret_cast<sockaddr*>(&dst), 5000))
        settle(v[i], kFailed);
    }
  };
  const auto t0 = Clock::now();
  ask(0, first);

  // The well-behaved client, on its own thread (the flood's events keep
  // being timed meanwhile): from the default source address.
  struct Good {
    std::atomic<bool> start{false};
    int attempts = 0, refused = 0;  // refused: NO_RESOURCES at connect
    bool ok = false;
    double waited = 0;              // from its first attempt to the READ answered
  } good;
  const auto good_limit = std::chrono::seconds(o.login_timeout + 20);
  std::thread good_thread([&] {
    while (!good.start) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const auto first_try = Clock::now();
    while (Clock::now() - first_try < good_limit) {
      ++good.attempts;
      try {
        Conn c(o.host, o.port);
        uint32_t t = 0;
        int cs = -1;
        if (login(c, o.rw, t, false, nullptr, &cs).ok &&
            c.status_of(buf_cmd(c, RDMABLK_OP_READ, t, 0, 4096)) == RDMABLK_S_SUCCESS) {
          good.ok = true;
          good.waited = std::chrono::duration<double>(Clock::now() - first_try).count();
          return;
        }
        if (cs == RDMABLK_S_NO_RESOURCES) ++good.refused;
      } catch (const std::exception&) {
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  });

  // Until every connection settled and every one that came up was closed.
  const auto deadline = t0 + std::chrono::seconds(90 + 2 * o.login_timeout);
  bool second_asked = first == n;
  double first_secs = 0, second_secs = 0;
  Clock::time_point last_up = t0;
  while ((settled < n || down < up) && Clock::now() < deadline) {
    pollfd p{ch->fd, POLLIN, 0};
    ::poll(&p, 1, 50);
    rdma_cm_event* ev = nullptr;
    while (rdma_get_cm_event(ch, &ev) == 0) {
      F& f = v[reinterpret_cast<uintptr_t>(ev->id->context)];
      switch (ev->event) {
        case RDMA_CM_EVENT_ADDR_RESOLVED:
          if (rdma_resolve_route(f.id, 5000)) settle(f, kFailed);
          break;
        case RDMA_CM_EVENT_ROUTE_RESOLVED:
          f.asked = Clock::now();
          if (bulk_connect(f.id, pd, cq, req))
            f.st = kConnecting;
          else
            settle(f, kFailed);
          break;
        case RDMA_CM_EVENT_ESTABLISHED:
          settle(f, kUp);
          f.up = last_up = Clock::now();
          break;
        case RDMA_CM_EVENT_REJECTED:
          ++reasons[reject_status(*ev)];
          settle(f, kRejected);
          break;
        case RDMA_CM_EVENT_DISCONNECTED:
          if (f.st == kUp) {
            f.st = kDown;
            f.down = Clock::now();
            ++down;
            rdma_disconnect(f.id);
          }
          break;
        default:  // ADDR/ROUTE_ERROR, UNREACHABLE, CONNECT_ERROR
          settle(f, kFailed);
          break;
      }
      rdma_ack_cm_event(ev);
    }
    // The rest once the first fill the cap and the youngest is past the
    // target's minimum age for eviction (1 s, and some slack).
    if (!second_asked && settled == first && Clock::now() - last_up > std::chrono::milliseconds(1500)) {
      first_secs = std::chrono::duration<double>(Clock::now() - t0).count();
      second_asked = true;
      ask(first, n);
    }
    if (!good.start && settled == n) {
      second_secs = std::chrono::duration<double>(Clock::now() - t0).count() - first_secs;
      good.start = true;
    }
  }
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  good.start = true;
  good_thread.join();

  const std::string why = reject_summary(reasons);
  unsigned up_first = 0;
  for (unsigned i = 0; i < first; ++i) up_first += v[i].st == kUp || v[i].st == kDown;
  check(settled == n && failed == 0 && up_first == first,
        fmt::format("flood of {} queue-0 connects from {} addresses ({} each): the first {} fill the cap ({} "
                    "established in {:.1f} s), then {} more: {} established in all, {} rejected{}, {} failed",
                    n, o.flood_src.size(), o.flood_per, first, up_first, first_secs, n - first, up, rejected,
                    why.empty() ? "" : " (" + why.substr(1) + ")", failed));
  check(up == n && rejected == 0,
        fmt::format("each of the {} beyond the cap comes in by evicting the oldest ({} established, {} rejected, "
                    "{:.1f} s)",
                    n - first, up - up_first, rejected, second_secs));
  // Evicted: closed before the deadline, each after the target's minimum age
  // (1 s). Both only for the first: the younger ones are never the oldest.
  unsigned evicted = 0, evicted_young = 0, evicted_second = 0, at_deadline = 0;
  double lo = 1e9, hi = 0;
  for (unsigned i = 0; i < n; ++i) {
    const F& f = v[i];
    if (f.st != kDown) continue;
    const double from_ask = std::chrono::duration<double>(f.down - f.asked).count();
    const double from_up = std::chrono::duration<double>(f.down - f.up).count();
    if (from_ask < o.login_timeout - 0.1) {
      ++evicted;
      evicted_young += from_ask < 1.0;
      evicted_second += i >= first;
    } else {
      ++at_deadline;
      lo = std::min(lo, from_ask);
      hi = std::max(hi, from_up);
    }
  }
  // Each of the good client's tries evicts one more (a try that failed on
  // this loaded host for another reason may have, too).
  const unsigned tries = static_cast<unsigned>(good.attempts);
  check(down == up && evicted >= n - first + 1 && evicted <= n - first + tries && evicted_young == 0 &&
            evicted_second == 0,
        fmt::format("{} closed early, evicted for a newer connection ({} flood + 1..{} for the good client), "
                    "none younger than 1 s ({}), none of the newer ones ({})",
                    evicted, n - first, tries, evicted_young, evicted_second));
  check(at_deadline > 0 && lo >= o.login_timeout - 0.1 && hi <= o.login_timeout + 10.0,
        fmt::format("the other {} are closed at the login deadline ({} s): held at least {:.1f} s from the connect "
                    "request, at most {:.1f} s from ESTABLISHED ({:.1f} s in all)",
                    at_deadline, o.login_timeout, at_deadline ? lo : 0, hi, secs));
  check(good.ok && good.refused == 0,
        fmt::format("a well-behaved client that starts with the cap full logs in and reads, never refused "
                    "({} attempt(s), {} refused NO_RESOURCES, {:.1f} s)",
                    good.attempts, good.refused, good.waited));
  {
    // Right after the flood, from one of its addresses, at the first try.
    Conn c(o.host, o.port, o.flood_src.front());
    uint32_t t = 0;
    bool ok = login(c, o.rw, t).ok && c.status_of(buf_cmd(c, RDMABLK_OP_READ, t, 0, 4096)) == RDMABLK_S_SUCCESS;
    check(ok, fmt::format("right after the flood, a client from {} (a flood address) logs in and reads at once",
                          o.flood_src.front()));
  }
  for (auto& f : v) {
    if (!f.id) continue;
    if (f.id->qp) rdma_destroy_qp(f.id);
    rdma_destroy_id(f.id);
  }
  if (cq) ibv_destroy_cq(cq);
  if (pd) ibv_dealloc_pd(pd);
  rdma_destroy_event_channel(ch);
}

}  // namespace

int main(int argc, char** argv) {
  Opts o;
  bool usage = argc < 5;
  for (int i = 5; i < argc && !usage; ++i) {
    std::string a = argv[i];
    bool has = i + 1 < argc;
    if (a == "--direct") o.direct = true;
    else if (a == "--file" && has) o.file = argv[++i];
    else if (a == "--burst" && has) o.burst = static_cast<unsigned>(std::strtoul(argv[++i], nullptr, 10));
    else if (a == "--alt-host" && has) o.alt = argv[++i];
    else if (a == "--denied" && has) o.denied.push_back(argv[++i]);
    else if (a == "--secret" && has) o.secret = argv[++i];
    else if (a == "--drip" && has) o.drip = static_cast<unsigned>(std::strtoul(argv[++i], nullptr, 10));
    else if (a == "--drip-interval" && has) o.drip_interval_ms = static_cast<unsigned>(std::strtoul(argv[++i], nullptr, 10));
    else if (a == "--drip-stop" && has) o.drip_stop = argv[++i];
    else if (a == "--flood-src" && has) o.flood_src.push_back(argv[++i]);
    else if (a == "--flood-per" && has) o.flood_per = static_cast<unsigned>(std::strtoul(argv[++i], nullptr, 10));
    else if (a == "--flood-cap" && has) o.flood_cap = static_cast<unsigned>(std::strtoul(argv[++i], nullptr, 10));
    else if (a == "--login-timeout" && has) o.login_timeout = static_cast<unsigned>(std::strtoul(argv[++i], nullptr, 10));
    else usage = true;
  }
  if (o.drip && o.file.empty()) usage = true;
  if (usage) {
    fmt::print(stderr,
               "usage: {} HOST PORT RW_EXPORT RO_EXPORT [--file EXPORT] [--direct] [--burst N] [--alt-host HOST] "
               "[--denied EXPORT] [--secret EXPORT]\n"
               "       {} HOST PORT RW_EXPORT RO_EXPORT --file EXPORT --drip SECONDS [--drip-interval MS] "
               "[--drip-stop FILE]\n"
               "       {} HOST PORT RW_EXPORT RO_EXPORT --flood-src ADDR... [--flood-per N] [--flood-cap N] "
               "[--login-timeout SECONDS]\n",
               argv[0], argv[0], argv[0]);
    return 2;
  }
  std::string host = argv[1], port = argv[2], rw = argv[3], ro = argv[4];
  o.host = host, o.port = port, o.rw = rw, o.ro = ro;
  if (o.drip || !o.flood_src.empty()) {
    // The slow drip and the flood run on their own, while the calling case
    // measures well-behaved sessions.
    try {
      if (o.drip) {
        fmt::print("== a client that takes its responses slowly\n");
        check_drip(o);
      }
      if (!o.flood_src.empty()) {
        fmt::print("== a connect flood from {} addresses\n", o.flood_src.size());
        check_flood(o);
      }
    } catch (const std::exception& e) {
      check(false, fmt::format("setup failed: {}", e.what()));
    }
    fmt::print("rdmablk-rdma-hostile: {} failure(s)\n", failures);
    return failures ? 1 : 0;
  }
  try {
    // ---- connection requests ----
    {
      auto r = cm_req(0, 16);
      r.version = htole16(99);
      Conn c(host, port);
      expect(c.connect(&r, sizeof(r)), RDMABLK_S_VERSION, "connect with protocol version 99");
    }
    {
      auto r = cm_req(0, 16);
      r.magic = htole32(0x12345678);
      Conn c(host, port);
      expect(c.connect(&r, sizeof(r)), RDMABLK_S_BAD_MESSAGE, "connect with a bad magic");
    }
    {
      auto r = cm_req(0, 0);
      Conn c(host, port);
      expect(c.connect(&r, sizeof(r)), RDMABLK_S_QUEUE_LIMIT, "connect with queue depth 0");
    }
    {
      uint8_t ticket[RDMABLK_TICKET_LEN] = {1, 2, 3};
      auto r = cm_req(1, 16, 0x1234567890ull, ticket);
      Conn c(host, port);
      expect(c.connect(&r, sizeof(r)), RDMABLK_S_BAD_TICKET, "join an unknown session");
    }

    // ---- commands on a read-write export ----
    Conn c(host, port);
    uint32_t tag = 0;
    {
      auto r = cm_req(0, 16);
      check(c.connect(&r, sizeof(r)) == 0, "queue 0 connects");
    }
    expect(c.status_of(cmd(RDMABLK_OP_READ, ++tag, 0, 4096)), RDMABLK_S_NOT_LOGGED_IN, "READ before login");
    expect(c.status_of(cmd(RDMABLK_OP_KEEPALIVE, ++tag)), RDMABLK_S_SUCCESS, "KEEPALIVE before login");
    rdmablk_login_req lr{};
    lr.features = htole32(RDMABLK_FEAT_ALL & ~RDMABLK_FEAT_DIRECT);
    lr.nr_queues = htole16(1);
    lr.queue_depth = htole16(16);
    lr.max_io_size = htole32(1u << 20);
    std::memcpy(lr.export_name, rw.data(), rw.size());
    std::memcpy(lr.host_id, "hostile", 7);
    Message m;
    int s = c.status_of(cmd(RDMABLK_OP_LOGIN, ++tag, 0, sizeof(lr)), &lr, sizeof(lr), &m);
    expect(s, RDMABLK_S_SUCCESS, fmt::format("LOGIN to '{}'", rw));
    if (s != RDMABLK_S_SUCCESS || m.payload.size() < sizeof(rdmablk_login_rsp)) return 1;
    rdmablk_login_rsp L;
    std::memcpy(&L, m.payload.data(), sizeof(L));
    uint64_t size = le64toh(L.size);
    uint32_t max_io = le32toh(L.max_io_size), max_inline = le32toh(L.max_inline);
    fmt::print("logged in: size {}, max_io_size {}, max_inline {}\n", size, max_io, max_inline);

    {
      uint8_t wrong[RDMABLK_TICKET_LEN] = {9, 9, 9};
      auto r = cm_req(1, 16, le64toh(L.session_id), wrong);
      Conn j(host, port);
      expect(j.connect(&r, sizeof(r)), RDMABLK_S_BAD_TICKET, "join a live session with a wrong ticket");
      auto r2 = cm_req(7, 16, le64toh(L.session_id), L.ticket);
      Conn k(host, port);
      expect(k.connect(&r2, sizeof(r2)), RDMABLK_S_QUEUE_LIMIT, "join as queue 7 of a 1-queue session");
    }

    expect(c.status_of(cmd(0x7f, ++tag)), RDMABLK_S_INVALID_OPCODE, "unknown opcode 0x7f");
    expect(c.status_of(cmd(RDMABLK_OP_LOGIN, ++tag, 0, sizeof(lr)), &lr, sizeof(lr)), RDMABLK_S_INVALID_OPCODE,
           "second LOGIN");
    auto rd = [&](uint64_t off, uint32_t len) {
      auto k = cmd(RDMABLK_OP_READ, ++tag, off, len);
      k.addr = htole64(c.data_addr());
      k.rkey = htole32(c.data_rkey());
      return k;
    };
    expect(c.status_of(rd(size, 4096)), RDMABLK_S_OUT_OF_RANGE, "READ at the export's end");
    expect(c.status_of(rd(~0ull - 4095, 8192)), RDMABLK_S_OUT_OF_RANGE, "READ whose end overflows 64 bits");
    expect(c.status_of(rd(0, max_io + 4096)), RDMABLK_S_TOO_LARGE, "READ over max_io_size");
    expect(c.status_of(rd(0, 100)), RDMABLK_S_INVALID_FIELD, "READ of 100 bytes");
    {
      auto k = rd(0, 4096);
      k.rsvd1[5] = 1;
      expect(c.status_of(k), RDMABLK_S_INVALID_FIELD, "READ with a reserved byte set");
      auto f = rd(0, 4096);
      f.flags = 0x80;
      expect(c.status_of(f), RDMABLK_S_INVALID_FIELD, "READ with an unknown flag");
      auto fl = cmd(RDMABLK_OP_FLUSH, ++tag, 4096, 0);
      expect(c.status_of(fl), RDMABLK_S_INVALID_FIELD, "FLUSH with an offset");
    }

    // The last block before and after a write that would run past the end.
    std::vector<std::byte> pattern(4096);
    for (size_t i = 0; i < pattern.size(); ++i) pattern[i] = static_cast<std::byte>(i * 13 + 5);
    if (max_inline >= 1024) {
      expect(c.status_of(rd(size - 512, 512)), RDMABLK_S_SUCCESS, "READ of the last block");
      std::vector<std::byte> before(c.data(), c.data() + 512);
      expect(c.status_of(cmd(RDMABLK_OP_WRITE, ++tag, size - 512, 1024, RDMABLK_CMD_F_INLINE), pattern.data(), 1024),
             RDMABLK_S_OUT_OF_RANGE, "inline WRITE running past the end");
      expect(c.status_of(rd(size - 512, 512)), RDMABLK_S_SUCCESS, "READ of the last block again");
      check(std::memcmp(before.data(), c.data(), 512) == 0, "the last block is untouched");
      expect(c.status_of(cmd(RDMABLK_OP_WRITE, ++tag, 0, 1024, RDMABLK_CMD_F_INLINE), pattern.data(), 512),
             RDMABLK_S_INVALID_FIELD, "inline WRITE with fewer bytes than its length");
      // The connection still carries good I/O after all of the above.
      expect(c.status_of(cmd(RDMABLK_OP_WRITE, ++tag, 0, 1024, RDMABLK_CMD_F_INLINE), pattern.data(), 1024),
             RDMABLK_S_SUCCESS, "good inline WRITE after the errors");
      std::memset(c.data(), 0, 1024);
      expect(c.status_of(rd(0, 1024)), RDMABLK_S_SUCCESS, "good READ after the errors");
      check(std::memcmp(c.data(), pattern.data(), 1024) == 0, "READ returns what the inline WRITE wrote");
    } else {
      check(false, fmt::format("target grants max_inline {} < 1024", max_inline));
    }

    // ---- a read-only export ----
    {
      Conn r(host, port);
      uint32_t t = 0;
      Login l = login(r, ro, t);
      check(l.ok, fmt::format("LOGIN to read-only '{}'", ro));
      check((le32toh(l.rsp.export_flags) & RDMABLK_EXPORT_F_READ_ONLY) != 0, "login answer says read-only");
      if (l.ok)
        expect(r.status_of(cmd(RDMABLK_OP_WRITE, ++t, 0, 512, RDMABLK_CMD_F_INLINE), pattern.data(), 512),
               RDMABLK_S_READ_ONLY, "inline WRITE to a read-only export");
    }

    // ---- a bogus rkey: the target's RDMA WRITE fails, its QP breaks ----
    {
      Conn b(host, port);
      uint32_t t = 0;
      Login l = login(b, rw, t);
      check(l.ok, "LOGIN for the bogus-rkey check");
      auto k = cmd(RDMABLK_OP_READ, ++t, 0, 4096);
      k.addr = htole64(b.data_addr());
      k.rkey = htole32(b.data_rkey() ^ 0x5a5a00);
      b.send(k);
      auto ans = b.recv();
      bool ok = (!ans && (b.broken() || b.wait_disconnect())) ||
                (ans && le16toh(ans->rsp.status) == RDMABLK_S_TRANSPORT);
      check(ok, "READ into a bogus rkey: the target reports TRANSPORT or ends the connection");
    }

    // ---- a truncated capsule: no tag to answer, the target disconnects ----
    {
      auto k = cmd(RDMABLK_OP_KEEPALIVE, ++tag);
      c.send(k, nullptr, 0, 10);
      check(c.wait_disconnect(), "a 10-byte capsule ends the connection");
    }

    // ---- and the target still serves a fresh login ----
    {
      Conn f(host, port);
      uint32_t t = 0;
      check(login(f, rw, t).ok, "a fresh LOGIN after all of the above");
    }

    // ---- the rest, when asked for ----
    auto section = [](const char* name) { fmt::print("== {}\n", name); };
    section("tickets");
    check_tickets(o);
    section("garbage and limits");
    check_garbage(o);
    section("forged keys and addresses, command mode");
    check_forged_command(o);
    if (o.direct) {
      section("forged keys and addresses, direct mode");
      check_direct(o);
    }
    if (!o.denied.empty() || !o.secret.empty()) {
      section("access");
      check_access(o);
    }
    if (!o.file.empty()) {
      section("a client that stops reading");
      check_stall(o);
    }
    if (o.burst) {
      section("connect burst");
      check_burst(o, o.burst);
    }
  } catch (const std::exception& e) {
    check(false, fmt::format("setup failed: {}", e.what()));
  }
  fmt::print("rdmablk-rdma-hostile: {} failure(s)\n", failures);
  return failures ? 1 : 0;
}
