#include "rdma_queue.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstring>

#include <boost/asio/post.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "rdmablk/proto_check.h"

namespace rdmablk::rdma {

namespace {

using boost_error = boost::system::error_code;

// wr_id (rdmablk/wr_id.hpp): the kind, the slot's generation and its index,
// so a completion always finds its slot and a stale one never matches.
using Kind = verbs::WrKind;
constexpr uint32_t kRecvStride = RDMABLK_MAX_RECV_SIZE;
constexpr size_t kMinBounce = 64 * 1024;

uint32_t make_tag(uint16_t generation, uint32_t index) { return uint32_t{generation} << 16 | index; }

std::error_code sys(int e) { return {e, std::generic_category()}; }

void set_nonblocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
    throw Error(sys(errno), fmt::format("cannot make an RDMA channel non-blocking: {}", std::strerror(errno)));
}

// A descriptor for the io_context that does not own the channel's fd.
int dup_fd(int fd) {
  int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (d < 0) throw Error(sys(errno), fmt::format("cannot duplicate an RDMA channel fd: {}", std::strerror(errno)));
  return d;
}

int ms(std::chrono::milliseconds t) {
  return static_cast<int>(std::clamp<int64_t>(t.count(), 1, 60000));
}

}  // namespace

Queue::Queue(asio::io_context& io, uint16_t qid, std::string peer, QueueEvents& events,
             std::chrono::milliseconds timeout)
    : io_(io), qid_(qid), peer_(std::move(peer)), events_(events), timeout_(timeout) {
  set_poll(false);
}

Queue::~Queue() {
  // Descriptors first: their handlers must not run on a half-destroyed queue.
  cm_fd_.reset();
  cq_fd_.reset();
}

void Queue::start_connect(const sockaddr* dst, const rdmablk_cm_req& req) {
  req_ = req;
  depth_ = RDMABLK_LE16(req.queue_depth);
  try {
    channel_.reset(rdma_create_event_channel());
    if (!channel_)
      throw Error(sys(errno), fmt::format("cannot open the RDMA connection manager: {} (is rdma_ucm loaded?)",
                                          std::strerror(errno)));
    set_nonblocking(channel_->fd);
    rdma_cm_id* id = nullptr;
    if (rdma_create_id(channel_.get(), &id, this, RDMA_PS_TCP))
      throw Error(sys(errno), fmt::format("cannot create an RDMA connection id: {}", std::strerror(errno)));
    id_.reset(id);
    cm_fd_.emplace(io_, dup_fd(channel_->fd));
    watch_cm();
    state_ = State::resolving_addr;
    if (rdma_resolve_addr(id, nullptr, const_cast<sockaddr*>(dst), ms(timeout_)))
      throw Error(sys(errno), fmt::format("{}: cannot resolve the address to an RDMA device: {}", peer_,
                                          std::strerror(errno)));
  } catch (const Error& e) {
    setup_failed(e);
  }
}

void Queue::setup_failed(Error e) {
  if (state_ == State::dead) return;
  setup_error_ = std::move(e);
  state_ = State::dead;
  if (cm_fd_) cm_fd_->cancel();
  if (cq_fd_) cq_fd_->cancel();
}

void Queue::watch_cm() {
  cm_fd_->async_wait(asio::posix::stream_descriptor::wait_read, [this](boost_error ec) {
    if (ec) return;  // cancelled: the queue is closing
    for (;;) {
      rdma_cm_event* ev = nullptr;
      if (rdma_get_cm_event(channel_.get(), &ev)) break;  // EAGAIN: drained
      // Private data lives in the event: copy it before the ack frees it.
      auto type = ev->event;
      int status = ev->status;
      const auto* p = static_cast<const std::byte*>(ev->param.conn.private_data);
      std::vector<std::byte> pdata;
      if (p && type != RDMA_CM_EVENT_ADDR_RESOLVED && type != RDMA_CM_EVENT_ROUTE_RESOLVED)
        pdata.assign(p, p + ev->param.conn.private_data_len);
      rdma_ack_cm_event(ev);
      on_cm_event(type, status, pdata);
    }
    if (state_ != State::dead) watch_cm();
  });
}

