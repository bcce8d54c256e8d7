// rdmablk-rdma-hostile: a misbehaving RDMA initiator. It speaks just enough
// of the rdmablk protocol (raw librdmacm and verbs, no librdmablk) to send
// what a correct initiator never sends — bad private data, a wrong ticket,
// unknown opcodes, out-of-range and oversized requests, reserved bits, writes
// to a read-only export, a bogus rkey, a truncated capsule — and checks that
// the target answers each with the status docs/protocol.md prescribes and
// that the connection still carries good I/O afterwards.
//
// usage: rdmablk-rdma-hostile HOST PORT RW_EXPORT RO_EXPORT
// Exit status: 0 every expectation met, 1 otherwise (each check prints
// "ok:" or "FAIL:").
#include <endian.h>
#include <fcntl.h>
#include <poll.h>
#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
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

// One RC connection to the target with its own PD, CQ and buffers.
class Conn {
 public:
  Conn(const std::string& host, const std::string& port) {
    ch_ = rdma_create_event_channel();
    if (!ch_ || rdma_create_id(ch_, &id_, nullptr, RDMA_PS_TCP)) throw std::runtime_error("rdma_create_id");
    fcntl(ch_->fd, F_SETFL, fcntl(ch_->fd, F_GETFL) | O_NONBLOCK);
    rdma_addrinfo hints{}, *res = nullptr;
    hints.ai_port_space = RDMA_PS_TCP;
    if (rdma_getaddrinfo(host.c_str(), port.c_str(), &hints, &res)) throw std::runtime_error("rdma_getaddrinfo");
    int rc = rdma_resolve_addr(id_, nullptr, res->ai_dst_addr, 2000);
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

  bool broken() const { return broken_; }
  std::byte* data() { return data_.data(); }
  uint64_t data_addr() const { return reinterpret_cast<uintptr_t>(data_.data()); }
  uint32_t data_rkey() const { return data_mr_->rkey; }

 private:
  static constexpr uint32_t kRecvs = 16, kRecvSize = 256;
  static constexpr uint64_t kSendId = ~0ull;

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
      if (wc[i].status != IBV_WC_SUCCESS) {
        broken_ = true;
        continue;
      }
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
      post_recv(static_cast<uint32_t>(wc[i].wr_id));
    }
  }

  rdma_event_channel* ch_ = nullptr;
  rdma_cm_id* id_ = nullptr;
  ibv_pd* pd_ = nullptr;
  ibv_cq* cq_ = nullptr;
  ibv_mr *send_mr_ = nullptr, *recv_mr_ = nullptr, *data_mr_ = nullptr;
  std::vector<std::byte> send_, recv_, data_;
  std::deque<Message> inbox_;
  bool established_ = false, send_done_ = false, broken_ = false;
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

// Opens queue 0 on `exp` and logs in (no secret).
Login login(Conn& c, const std::string& exp, uint32_t& tag) {
  Login l;
  auto req = cm_req(0, 16);
  rdmablk_cm_rep rep{};
  if (c.connect(&req, sizeof(req), &rep) != 0) return l;
  rdmablk_login_req lr{};
  lr.features = htole32(RDMABLK_FEAT_ALL & ~RDMABLK_FEAT_DIRECT);
  lr.nr_queues = htole16(1);
  lr.queue_depth = htole16(16);
  lr.max_io_size = htole32(1u << 20);
  std::memcpy(lr.export_name, exp.data(), exp.size());
  std::memcpy(lr.host_id, "hostile", 7);
  Message m;
  int s = c.status_of(cmd(RDMABLK_OP_LOGIN, ++tag, 0, sizeof(lr)), &lr, sizeof(lr), &m);
  if (s == RDMABLK_S_SUCCESS && m.payload.size() >= sizeof(l.rsp)) {
    std::memcpy(&l.rsp, m.payload.data(), sizeof(l.rsp));
    l.ok = true;
  }
  return l;
}

void expect(int got, int want, const std::string& what) {
  check(got == want, fmt::format("{}: {} (want {})", what, got < 0 ? "no answer" : status_name(got), status_name(want)));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    fmt::print(stderr, "usage: {} HOST PORT RW_EXPORT RO_EXPORT\n", argv[0]);
    return 2;
  }
  std::string host = argv[1], port = argv[2], rw = argv[3], ro = argv[4];
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
  } catch (const std::exception& e) {
    check(false, fmt::format("setup failed: {}", e.what()));
  }
  fmt::print("rdmablk-rdma-hostile: {} failure(s)\n", failures);
  return failures ? 1 : 0;
}
