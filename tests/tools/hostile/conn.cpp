// rdmablk-rdma-hostile's connection helper: Conn, the LOGIN it sends, the
// bulk connects, and the ok:/FAIL: reporting (see hostile.hpp).
#include <arpa/inet.h>
#include <endian.h>
#include <fcntl.h>
#include <poll.h>

#include <cstring>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

#include "../bare_connect.hpp"
#include "hostile.hpp"
#include "rdmablk/proto_check.h"

namespace hostile {

namespace verbs = rdmablk::verbs;

namespace {
int failure_count = 0;
constexpr uint64_t kSendId = verbs::wr_id(verbs::WrKind::send, 0);
constexpr uint64_t kRdmaId = verbs::wr_id(verbs::WrKind::rdma, 0);
}  // namespace

void check(bool ok, const std::string& what) {
  fmt::print("{}: {}\n", ok ? "ok" : "FAIL", what);
  if (!ok) ++failure_count;
}

int failures() { return failure_count; }

const char* status_name(int s) { return rdmablk_status_str(s); }

void expect(int got, int want, const std::string& what) {
  check(got == want, fmt::format("{}: {} (want {})", what, got < 0 ? "no answer" : status_name(got), status_name(want)));
}

bool ipv4(const std::string& a, sockaddr_in& out) {
  out = {};
  out.sin_family = AF_INET;
  return inet_pton(AF_INET, a.c_str(), &out.sin_addr) == 1;
}

Conn::Conn(const std::string& host, const std::string& port, const std::string& src) {
  ch_.reset(rdma_create_event_channel());
  rdma_cm_id* id = nullptr;
  if (!ch_ || rdma_create_id(ch_.get(), &id, nullptr, RDMA_PS_TCP)) throw std::runtime_error("rdma_create_id");
  id_.reset(id);
  fcntl(ch_->fd, F_SETFL, fcntl(ch_->fd, F_GETFL) | O_NONBLOCK);
  rdma_addrinfo hints{}, *res = nullptr;
  hints.ai_port_space = RDMA_PS_TCP;
  if (rdma_getaddrinfo(host.c_str(), port.c_str(), &hints, &res)) throw std::runtime_error("rdma_getaddrinfo");
  sockaddr_in from{};
  if (!src.empty() && !ipv4(src, from)) {
    rdma_freeaddrinfo(res);
    throw std::runtime_error("bad source address " + src);
  }
  int rc = rdma_resolve_addr(id, src.empty() ? nullptr : reinterpret_cast<sockaddr*>(&from), res->ai_dst_addr, 2000);
  rdma_freeaddrinfo(res);
  if (rc || next_event() != RDMA_CM_EVENT_ADDR_RESOLVED) throw std::runtime_error("address not resolved");
  if (rdma_resolve_route(id, 2000) || next_event() != RDMA_CM_EVENT_ROUTE_RESOLVED)
    throw std::runtime_error("route not resolved");
  pd_.reset(ibv_alloc_pd(id->verbs));
  cq_.reset(ibv_create_cq(id->verbs, 128, nullptr, nullptr, 0));
  if (!pd_ || !cq_) throw std::runtime_error("pd/cq");
  ibv_qp_init_attr qa{};
  qa.send_cq = qa.recv_cq = cq_.get();
  qa.qp_type = IBV_QPT_RC;
  qa.cap.max_send_wr = 16;
  qa.cap.max_recv_wr = kRecvs;
  qa.cap.max_send_sge = qa.cap.max_recv_sge = 1;
  if (rdma_create_qp(id, pd_.get(), &qa)) throw std::runtime_error("rdma_create_qp");
  qp_ = verbs::Qp(id);
  send_.resize(64 + 8192);
  recv_.resize(kRecvs * kRecvSize);
  data_.resize(1 << 20);
  int access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE;
  send_mr_.reset(ibv_reg_mr(pd_.get(), send_.data(), send_.size(), IBV_ACCESS_LOCAL_WRITE));
  recv_mr_.reset(ibv_reg_mr(pd_.get(), recv_.data(), recv_.size(), IBV_ACCESS_LOCAL_WRITE));
  data_mr_.reset(ibv_reg_mr(pd_.get(), data_.data(), data_.size(), access));
  if (!send_mr_ || !recv_mr_ || !data_mr_) throw std::runtime_error("ibv_reg_mr");
  for (uint32_t i = 0; i < kRecvs; ++i) post_recv(i);
}

Conn::~Conn() {
  if (id_ && established_) rdma_disconnect(id_.get());
}

int Conn::connect(const void* pdata, uint8_t len, rdmablk_cm_rep* rep) {
  rdma_conn_param cp{};
  cp.private_data = pdata;
  cp.private_data_len = len;
  cp.initiator_depth = cp.responder_resources = 1;
  cp.retry_count = 7;
  cp.rnr_retry_count = 7;
  if (rdma_connect(id_.get(), &cp)) return -2;
  rdma_cm_event* ev = wait_event();
  if (!ev) return -3;
  int result = -1;
  if (ev->event == RDMA_CM_EVENT_ESTABLISHED) {
    established_ = true;
    result = 0;
    if (rep && ev->param.conn.private_data_len >= sizeof(*rep))
      std::memcpy(rep, ev->param.conn.private_data, sizeof(*rep));
  } else if (ev->event == RDMA_CM_EVENT_REJECTED) {
    result = reject_status(*ev);
  }
  rdma_ack_cm_event(ev);
  return result;
}

bool Conn::send(const rdmablk_cmd& cmd, const void* payload, size_t n, size_t cut) {
  std::memcpy(send_.data(), &cmd, sizeof(cmd));
  if (n) std::memcpy(send_.data() + sizeof(cmd), payload, n);
  ibv_sge sge{reinterpret_cast<uintptr_t>(send_.data()), static_cast<uint32_t>(cut ? cut : sizeof(cmd) + n),
              send_mr_->lkey};
  if (!post_send(sge, IBV_WR_SEND, kSendId)) return false;
  send_done_ = false;
  auto until = Clock::now() + kWait;
  while (!send_done_ && !broken_ && Clock::now() < until) poll();
  return send_done_;
}

std::optional<Message> Conn::recv() {
  auto until = Clock::now() + kWait;
  while (inbox_.empty() && !broken_ && Clock::now() < until) poll();
  if (inbox_.empty()) return std::nullopt;
  Message m = std::move(inbox_.front());
  inbox_.pop_front();
  return m;
}

int Conn::status_of(const rdmablk_cmd& cmd, const void* payload, size_t n, Message* out) {
  if (!send(cmd, payload, n)) return -1;
  auto m = recv();
  if (!m || le32toh(m->rsp.tag) != le32toh(cmd.tag)) return -1;
  int s = le16toh(m->rsp.status);
  if (out) *out = std::move(*m);
  return s;
}

bool Conn::wait_disconnect() {
  auto until = Clock::now() + kWait;
  while (Clock::now() < until) {
    rdma_cm_event* ev = wait_event(std::chrono::milliseconds(100));
    if (ev) {
      bool gone = ev->event == RDMA_CM_EVENT_DISCONNECTED;
      rdma_ack_cm_event(ev);
      if (gone) {
        rdma_disconnect(id_.get());  // answer it, as a polite peer does
        established_ = false;
        return true;
      }
    }
    poll();
  }
  return false;
}

void Conn::set_reading(bool on) {
  reading_ = on;
  if (on) {
    for (uint32_t i : held_) post_recv(i);
    held_.clear();
  }
}

bool Conn::repost_one() {
  if (held_.empty()) return false;
  post_recv(held_.front());
  held_.erase(held_.begin());
  return true;
}

bool Conn::gone() {
  while (rdma_cm_event* ev = wait_event(std::chrono::milliseconds(0))) {
    if (ev->event == RDMA_CM_EVENT_DISCONNECTED) gone_ = true;
    rdma_ack_cm_event(ev);
  }
  return gone_ || broken_;
}

void Conn::pump(std::chrono::milliseconds d) {
  auto until = Clock::now() + d;
  while (Clock::now() < until && !broken_) poll();
}

int Conn::rdma(ibv_wr_opcode op, uint64_t raddr, uint32_t rkey, uint32_t len) {
  ibv_sge sge{reinterpret_cast<uintptr_t>(data_.data()), len, data_mr_->lkey};
  if (!post_send(sge, op, kRdmaId, raddr, rkey)) return -1;
  rdma_status_ = -1;
  auto until = Clock::now() + kWait;
  while (rdma_status_ < 0 && Clock::now() < until) poll();
  return rdma_status_;
}

bool Conn::post_send(ibv_sge sge, ibv_wr_opcode op, uint64_t wr_id, uint64_t raddr, uint32_t rkey) {
  ibv_send_wr wr{}, *bad = nullptr;
  wr.wr_id = wr_id;
  wr.sg_list = &sge;
  wr.num_sge = 1;
  wr.opcode = op;
  wr.send_flags = IBV_SEND_SIGNALED;
  wr.wr.rdma.remote_addr = raddr;
  wr.wr.rdma.rkey = rkey;
  return ibv_post_send(qp_.get(), &wr, &bad) == 0;
}

rdma_cm_event* Conn::wait_event(std::chrono::milliseconds timeout) {
  pollfd p{ch_->fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return nullptr;
  rdma_cm_event* ev = nullptr;
  return rdma_get_cm_event(ch_.get(), &ev) == 0 ? ev : nullptr;
}

// The type of the next CM event (UNREACHABLE when none came in time).
rdma_cm_event_type Conn::next_event() {
  rdma_cm_event* ev = wait_event();
  if (!ev) return RDMA_CM_EVENT_UNREACHABLE;
  auto got = ev->event;
  rdma_ack_cm_event(ev);
  return got;
}

void Conn::post_recv(uint32_t i) {
  ibv_sge sge{reinterpret_cast<uintptr_t>(recv_.data() + i * kRecvSize), kRecvSize, recv_mr_->lkey};
  ibv_recv_wr wr{}, *bad = nullptr;
  wr.wr_id = verbs::wr_id(verbs::WrKind::recv, i);
  wr.sg_list = &sge;
  wr.num_sge = 1;
  ibv_post_recv(qp_.get(), &wr, &bad);
}

void Conn::poll() {
  ibv_wc wc[8];
  int n = ibv_poll_cq(cq_.get(), 8, wc);
  if (n <= 0) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    return;
  }
  for (int i = 0; i < n; ++i) {
    const verbs::WrKind kind = verbs::wr_kind(wc[i].wr_id);
    if (kind == verbs::WrKind::rdma) rdma_status_ = wc[i].status;
    if (wc[i].status != IBV_WC_SUCCESS) {
      broken_ = true;
      continue;
    }
    if (kind == verbs::WrKind::rdma) continue;
    if (kind == verbs::WrKind::send) {
      send_done_ = true;
      continue;
    }
    const uint32_t index = verbs::wr_index(wc[i].wr_id);
    Message m;
    const std::byte* p = recv_.data() + size_t{index} * kRecvSize;
    if (wc[i].byte_len >= sizeof(rdmablk_rsp)) {
      std::memcpy(&m.rsp, p, sizeof(m.rsp));
      m.payload.assign(p + sizeof(m.rsp), p + wc[i].byte_len);
      inbox_.push_back(std::move(m));
    }
    if (reading_)
      post_recv(index);
    else
      held_.push_back(index);
  }
}

rdmablk_cmd cmd(uint8_t op, uint32_t tag, uint64_t offset, uint32_t length, uint8_t flags) {
  rdmablk_cmd c{};
  c.opcode = op;
  c.flags = flags;
  c.tag = htole32(tag);
  c.offset = htole64(offset);
  c.length = htole32(length);
  return c;
}

rdmablk_cmd buf_cmd(Conn& c, uint8_t op, uint32_t& tag, uint64_t off, uint32_t len, uint64_t addr, uint32_t rkey) {
  auto k = cmd(op, ++tag, off, len);
  k.addr = htole64(addr ? addr : c.data_addr());
  k.rkey = htole32(rkey ? rkey : c.data_rkey());
  return k;
}

rdmablk_login_req login_request(const std::string& exp, bool direct) {
  rdmablk::login::LoginFields f;
  f.export_name = exp;
  f.host_id = "hostile";
  f.features = direct ? RDMABLK_FEAT_ALL : RDMABLK_FEAT_ALL & ~RDMABLK_FEAT_DIRECT;
  f.nr_queues = 1;
  f.queue_depth = 16;
  f.max_io_size = 1u << 20;
  return rdmablk::login::make_login_req(f, {});
}

Login send_login(Conn& c, const rdmablk_login_req& req, uint32_t& tag) {
  Login l;
  l.connected = 0;
  Message m;
  l.status = c.status_of(cmd(RDMABLK_OP_LOGIN, ++tag, 0, sizeof(req)), &req, sizeof(req), &m);
  l.ok = l.status == RDMABLK_S_SUCCESS &&
         rdmablk::login::decode_login_rsp(m.payload, req, l.grant) == RDMABLK_S_SUCCESS;
  return l;
}

Login login(Conn& c, const std::string& exp, uint32_t& tag, const LoginOptions& opt) {
  Login l;
  l.connected = c.connect(cm_req(0, 16));
  if (l.connected != 0) return l;
  rdmablk_login_req req = login_request(exp, opt.direct);
  if (opt.features) req.features = htole32(opt.features);
  if (opt.tamper) opt.tamper(req);
  return send_login(c, req, tag);
}

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

Bulk::Bulk(const Target& t, size_t n) : ch_(rdma_create_event_channel()), ids_(n, nullptr) {
  rdma_addrinfo hints{}, *res = nullptr;
  hints.ai_port_space = RDMA_PS_TCP;
  if (!ch_) throw std::runtime_error("rdma_create_event_channel");
  if (rdma_getaddrinfo(t.host.c_str(), t.port.c_str(), &hints, &res)) throw std::runtime_error("rdma_getaddrinfo");
  fcntl(ch_->fd, F_SETFL, fcntl(ch_->fd, F_GETFL) | O_NONBLOCK);
  std::memcpy(&dst_, res->ai_dst_addr, res->ai_dst_len);
  rdma_freeaddrinfo(res);
}

Bulk::~Bulk() {
  for (rdma_cm_id* id : ids_) {
    if (!id) continue;
    if (id->qp) rdma_destroy_qp(id);
    rdma_destroy_id(id);
  }
}

bool Bulk::start(size_t i, const sockaddr* src, int timeout_ms) {
  return rdma_create_id(ch_.get(), &ids_[i], reinterpret_cast<void*>(uintptr_t{i}), RDMA_PS_TCP) == 0 &&
         rdma_resolve_addr(ids_[i], const_cast<sockaddr*>(src), reinterpret_cast<sockaddr*>(&dst_), timeout_ms) == 0;
}

bool Bulk::connect(rdma_cm_id* id, const rdmablk_cm_req& req) {
  if (!pd_) {
    pd_.reset(ibv_alloc_pd(id->verbs));
    cq_.reset(ibv_create_cq(id->verbs, 4096, nullptr, nullptr, 0));
  }
  return rdmablk::tools::bare_connect(id, pd_.get(), cq_.get(), req);
}

Bulk::Step Bulk::advance(const rdma_cm_event& ev, const rdmablk_cm_req& req) {
  rdma_cm_id* id = ids_[index(ev)];
  switch (ev.event) {
    case RDMA_CM_EVENT_ADDR_RESOLVED: return rdma_resolve_route(id, 5000) ? Step::failed : Step::none;
    case RDMA_CM_EVENT_ROUTE_RESOLVED: return connect(id, req) ? Step::connecting : Step::failed;
    case RDMA_CM_EVENT_ESTABLISHED: return Step::up;
    case RDMA_CM_EVENT_REJECTED: return Step::rejected;
    case RDMA_CM_EVENT_DISCONNECTED: return Step::down;
    default: return Step::failed;  // ADDR/ROUTE_ERROR, UNREACHABLE, CONNECT_ERROR
  }
}

rdma_cm_event* Bulk::next(int ms) {
  pollfd p{ch_->fd, POLLIN, 0};
  ::poll(&p, 1, ms);
  return next_now();
}

rdma_cm_event* Bulk::next_now() {
  rdma_cm_event* ev = nullptr;
  return rdma_get_cm_event(ch_.get(), &ev) == 0 ? ev : nullptr;
}

void Bulk::drain(std::chrono::milliseconds d) {
  auto until = Clock::now() + d;
  while (Clock::now() < until)
    while (rdma_cm_event* ev = next(100)) rdma_ack_cm_event(ev);
}

int reject_status(const rdma_cm_event& ev) {
  if (ev.param.conn.private_data_len < sizeof(rdmablk_cm_rej)) return -1;
  rdmablk_cm_rej rej;
  std::memcpy(&rej, ev.param.conn.private_data, sizeof(rej));
  return le32toh(rej.magic) == RDMABLK_MAGIC ? le16toh(rej.status) : -1;
}

std::string reject_summary(const std::map<int, unsigned>& reasons) {
  std::string why;
  for (auto [st, k] : reasons) why += fmt::format(" {}x {}", k, st < 0 ? "(not from rdmablk)" : status_name(st));
  return why;
}

}  // namespace hostile