void Queue::on_cm_event(rdma_cm_event_type type, int status, std::span<const std::byte> pdata) {
  spdlog::debug("{} queue {}: {} (status {})", peer_, qid_, rdma_event_str(type), status);
  try {
    switch (type) {
      case RDMA_CM_EVENT_ADDR_RESOLVED:
        if (state_ != State::resolving_addr) return;
        registry_ = events_.registry_for(id_->verbs);
        state_ = State::resolving_route;
        if (rdma_resolve_route(id_.get(), ms(timeout_))) {
          int e = errno;
          throw Error(sys(e), fmt::format("{}: no RDMA route to it: {}{}", peer_, std::strerror(e),
                                          e == ENODEV ? " (no RDMA device serves that address)" : ""));
        }
        return;
      case RDMA_CM_EVENT_ROUTE_RESOLVED: {
        if (state_ != State::resolving_route) return;
        create_qp();
        const auto& attr = registry_->device_attr();
        rdma_conn_param param{};
        param.private_data = &req_;
        param.private_data_len = sizeof req_;
        // The target RDMA READs from us in command mode, we from it in direct mode.
        param.responder_resources = static_cast<uint8_t>(std::clamp(attr.max_qp_rd_atom, 1, 16));
        param.initiator_depth = static_cast<uint8_t>(std::clamp(attr.max_qp_init_rd_atom, 1, 16));
        param.retry_count = 7;
        param.rnr_retry_count = 7;
        state_ = State::connecting;
        if (rdma_connect(id_.get(), &param))
          throw Error(sys(errno), fmt::format("{}: cannot connect: {}", peer_, std::strerror(errno)));
        return;
      }
      case RDMA_CM_EVENT_ESTABLISHED: {
        if (state_ != State::connecting) return;
        try {
          accept_ = parse_cm_rep(pdata.data(), pdata.size(), qid_, depth_, peer_);
        } catch (...) {
          rdma_disconnect(id_.get());
          throw;
        }
        granted_ = accept_.queue_depth;
        free_.clear();
        for (uint32_t i = granted_; i-- > 0;) free_.push_back(i);
        ibv_qp_attr qa{};
        ibv_qp_init_attr qia{};
        read_credits_ = ibv_query_qp(qp_.get(), &qa, IBV_QP_MAX_QP_RD_ATOMIC, &qia) == 0 ? qa.max_rd_atomic : 0;
        max_read_credits_ = read_credits_;
        state_ = State::connected;
        spdlog::debug("{} queue {}: connected, depth {}, max_inline {}, {} RDMA READs in flight", peer_, qid_,
                      granted_, accept_.max_inline, read_credits_);
        return;
      }
      case RDMA_CM_EVENT_REJECTED:
        throw reject_error(pdata.data(), pdata.size(), peer_);
      case RDMA_CM_EVENT_ADDR_ERROR:
        throw Error(std::errc::host_unreachable,
                    fmt::format("{}: no RDMA device reaches this address ({}; is an RDMA link such as rxe set up?)",
                                peer_, std::strerror(-status)));
      case RDMA_CM_EVENT_ROUTE_ERROR:
        throw Error(std::errc::network_unreachable,
                    fmt::format("{}: no RDMA route ({})", peer_, std::strerror(-status)));
      case RDMA_CM_EVENT_UNREACHABLE:
      case RDMA_CM_EVENT_CONNECT_ERROR:
        if (state_ == State::connected) {
          fail(std::make_error_code(std::errc::connection_reset), fmt::format("connection error ({})", status));
          return;
        }
        throw Error(std::errc::timed_out, fmt::format("{}: target unreachable ({})", peer_,
                                                      status < 0 ? std::strerror(-status) : "no answer"));
      case RDMA_CM_EVENT_DISCONNECTED:
        if (state_ == State::connected) {
          fail(std::make_error_code(std::errc::connection_reset), "target disconnected");
          return;
        }
        throw Error(std::errc::connection_reset, fmt::format("{}: target closed the connection during setup", peer_));
      case RDMA_CM_EVENT_DEVICE_REMOVAL:
        if (state_ == State::connected) {
          fail(std::make_error_code(std::errc::no_such_device), "RDMA device removed");
          return;
        }
        throw Error(std::errc::no_such_device, fmt::format("{}: RDMA device removed", peer_));
      default:
        return;  // TIMEWAIT_EXIT, ADDR_CHANGE...: nothing to do
    }
  } catch (const Error& e) {
    setup_failed(e);
  } catch (const std::exception& e) {
    setup_failed(Error(std::errc::not_enough_memory, fmt::format("{}: connection setup failed: {}", peer_, e.what())));
  }
}

// CQ, QP, send and receive areas and slots, sized for the depth asked for
// (the target may grant less); every receive is posted before connecting.
void Queue::create_qp() {
  const auto& attr = registry_->device_attr();
  unsigned depth = depth_;
  depth = std::min<unsigned>(depth, static_cast<unsigned>(std::max(attr.max_qp_wr - 1, 1)));
  depth = std::min<unsigned>(depth, static_cast<unsigned>(std::max((attr.max_cqe - 2) / 2, 1)));
  if (depth < depth_) {
    spdlog::debug("{} queue {}: device allows depth {} only", peer_, qid_, depth);
    depth_ = static_cast<uint16_t>(depth);
    req_.queue_depth = __cpu_to_le16(depth_);
  }
  ibv_context* verbs = id_->verbs;
  comp_.reset(ibv_create_comp_channel(verbs));
  if (!comp_) throw Error(sys(errno), fmt::format("cannot create a completion channel: {}", std::strerror(errno)));
  set_nonblocking(comp_->fd);
  // One completion per slot for its send or RDMA operation, one per receive.
  cq_.reset(ibv_create_cq(verbs, 2 * depth_ + 2, nullptr, comp_.get(), 0));
  if (!cq_) throw Error(sys(errno), fmt::format("cannot create a completion queue: {}", std::strerror(errno)));
  if (int e = ibv_req_notify_cq(cq_.get(), 0))
    throw Error(sys(e), fmt::format("cannot arm the completion queue: {}", std::strerror(e)));

  ibv_qp_init_attr qa{};
  qa.send_cq = cq_.get();
  qa.recv_cq = cq_.get();
  qa.qp_type = IBV_QPT_RC;
  qa.cap.max_send_wr = depth_ + 1u;
  qa.cap.max_recv_wr = depth_;
  qa.cap.max_send_sge = 1;
  qa.cap.max_recv_sge = 1;
  if (rdma_create_qp(id_.get(), registry_->pd(), &qa))
    throw Error(sys(errno), fmt::format("cannot create a queue pair of depth {}: {}", depth_, std::strerror(errno)));
  qp_ = verbs::Qp(id_.get());

  // A capsule, and after it an inline write or (queue 0) the LOGIN payload.
  send_stride_ = static_cast<uint32_t>(sizeof(rdmablk_cmd)) +
                 std::max<uint32_t>(kInlineCap, sizeof(rdmablk_login_req));
  send_area_ = Buffer(size_t{depth_} * send_stride_);
  send_mr_ = register_mr(registry_->pd(), send_area_.data(), send_area_.size(), 0, "send");
  recv_area_ = Buffer(size_t{depth_} * kRecvStride);
  recv_mr_ = register_mr(registry_->pd(), recv_area_.data(), recv_area_.size(), IBV_ACCESS_LOCAL_WRITE, "receive");
  slots_.resize(depth_);
  for (uint32_t i = 0; i < depth_; ++i)
    slots_[i].cmd = reinterpret_cast<rdmablk_cmd*>(send_area_.data() + size_t{i} * send_stride_);
  for (uint32_t i = 0; i < depth_; ++i) post_recv(i);
  cq_fd_.emplace(io_, dup_fd(comp_->fd));
  watch_cq();
}

void Queue::post_recv(uint32_t index) {
  ibv_sge sge{};
  sge.addr = reinterpret_cast<uintptr_t>(recv_area_.data()) + size_t{index} * kRecvStride;
  sge.length = kRecvStride;
  sge.lkey = recv_mr_->lkey;
  ibv_recv_wr wr{};
  wr.wr_id = verbs::wr_id(Kind::recv, index);
  wr.sg_list = &sge;
  wr.num_sge = 1;
  ibv_recv_wr* bad = nullptr;
  if (int e = ibv_post_recv(qp_.get(), &wr, &bad)) {
    if (state_ == State::connected)
      fail(std::make_error_code(std::errc::connection_reset),
           fmt::format("cannot post a receive: {}", std::strerror(e)));
    else
      throw Error(sys(e), fmt::format("cannot post a receive: {}", std::strerror(e)));
  }
}

void Queue::watch_cq() {
  cq_fd_->async_wait(asio::posix::stream_descriptor::wait_read, [this](boost_error ec) {
    if (ec || state_ == State::dead) return;
    ibv_cq* cq = nullptr;
    void* ctx = nullptr;
    unsigned events = 0;
    while (ibv_get_cq_event(comp_.get(), &cq, &ctx) == 0) ++events;  // EAGAIN: drained
    if (events) ibv_ack_cq_events(cq_.get(), events);
    if (state_ == State::connected) {
      // The event disarmed the CQ: spin from here; spin() re-arms when it stops.
      if (drain_cq() > 0) last_activity_ = Clock::now();
      start_spin();
    } else {
      rearm_and_drain();
    }
    if (state_ != State::dead) watch_cq();
  });
}

// Handles what is there first (posting is what the peer waits for), then
// re-arms and polls once more for what landed before the arming.
void Queue::rearm_and_drain() {
  drain_cq();
  if (state_ == State::dead) return;
  ibv_req_notify_cq(cq_.get(), 0);
  drain_cq();
}

int Queue::drain_cq() {
  std::array<ibv_wc, 32> wcs;
  int total = 0;
  for (;;) {
    int n = ibv_poll_cq(cq_.get(), static_cast<int>(wcs.size()), wcs.data());
    if (n <= 0) return total;
    total += n;
    for (int k = 0; k < n; ++k) on_wc(wcs[static_cast<size_t>(k)]);
    if (state_ == State::dead) return total;
    if (n < static_cast<int>(wcs.size())) return total;
  }
}

// Poll mode spins this long after the last post or completion while
// requests are in flight (a slow target then costs a wakeup, not a core),
// and this long once idle (room for the caller's next request).
constexpr auto kSpinBusy = std::chrono::milliseconds(2);
constexpr auto kSpinIdle = std::chrono::microseconds(200);
// Adaptive polling (the default): a window about one round trip of a 4K
// command, so an answer that comes soon costs no sleep and wakeup, and a
// slow one costs little spinning; nothing once idle.
constexpr auto kAdaptiveBusy = std::chrono::microseconds(200);
constexpr auto kAdaptiveIdle = std::chrono::microseconds(0);

void Queue::set_poll(bool poll) {
  poll_ = poll;
  spin_busy_ = poll ? Clock::duration(kSpinBusy) : Clock::duration(kAdaptiveBusy);
  spin_idle_ = poll ? Clock::duration(kSpinIdle) : Clock::duration(kAdaptiveIdle);
}

void Queue::start_spin() {
  if (spinning_ || state_ != State::connected) return;
  spinning_ = true;
  asio::post(io_, [this] { spin(); });
}

// One pass over the CQ per handler, so submissions (posted pumps), timers
// and the other queues run in between: spinning never holds up new work.
void Queue::spin() {
  if (state_ != State::connected) {
    spinning_ = false;  // the I/O thread may run out of work and end
    return;
  }
  auto now = Clock::now();
  if (drain_cq() > 0) last_activity_ = now;
  if (state_ != State::connected) {
    spinning_ = false;
    return;
  }
  auto window = idle() ? spin_idle_ : spin_busy_;
  if (now - last_activity_ < window) {
    asio::post(io_, [this] { spin(); });
    return;
  }
  // Going to sleep: arm, then catch what landed before the arming.
  spinning_ = false;
  ibv_req_notify_cq(cq_.get(), 0);
  if (drain_cq() > 0 && state_ == State::connected) {
    last_activity_ = Clock::now();
    start_spin();
  }
}

void Queue::on_wc(const ibv_wc& wc) {
  if (state_ != State::connected) return;  // flushed after a failure
  Kind kind = verbs::wr_kind(wc.wr_id);
  uint32_t index = verbs::wr_index(wc.wr_id);
  if (kind == Kind::recv) {
    if (wc.status != IBV_WC_SUCCESS) {
      fail(std::make_error_code(std::errc::connection_reset),
           fmt::format("receive failed: {}", ibv_wc_status_str(wc.status)));
      return;
    }
    on_recv(wc, index);
    return;
  }
  Slot::State want = kind == Kind::send ? Slot::State::command : Slot::State::direct;
  if (index >= slots_.size() || slots_[index].state != want ||
      slots_[index].generation != verbs::wr_generation(wc.wr_id) || (kind == Kind::send && slots_[index].send_done)) {
    fail(std::make_error_code(std::errc::io_error), "completion for no request in flight (internal error)");
    return;
  }
  Slot& s = slots_[index];
  if (wc.status != IBV_WC_SUCCESS) {
    std::string what = fmt::format("{} failed: {}", describe(s), ibv_wc_status_str(wc.status));
    // Our own RDMA operation refused by the target: that request failed.
    if (kind == Kind::rdma && (wc.status == IBV_WC_REM_ACCESS_ERR || wc.status == IBV_WC_REM_INV_REQ_ERR))
      finish(index, std::make_error_code(std::errc::io_error));
    fail(std::make_error_code(std::errc::connection_reset), what);
    return;
  }
  if (kind == Kind::send) {
    s.send_done = true;
    maybe_finish(index);
    return;
  }
  // Direct mode: our RDMA READ/WRITE is done.
  if (s.holds_read) {
    s.holds_read = false;
    ++read_credits_;
  }
  if (s.req.opcode == RDMABLK_OP_READ && s.bounced) std::memcpy(s.req.data, s.bounce.data(), s.req.length);
  if (s.req.opcode == RDMABLK_OP_WRITE && s.req.fua && lim_.can_flush) {
    // FUA in direct mode: the write, then a FLUSH from the same slot.
    s.req.opcode = RDMABLK_OP_FLUSH;
    s.req.offset = 0;
    s.req.length = 0;
    s.req.fua = false;
    post_command(index);
    return;
  }
  finish(index, {});
}

void Queue::on_recv(const ibv_wc& wc, uint32_t index) {
  if (index >= depth_) {
    fail(std::make_error_code(std::errc::io_error), "receive completion for no buffer (internal error)");
    return;
  }
  // Copy the message out and give the buffer back before acting on it.
  std::array<std::byte, RDMABLK_MAX_RECV_SIZE> msg;
  size_t len = std::min<size_t>(wc.byte_len, msg.size());
  std::memcpy(msg.data(), recv_area_.data() + size_t{index} * kRecvStride, len);
  post_recv(index);
  if (state_ != State::connected) return;
  if (len < sizeof(rdmablk_rsp)) {
    fail(std::make_error_code(std::errc::io_error),
         fmt::format("target sent a {}-byte message, shorter than a response", len));
    return;
  }
  rdmablk_rsp rsp;
  std::memcpy(&rsp, msg.data(), sizeof rsp);
  uint32_t tag = RDMABLK_LE32(rsp.tag);
  uint32_t i = tag & 0xffff;
  if (i >= slots_.size() || slots_[i].state != Slot::State::command || slots_[i].generation != tag >> 16 ||
      slots_[i].rsp_done) {
    fail(std::make_error_code(std::errc::io_error),
         fmt::format("target answered tag {:#x}, which names no command in flight", tag));
    return;
  }
  Slot& s = slots_[i];
  int st = rdmablk_check_rsp(&rsp, len, s.cmd);
  if (st == RDMABLK_S_SUCCESS && (wc.wc_flags & IBV_WC_WITH_INV)) st = RDMABLK_S_BAD_MESSAGE;  // never offered
  if (st != RDMABLK_S_SUCCESS) {
    fail(std::make_error_code(std::errc::io_error),
         fmt::format("target sent a malformed response to {} ({})", describe(s), rdmablk_status_str(st)));
    return;
  }
  int status = RDMABLK_LE16(rsp.status);
  std::error_code ec;
  if (s.req.on_rsp) {
    ec = s.req.on_rsp(rsp, std::span<const std::byte>(msg.data() + sizeof rsp, len - sizeof rsp));
  } else {
    ec = status_errno(status);
    if (status != RDMABLK_S_SUCCESS)
      spdlog::debug("{} queue {}: {} failed: {}", peer_, qid_, describe(s), rdmablk_status_str(status));
  }
  if (!ec && s.req.opcode == RDMABLK_OP_READ && s.bounced)
    std::memcpy(s.req.data, s.bounce.data(), s.req.length);
  s.result = ec;
  s.rsp_done = true;
  maybe_finish(i);
}

void Queue::set_limits(const QueueLimits& lim) {
  lim_ = lim;
  uint32_t room = send_stride_ - static_cast<uint32_t>(sizeof(rdmablk_cmd));
  lim_.max_inline = std::min({lim.max_inline, accept_.max_inline, kInlineCap, room});
  if (lim_.direct && read_credits_ == 0)
    spdlog::debug("{} queue {}: no RDMA READ credits, reads go as commands", peer_, qid_);
}

bool Queue::can_take(const Request& r) const {
  if (free_.empty()) return false;
  // A direct read waits for an RDMA READ credit (the QP's max_rd_atomic);
  // with none at all, reads go as commands.
  return !(lim_.direct && r.opcode == RDMABLK_OP_READ && max_read_credits_ > 0 && read_credits_ == 0);
}

void Queue::post(Request&& r, Clock::time_point deadline) {
  uint32_t i = free_.back();
  free_.pop_back();
  Slot& s = slots_[i];
  s.generation++;
  s.req = std::move(r);
  s.deadline = deadline;
  s.send_done = s.rsp_done = s.holds_read = s.bounced = false;
  s.result = {};
  last_activity_ = Clock::now();
  start_spin();
  bool data = s.req.opcode == RDMABLK_OP_READ || s.req.opcode == RDMABLK_OP_WRITE;
  bool direct = lim_.direct && data && (s.req.opcode == RDMABLK_OP_WRITE || max_read_credits_ > 0);
  if (direct)
    post_direct(i);
  else
    post_command(i);
}

bool Queue::map_data(uint32_t index, Access a, uint64_t& addr, Keys& keys) {
  Slot& s = slots_[index];
  const Request& r = s.req;
  if (auto k = registry_->find(r.data, r.length, a)) {
    addr = reinterpret_cast<uintptr_t>(r.data);
    keys = *k;
    return true;
  }
  // Memory the caller did not get from alloc_buffer: copy through a bounce
  // buffer registered once and kept for the connection's life.
  if (s.bounce.size() < r.length) {
    size_t n = std::max<size_t>(std::bit_ceil(std::max<size_t>(r.length, kMinBounce)), r.length);
    n = std::min<size_t>(n, std::max<size_t>(lim_.max_io_size, r.length));
    try {
      s.bounce = Buffer();
      Buffer b(n);
      b.set_registration(registry_->add(b.data(), n));
      s.bounce = std::move(b);
    } catch (const std::exception& e) {
      spdlog::warn("{} queue {}: no bounce buffer for {}: {}", peer_, qid_, describe(s), e.what());
      finish(index, std::make_error_code(std::errc::not_enough_memory));
      return false;
    }
  }
  if (a == Access::from) std::memcpy(s.bounce.data(), r.data, r.length);
  addr = reinterpret_cast<uintptr_t>(s.bounce.data());
  keys = *registry_->find(s.bounce.data(), r.length, a);
  s.bounced = true;
  return true;
}

void Queue::post_command(uint32_t index) {
  Slot& s = slots_[index];
  const Request& r = s.req;
  rdmablk_cmd& c = *s.cmd;
  std::memset(&c, 0, sizeof c);
  c.opcode = r.opcode;
  c.tag = __cpu_to_le32(make_tag(s.generation, index));
  c.offset = __cpu_to_le64(r.offset);
  c.length = __cpu_to_le32(r.length);
  auto* after = reinterpret_cast<std::byte*>(&c + 1);
  uint32_t send_len = sizeof c;
  uint64_t addr = 0;
  Keys keys;
  switch (r.opcode) {
    case RDMABLK_OP_READ:
    case RDMABLK_OP_DISCOVER:
      if (r.length) {
        if (!map_data(index, Access::into, addr, keys)) return;
        c.rkey = __cpu_to_le32(keys.rkey);
        c.addr = __cpu_to_le64(addr);
      }
      break;
    case RDMABLK_OP_WRITE:
      if (r.length <= lim_.max_inline) {
        c.flags |= RDMABLK_CMD_F_INLINE;
        std::memcpy(after, r.data, r.length);
        send_len += r.length;
      } else {
        if (!map_data(index, Access::from, addr, keys)) return;
        c.rkey = __cpu_to_le32(keys.rkey);
        c.addr = __cpu_to_le64(addr);
      }
      if (r.fua) c.flags |= RDMABLK_CMD_F_FUA;
      break;
    case RDMABLK_OP_WRITE_ZEROES:
      if (r.fua) c.flags |= RDMABLK_CMD_F_FUA;
      break;
    case RDMABLK_OP_LOGIN:
      std::memcpy(after, r.payload.data(), r.payload.size());
      send_len += static_cast<uint32_t>(r.payload.size());
      break;
    default:
      break;  // FLUSH, DISCARD, KEEPALIVE: the capsule says it all
  }
  s.state = Slot::State::command;
  s.send_done = s.rsp_done = false;
  ibv_sge sge{};
  sge.addr = reinterpret_cast<uintptr_t>(&c);
  sge.length = send_len;
  sge.lkey = send_mr_->lkey;
  ibv_send_wr wr{};
  wr.wr_id = verbs::wr_id(Kind::send, index, s.generation);
  wr.sg_list = &sge;
  wr.num_sge = 1;
  wr.opcode = IBV_WR_SEND;
  wr.send_flags = IBV_SEND_SIGNALED;
  if (post_send(wr)) last_send_ = Clock::now();
}

void Queue::post_direct(uint32_t index) {
  Slot& s = slots_[index];
  bool read = s.req.opcode == RDMABLK_OP_READ;
  uint64_t addr = 0;
  Keys keys;
  if (!map_data(index, read ? Access::into : Access::from, addr, keys)) return;
  if (read) {
    --read_credits_;
    s.holds_read = true;
  }
  s.state = Slot::State::direct;
  ibv_sge sge{};
  sge.addr = addr;
  sge.length = s.req.length;
  sge.lkey = keys.lkey;
  ibv_send_wr wr{};
  wr.wr_id = verbs::wr_id(Kind::rdma, index, s.generation);
  wr.sg_list = &sge;
  wr.num_sge = 1;
  wr.opcode = read ? IBV_WR_RDMA_READ : IBV_WR_RDMA_WRITE;
  wr.send_flags = IBV_SEND_SIGNALED;
  wr.wr.rdma.remote_addr = lim_.region_addr + s.req.offset;
  wr.wr.rdma.rkey = lim_.region_rkey;
  post_send(wr);
}

bool Queue::post_send(ibv_send_wr& wr) {
  ibv_send_wr* bad = nullptr;
  if (int e = ibv_post_send(qp_.get(), &wr, &bad)) {
    fail(std::make_error_code(std::errc::connection_reset), fmt::format("cannot post a send: {}", std::strerror(e)));
    return false;
  }
  return true;
}

void Queue::maybe_finish(uint32_t index) {
  Slot& s = slots_[index];
  if (s.send_done && s.rsp_done) finish(index, s.result);
}

void Queue::finish(uint32_t index, std::error_code ec) {
  Slot& s = slots_[index];
  if (s.holds_read) {
    s.holds_read = false;
    ++read_credits_;
  }
  s.state = Slot::State::free;
  Completion done = std::move(s.req.done);
  s.req.done = nullptr;
  s.req.on_rsp = nullptr;
  s.req.payload.clear();
  free_.push_back(index);
  invoke(done, ec);
  events_.on_slot_free();
}

void Queue::check_deadlines(Clock::time_point now) {
  if (state_ != State::connected) return;
  for (const Slot& s : slots_) {
    if (s.state != Slot::State::free && s.deadline <= now) {
      fail(std::make_error_code(std::errc::timed_out),
           fmt::format("{} got no answer within {} ms", describe(s), timeout_.count()));
      return;
    }
  }
}

void Queue::close() {
  if (state_ == State::dead) return;
  bool connected = state_ == State::connected;
  state_ = State::dead;
  for (uint32_t i = 0; i < slots_.size(); ++i)
    if (slots_[i].state != Slot::State::free) finish(i, std::make_error_code(std::errc::connection_aborted));
  if (connected) rdma_disconnect(id_.get());
  if (cm_fd_) cm_fd_->cancel();
  if (cq_fd_) cq_fd_->cancel();
}

void Queue::fail(std::error_code why, const std::string& reason) {
  if (state_ == State::dead) return;
  bool connected = state_ == State::connected;
  state_ = State::dead;
  if (!setup_error_) setup_error_ = Error(why, fmt::format("{}: {}", peer_, reason));
  if (quiet_)
    spdlog::debug("{} queue {}: {}", peer_, qid_, reason);
  else
    spdlog::warn("{} queue {}: {}; failing its requests", peer_, qid_, reason);
  // Stop the QP first: once the callers hear of the failure, nothing may
  // touch their memory any more.
  if (qp_) {
    ibv_qp_attr qa{};
    qa.qp_state = IBV_QPS_ERR;
    ibv_modify_qp(qp_.get(), &qa, IBV_QP_STATE);
  }
  for (uint32_t i = 0; i < slots_.size(); ++i)
    if (slots_[i].state != Slot::State::free) finish(i, why);
  if (connected) rdma_disconnect(id_.get());
  if (cm_fd_) cm_fd_->cancel();
  if (cq_fd_) cq_fd_->cancel();
  events_.on_dead(qid_);
}

std::string Queue::describe(const Slot& s) const {
  const Request& r = s.req;
  switch (r.opcode) {
    case RDMABLK_OP_READ:
    case RDMABLK_OP_WRITE:
    case RDMABLK_OP_DISCARD:
    case RDMABLK_OP_WRITE_ZEROES:
      return fmt::format("{} of {} bytes at offset {}", rdmablk_opcode_str(r.opcode), r.length, r.offset);
    default:
      return rdmablk_opcode_str(r.opcode);
  }
}

void run_until(asio::io_context& io, const std::function<bool()>& done, Clock::time_point deadline,
               const std::string& peer, const std::string& what) {
  while (!done()) {
    if (Clock::now() >= deadline)
      throw Error(std::errc::timed_out, fmt::format("{}: no answer to {} in time", peer, what));
    if (io.stopped()) io.restart();
    if (io.run_one_until(deadline) == 0 && io.stopped() && !done() && Clock::now() < deadline)
      throw Error(std::errc::io_error, fmt::format("{}: {} stalled (internal error)", peer, what));
  }
}

}  // namespace rdmablk::rdma
