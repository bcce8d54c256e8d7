// One RDMA queue's request state machine (rdma_queue.hpp): the CQ loop
// (poll, spin, sleep), command dispatch, the bounce-buffer and backend
// hand-offs of READ and WRITE, responses and the queue's orderly close.
// Past 800 lines because it is one state machine: its stages share the
// request slots and the send-queue accounting, and splitting them across
// files would put one invariant (slots freed in send-queue order, receive
// buffer reposted before the response) in several places.
#include "rdma_queue.hpp"

#include <algorithm>
#include <cstring>

#include <boost/asio/post.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "rdma_server.hpp"
#include "worker.hpp"

namespace rdmablk::target {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

// A response and, for LOGIN, its payload.
constexpr size_t kSendSlot = sizeof(rdmablk_rsp) + sizeof(rdmablk_login_rsp);
// Flushed completions normally arrive at once; this bounds a broken device.
constexpr std::chrono::seconds kFlushTimeout{5};
constexpr int kPollBatch = 16;
// Poll mode spins this long after the last completion, then sleeps on the
// completion channel until the next one: busy under load, idle when idle.
constexpr std::chrono::microseconds kSpinWindow{200};
// A queue whose send queue completes nothing for this long while work is
// posted is closed: its initiator takes no responses (posts no receive
// buffers: RNR, retried forever) and everything queued behind the stuck
// SEND, bounce buffers of the worker's shared pool included, would be held
// with it. A correct initiator completes something within microseconds.
constexpr std::chrono::seconds kSendStallTimeout{5};

}  // namespace

RdmaQueueSizes rdma_queue_sizes(uint16_t depth) {
  RdmaQueueSizes s{};
  s.requests = 2u * depth;
  s.send_wr = 2 * s.requests;  // an RDMA READ/WRITE and the response per request
  s.recv_wr = depth;
  s.cqe = s.send_wr + s.recv_wr;
  return s;
}

uint16_t rdma_max_depth(const ibv_device_attr& attr) {
  int64_t d = std::min<int64_t>(attr.max_qp_wr / 4, attr.max_cqe / 5);
  return static_cast<uint16_t>(std::clamp<int64_t>(d, 1, RDMABLK_MAX_QUEUE_DEPTH));
}

RdmaQueue::RdmaQueue(RdmaQueueParams p)
    : server_(*p.server),
      worker_(*p.worker),
      dev_(*p.dev),
      id_(p.id),
      qid_(p.qid),
      depth_(p.depth),
      max_inline_(p.max_inline),
      peer_(p.peer),
      name_(std::move(p.name)),
      nonce_(p.nonce),
      sizes_(rdma_queue_sizes(p.depth)),
      recv_size_(static_cast<uint32_t>(sizeof(rdmablk_cmd)) + p.max_inline),
      timer_(p.worker->context()),
      keepalive_timer_(p.worker->context()),
      login_timer_(p.worker->context()),
      stall_timer_(p.worker->context()),
      poll_(p.poll),
      spin_(p.poll ? std::chrono::steady_clock::duration(kSpinWindow)
                   : std::chrono::duration_cast<std::chrono::steady_clock::duration>(p.spin)),
      keepalive_timeout_(p.keepalive_timeout),
      login_timeout_(p.login_timeout),
      session_(std::move(p.session)),
      pending_login_(p.pending_login) {
  channel_.reset(ibv_create_comp_channel(id_->verbs));
  if (!channel_) throw std::system_error(errno, std::generic_category(), "ibv_create_comp_channel");
  verbs::set_nonblocking(channel_->fd);
  cq_ = verbs::Cq(ibv_create_cq(id_->verbs, static_cast<int>(sizes_.cqe), nullptr, channel_.get(), 0));
  if (!cq_.get()) throw std::system_error(errno, std::generic_category(), "ibv_create_cq");

  ibv_qp_init_attr attr{};
  attr.send_cq = cq_.get();
  attr.recv_cq = cq_.get();
  attr.qp_type = IBV_QPT_RC;
  // Every work request is signaled except the RDMA WRITE chained before a
  // response SEND: the SEND's completion covers it (send queue order), and a
  // failed WRITE still completes (errors always do).
  attr.cap.max_send_wr = sizes_.send_wr;
  attr.cap.max_recv_wr = sizes_.recv_wr;
  attr.cap.max_send_sge = 1;
  attr.cap.max_recv_sge = 1;
  if (rdma_create_qp(id_, dev_.pd.get(), &attr) != 0)
    throw std::system_error(errno, std::generic_category(), "rdma_create_qp");
  qp_ = verbs::Qp(id_);

  recv_bufs_ = verbs::RegisteredBuffer(dev_.pd.get(), size_t{depth_} * recv_size_, IBV_ACCESS_LOCAL_WRITE);
  send_bufs_ = verbs::RegisteredBuffer(dev_.pd.get(), size_t{sizes_.requests} * kSendSlot, IBV_ACCESS_LOCAL_WRITE);
  requests_.reserve(sizes_.requests);
  for (uint32_t i = 0; i < sizes_.requests; ++i) {
    requests_.push_back(std::make_unique<Request>(*this));
    requests_.back()->index = i;
  }
  for (uint32_t i = sizes_.requests; i-- > 0;) free_.push_back(requests_[i].get());
  for (uint32_t i = 0; i < depth_; ++i)
    if (!post_recv(i)) throw std::system_error(errno, std::generic_category(), "ibv_post_recv");

  if (session_) {  // an I/O queue joins a logged-in session
    limits_ = session_->limits;
    export_ = session_->exp;
    logged_in_ = true;
  }
  channel_fd_.emplace(worker_.context(), channel_->fd);
}

RdmaQueue::~RdmaQueue() {
  // The completion channel owns its fd.
  if (channel_fd_) channel_fd_->release();
}

void RdmaQueue::destroy_verbs() {
  if (channel_fd_) {
    channel_fd_->release();
    channel_fd_.reset();
  }
  qp_ = verbs::Qp();
  cq_ = verbs::Cq();
  channel_.reset();
  recv_bufs_ = verbs::RegisteredBuffer();
  send_bufs_ = verbs::RegisteredBuffer();
}

// --- Control-thread entry points (each hops to the worker) -----------------------

void RdmaQueue::start() {
  asio::post(worker_.context(), [self = shared_from_this()] {
    self->watching_ = true;
    self->last_recv_ = std::chrono::steady_clock::now();
    if (self->qid_ == 0) {
      self->watch_keepalive();
      self->watch_login();
    }
    ibv_req_notify_cq(self->cq_.get(), 0);
    self->poll_cq();
    if (!self->finished_) self->watch_cq();
  });
}

void RdmaQueue::established() {
  asio::post(worker_.context(), [self = shared_from_this()] { spdlog::debug("rdma {}: established", self->name_); });
}

void RdmaQueue::close(std::string reason) {
  asio::post(worker_.context(),
             [self = shared_from_this(), reason = std::move(reason)] { self->begin_close(reason, false); });
}

void RdmaQueue::evict(std::string reason) {
  evicting_ = true;
  asio::post(worker_.context(), [self = shared_from_this(), reason = std::move(reason)] {
    if (self->logged_in_ || self->closing_) return;
    spdlog::info("rdma {}: {}", self->name_, reason);
    self->begin_close("evicted before login", false);
  });
}

void RdmaQueue::stop() {
  asio::post(worker_.context(), [self = shared_from_this()] {
    if (self->stopping_ || self->closing_) return;
    self->stopping_ = true;
    for (auto& r : self->requests_) {
      if (r->state != State::free) {
        r->before_stop = true;
        ++self->before_stop_;
      }
    }
    std::weak_ptr<RdmaQueue> weak = self;
    self->timer_.expires_after(self->server_.options().drain_timeout);
    self->timer_.async_wait([weak](const error_code& ec) {
      if (auto q = weak.lock(); q && !ec) q->begin_close("target shutting down (drain timed out)", false);
    });
    self->check_stop_done();
  });
}

// --- Completions -----------------------------------------------------------------

// RC queue pairs notice a dead peer only when they send, and the target sends
// only answers: an initiator that vanished would hold its session forever.
// Initiators send KEEPALIVEs on an idle queue 0 (docs/protocol.md).
void RdmaQueue::watch_keepalive() {
  if (keepalive_timeout_.count() <= 0) return;
  keepalive_timer_.expires_after(keepalive_timeout_ / 3);
  keepalive_timer_.async_wait([weak = weak_from_this()](const error_code& ec) {
    auto q = weak.lock();
    if (!q || ec || q->closing_) return;
    if (std::chrono::steady_clock::now() - q->last_recv_ > q->keepalive_timeout_) {
      spdlog::warn("rdma {}: nothing received for {} ms: disconnecting", q->name_, q->keepalive_timeout_.count());
      q->begin_close("keepalive timeout", false);
      return;
    }
    q->watch_keepalive();
  });
}

// A connection that never logs in holds a descriptor, a QP and its buffers,
// and counts against the server's not-logged-in caps: a flood of them from
// many addresses would keep new sessions out until the keepalive timeout.
void RdmaQueue::watch_login() {
  if (login_timeout_.count() <= 0 || logged_in_) return;
  login_timer_.expires_after(login_timeout_);
  login_timer_.async_wait([weak = weak_from_this()](const error_code& ec) {
    auto q = weak.lock();
    if (!q || ec || q->closing_ || q->logged_in_) return;
    spdlog::warn("rdma {}: no login within {} ms: disconnecting", q->name_, q->login_timeout_.count());
    q->begin_close("no login in time", false);
  });
}

void RdmaQueue::sends_posted(uint32_t n) {
  if (send_posted_ == 0) last_send_progress_ = std::chrono::steady_clock::now();
  send_posted_ += n;
  if (stall_watch_) return;
  stall_watch_ = true;
  watch_send_stall();
}

void RdmaQueue::watch_send_stall() {
  stall_timer_.expires_after(std::chrono::seconds(1));
  stall_timer_.async_wait([weak = weak_from_this()](const error_code& ec) {
    auto q = weak.lock();
    if (!q) return;
    auto idle = [&] { return q->closing_ || q->send_posted_ == 0; };  // finished_ comes after closing_
    auto stalled = [&] { return std::chrono::steady_clock::now() - q->last_send_progress_ > kSendStallTimeout; };
    // Completions may wait in the CQ unread (a busy worker, a stalled VM):
    // they are progress, so read them before judging.
    if (!ec && !idle() && stalled()) q->poll_cq();
    if (ec || idle()) {
      q->stall_watch_ = false;
      return;
    }
    if (stalled()) {
      q->stall_watch_ = false;
      spdlog::warn("rdma {}: {} work requests and no completion for {} s (the initiator takes no responses): "
                   "disconnecting",
                   q->name_, q->send_posted_, kSendStallTimeout.count());
      q->begin_close("send queue stalled", false);
      return;
    }
    q->watch_send_stall();
  });
}

// The worker's loop for this queue: answer what the CQ holds, then keep
// polling while completions came recently (the next command of a busy
// initiator lands within microseconds, and catching it costs no wakeup), and
// only then arm the CQ and sleep on its channel. Each pass is one handler,
// so backend completions, timers and the other queues run in between; the
// backend I/O a pass queued is submitted once, after it (IoEngine).
void RdmaQueue::watch_cq() {
  channel_fd_->async_wait(asio::posix::stream_descriptor::wait_read,
                          [self = shared_from_this()](const error_code& ec) {
                            if (!ec && !self->finished_) self->on_cq_readable();
                          });
}

void RdmaQueue::on_cq_readable() {
  ibv_cq* cq = nullptr;
  void* context = nullptr;
  while (ibv_get_cq_event(channel_.get(), &cq, &context) == 0) cq_.event_received();
  ++wakeups_;
  sleep_or_spin(poll_cq());
}

void RdmaQueue::spin_pass() {
  if (finished_) return;
  sleep_or_spin(poll_cq());
}

// After a pass that handled `handled` completions (the CQ is not armed):
// spin again while within the window, else arm, catch what landed before
// the arming, and sleep.
void RdmaQueue::sleep_or_spin(int handled) {
  if (finished_) return;
  auto now = std::chrono::steady_clock::now();
  if (handled > 0) last_completion_ = now;
  if (spin_.count() > 0 && now - last_completion_ < spin_) {
    asio::post(worker_.context(), [self = shared_from_this()] { self->spin_pass(); });
    return;
  }
  ibv_req_notify_cq(cq_.get(), 0);
  if (poll_cq() > 0 && !finished_ && spin_.count() > 0) {
    // Landed between the last poll and the arming: the CQ is armed now, and
    // its event (if any) is consumed by the next wakeup.
    last_completion_ = std::chrono::steady_clock::now();
  }
  if (!finished_) watch_cq();
}

int RdmaQueue::poll_cq() {
  ibv_wc wcs[kPollBatch];
  int total = 0;
  while (!finished_) {
    int n = ibv_poll_cq(cq_.get(), kPollBatch, wcs);
    if (n <= 0) {
      if (n < 0) begin_close("ibv_poll_cq failed", true);
      break;
    }
    total += n;
    for (int i = 0; i < n && !finished_; ++i) on_completion(wcs[i]);
  }
  return total;
}

void RdmaQueue::on_completion(const ibv_wc& wc) {
  const uint32_t index = verbs::wr_index(wc.wr_id);
  const WrKind kind = verbs::wr_kind(wc.wr_id);
  if (kind == WrKind::recv) {
    --recv_posted_;
    if (wc.status != IBV_WC_SUCCESS) {
      if (!closing_)
        begin_close(fmt::format("receive failed: {}", ibv_wc_status_str(wc.status)), wc.status != IBV_WC_WR_FLUSH_ERR);
      maybe_finished();
      return;
    }
    if (closing_) {
      maybe_finished();
      return;
    }
    on_recv(index, wc.byte_len);
    return;
  }
  Request& r = *requests_[index];
  // A response SEND's completion, even a flushed one, settles the unsignaled
  // WRITE before it: that completed silently, or failed with its own
  // completion, which came first (send queue order).
  const uint8_t done = kind == WrKind::send ? r.wrs : 1;
  send_posted_ -= done;
  last_send_progress_ = std::chrono::steady_clock::now();
  r.wrs = static_cast<uint8_t>(r.wrs - done);
  if (wc.status != IBV_WC_SUCCESS && !closing_) {
    spdlog::warn("rdma {}: {} of {} tag {:#x} failed: {}", name_, kind == WrKind::rdma ? "data transfer" : "response",
                 rdmablk_opcode_str(r.cmd.opcode), RDMABLK_LE32(r.cmd.tag), ibv_wc_status_str(wc.status));
    begin_close(fmt::format("work request failed: {}", ibv_wc_status_str(wc.status)), true);
  }
  if (kind == WrKind::rdma && r.state == State::reading_data && r.wrs == 0) {
    if (closing_ || wc.status != IBV_WC_SUCCESS) {
      release(r);
    } else if (r.region_io) {
      // The data landed in the export itself; FUA needs the backend's sync.
      if (r.cmd.flags & RDMABLK_CMD_F_FUA)
        submit(r, IoOp::flush, nullptr);
      else
        respond(r, RDMABLK_S_SUCCESS);
    } else {
      submit(r, IoOp::write, r.bounce);
    }
  } else if (r.state == State::responding && r.wrs == 0) {
    const bool failed_login = r.cmd.opcode == RDMABLK_OP_LOGIN && login_failed_;
    release(r);
    // The nonce was used: a new attempt needs a new connection.
    if (failed_login) begin_close("login refused", false);
  }
  maybe_finished();
}

// --- Commands --------------------------------------------------------------------

void RdmaQueue::on_recv(uint32_t buf, uint32_t len) {
  last_recv_ = std::chrono::steady_clock::now();
  if (free_.empty()) {
    waiting_recvs_.emplace_back(buf, len);
    return;
  }
  dispatch(buf, len);
}

void RdmaQueue::dispatch(uint32_t buf, uint32_t len) {
  std::byte* msg = recv_data(buf);
  if (len < sizeof(rdmablk_cmd)) {
    spdlog::warn("rdma {}: {}-byte message, shorter than a command: disconnecting", name_, len);
    begin_close("malformed message", true);
    return;
  }
  Request& r = *free_.back();
  free_.pop_back();
  ++in_use_;
  std::memcpy(&r.cmd, msg, sizeof r.cmd);
  r.started = stats::now();
  r.state = State::responding;  // until execution starts
  r.status = RDMABLK_S_SUCCESS;
  r.rsp_length = 0;
  r.region_io = false;
  r.data = nullptr;
  r.length = 0;
  r.lkey = 0;
  r.before_stop = false;

  CommandVerdict v = judge_command(r.cmd, len, logged_in_ ? &limits_ : nullptr, stopping_);
  r.invalidate = v.invalidate;
  if (v.status != RDMABLK_S_SUCCESS) {
    spdlog::debug("rdma {}: {} tag {:#x} offset {} length {}: {}", name_, rdmablk_opcode_str(r.cmd.opcode),
                  RDMABLK_LE32(r.cmd.tag), RDMABLK_LE64(r.cmd.offset), RDMABLK_LE32(r.cmd.length),
                  rdmablk_status_str(v.status));
    repost(buf);
    respond(r, v.status);
    return;
  }
  ++served_;
  switch (r.cmd.opcode) {
    case RDMABLK_OP_KEEPALIVE:
      repost(buf);
      respond(r, RDMABLK_S_SUCCESS);
      return;
    case RDMABLK_OP_LOGIN: {
      rdmablk_login_req req;
      std::memcpy(&req, msg + sizeof(rdmablk_cmd), sizeof req);
      repost(buf);
      do_login(r, req);
      return;
    }
    case RDMABLK_OP_DISCOVER:
      repost(buf);
      do_discover(r);
      return;
    case RDMABLK_OP_WRITE:
      if (r.cmd.flags & RDMABLK_CMD_F_INLINE) {
        // The payload stays in the receive buffer until the backend has it.
        r.recv = static_cast<int>(buf);
        submit(r, IoOp::write, msg + sizeof(rdmablk_cmd));
        return;
      }
      break;
    default:
      break;
  }
  repost(buf);
  execute(r);
}

void RdmaQueue::execute(Request& r) {
  switch (r.cmd.opcode) {
    case RDMABLK_OP_READ:
      start_read(r);
      return;
    case RDMABLK_OP_WRITE:
      start_write(r);
      return;
    default:
      submit(r, io_op(r.cmd.opcode), nullptr);
  }
}

ibv_mr* RdmaQueue::export_region() const { return export_ ? dev_.region(*export_) : nullptr; }

void RdmaQueue::start_read(Request& r) {
  if (ibv_mr* mr = export_region()) {
    // RAM export: RDMA WRITE straight from the registered export.
    r.region_io = true;
    r.data = static_cast<std::byte*>(mr->addr) + RDMABLK_LE64(r.cmd.offset);
    r.length = RDMABLK_LE32(r.cmd.length);
    r.lkey = mr->lkey;
    post_response(r, true);
    return;
  }
  with_buffer(r);
}

void RdmaQueue::start_write(Request& r) {
  if (ibv_mr* mr = export_region()) {
    // RAM export: RDMA READ straight into the export. A failed transfer
    // leaves the range unspecified, as a failed write does on any disk.
    r.region_io = true;
    r.data = static_cast<std::byte*>(mr->addr) + RDMABLK_LE64(r.cmd.offset);
    r.length = RDMABLK_LE32(r.cmd.length);
    r.lkey = mr->lkey;
    post_rdma_read(r);
    return;
  }
  with_buffer(r);
}

BouncePool* RdmaQueue::bounce_pool() {
  if (!pool_) pool_ = server_.bounce_pool(worker_.index(), dev_);
  return pool_;
}

void RdmaQueue::with_buffer(Request& r) {
  BouncePool* pool = bounce_pool();
  if (!pool) {
    respond(r, RDMABLK_S_NO_RESOURCES);
    return;
  }
  r.state = State::need_buffer;
  if (std::byte* b = pool->get_or_wait(holder_, r.waiter)) on_bounce_ready(r, b);
}

void RdmaQueue::on_bounce_ready(Request& r, std::byte* buf) {
  r.bounce = buf;
  r.data = buf;
  r.length = RDMABLK_LE32(r.cmd.length);
  r.lkey = pool_->lkey();
  if (closing_) {
    release(r);
    maybe_finished();
    return;
  }
  if (r.cmd.opcode == RDMABLK_OP_READ)
    submit(r, IoOp::read, buf);
  else
    post_rdma_read(r);
}

void RdmaQueue::post_rdma_read(Request& r) {
  r.state = State::reading_data;
  ibv_sge sge{};
  sge.addr = reinterpret_cast<uintptr_t>(r.data);
  sge.length = r.length;
  sge.lkey = r.lkey;
  ibv_send_wr wr{};
  wr.wr_id = verbs::wr_id(WrKind::rdma, r.index);
  wr.opcode = IBV_WR_RDMA_READ;
  wr.send_flags = IBV_SEND_SIGNALED;
  wr.sg_list = &sge;
  wr.num_sge = 1;
  wr.wr.rdma.remote_addr = RDMABLK_LE64(r.cmd.addr);
  wr.wr.rdma.rkey = RDMABLK_LE32(r.cmd.rkey);
  ibv_send_wr* bad = nullptr;
  if (send_posted_ + 1 > sizes_.send_wr || ibv_post_send(qp_.get(), &wr, &bad) != 0) {
    begin_close("cannot post an RDMA READ", true);
    release(r);
    maybe_finished();
    return;
  }
  sends_posted(1);
  ++r.wrs;
}

void RdmaQueue::submit(Request& r, IoOp op, std::byte* data) {
  r.op = op;
  r.fua = (r.cmd.flags & RDMABLK_CMD_F_FUA) != 0 && op != IoOp::flush;
  r.may_unmap = (r.cmd.flags & RDMABLK_CMD_F_NO_UNMAP) == 0;
  r.offset = op == IoOp::flush ? 0 : RDMABLK_LE64(r.cmd.offset);
  r.length = op == IoOp::flush ? 0 : RDMABLK_LE32(r.cmd.length);
  r.data = data;
  r.state = State::executing;
  ++executing_;
  // RAM backends complete inline, inside this call.
  export_->backend().submit(worker_.engine(), r);
}

void RdmaQueue::on_backend_done(Request& r, int error) {
  --executing_;
  if (r.recv >= 0) {
    if (!closing_) repost(static_cast<uint32_t>(r.recv));
    r.recv = -1;
  }
  if (closing_) {
    release(r);
    maybe_finished();
    return;
  }
  // Only a READ still needs its bounce buffer (to send the data from); the
  // others give it back to the worker's shared pool before answering.
  if (r.cmd.opcode != RDMABLK_OP_READ)
    if (std::byte* b = std::exchange(r.bounce, nullptr)) pool_->put(holder_, b);
  if (error != 0) {
    spdlog::warn("rdma {}: export '{}': {} offset {} length {}: {}", name_, export_->name(),
                 rdmablk_opcode_str(r.cmd.opcode), RDMABLK_LE64(r.cmd.offset), RDMABLK_LE32(r.cmd.length),
                 std::strerror(error));
    respond(r, status_from_errno(error));
    return;
  }
  if (r.cmd.opcode == RDMABLK_OP_READ) {
    r.length = RDMABLK_LE32(r.cmd.length);
    post_response(r, true);
    return;
  }
  respond(r, RDMABLK_S_SUCCESS);
}

// --- Login and discovery ---------------------------------------------------------

void RdmaQueue::do_login(Request& r, const rdmablk_login_req& req) {
  LoginInput in;
  in.exports = &server_.exports();
  in.peer = peer_;
  in.nonce = nonce_;
  in.limits = server_.options().limits;
  in.secret = [this](const Export& e) { return server_.secret(e); };
  in.region = [this](const Export& e) -> std::optional<ExportRegion> {
    if (ibv_mr* mr = dev_.direct_region(e)) return ExportRegion{reinterpret_cast<uintptr_t>(mr->addr), mr->rkey};
    return std::nullopt;
  };
  LoginOutcome out = evaluate_login(req, in);
  if (out.status == RDMABLK_S_SUCCESS) {
    auto host = std::string_view(reinterpret_cast<const char*>(req.host_id),
                                 ::strnlen(reinterpret_cast<const char*>(req.host_id), sizeof req.host_id));
    try {
      session_ = server_.create_session(out, host, shared_from_this());
    } catch (const std::exception& e) {
      out.status = RDMABLK_S_NO_RESOURCES;
      out.reason = e.what();
    }
  }
  if (out.status != RDMABLK_S_SUCCESS) {
    spdlog::warn("rdma {}: login refused ({}): {}", name_, rdmablk_status_str(out.status), out.reason);
    login_failed_ = true;
    stats::login_rejected(out.status);
    respond(r, out.status);
    return;
  }
  logged_in_ = true;
  login_timer_.cancel();
  limits_ = out.limits;
  export_ = out.exp;
  if (pending_login_.exchange(false)) server_.logged_in(peer_);
  std::memcpy(send_slot(r) + sizeof(rdmablk_rsp), &out.rsp, sizeof out.rsp);
  spdlog::info("rdma {}: {}: {}, {} I/O queue(s) of depth {}, max I/O {}, features {:#x}", name_, session_->name,
               out.reason, out.nr_queues, out.queue_depth, out.limits.max_io_size, out.limits.features);
  respond(r, RDMABLK_S_SUCCESS, sizeof(rdmablk_login_rsp));
}

void RdmaQueue::do_discover(Request& r) {
  auto entries = discover_entries(server_.exports(), peer_, [this](const Export& e) -> std::optional<ExportRegion> {
    if (ibv_mr* mr = dev_.direct_region(e)) return ExportRegion{reinterpret_cast<uintptr_t>(mr->addr), mr->rkey};
    return std::nullopt;
  });
  const size_t total = entries.size() * sizeof(rdmablk_discover_entry);
  const size_t fit = std::min<size_t>(entries.size(), RDMABLK_LE32(r.cmd.length) / sizeof(rdmablk_discover_entry));
  r.rsp_length = static_cast<uint32_t>(total);
  if (fit == 0) {
    respond(r, RDMABLK_S_SUCCESS, r.rsp_length);
    return;
  }
  const size_t bytes = fit * sizeof(rdmablk_discover_entry);
  try {
    // Rare and small: a buffer registered for this answer alone.
    r.scratch = std::make_unique<verbs::RegisteredBuffer>(dev_.pd.get(), bytes, IBV_ACCESS_LOCAL_WRITE);
  } catch (const std::system_error& e) {
    spdlog::warn("rdma {}: DISCOVER: {}", name_, e.what());
    respond(r, RDMABLK_S_NO_RESOURCES);
    return;
  }
  std::memcpy(r.scratch->data(), entries.data(), bytes);
  r.data = r.scratch->data();
  r.length = static_cast<uint32_t>(bytes);
  r.lkey = r.scratch->lkey();
  post_response(r, true);
}

// --- Responses -------------------------------------------------------------------

void RdmaQueue::respond(Request& r, rdmablk_status status, uint32_t length) {
  r.status = status;
  r.rsp_length = length;
  post_response(r, false);
}

void RdmaQueue::post_response(Request& r, bool with_data) {
  if (export_) export_->stats(stats::Transport::rdma).record_rdma(r.cmd.opcode, RDMABLK_LE32(r.cmd.length), r.status, r.started);
  const bool login_payload = r.cmd.opcode == RDMABLK_OP_LOGIN && r.status == RDMABLK_S_SUCCESS;
  const rdmablk_rsp rsp = make_response(r.cmd, r.status, r.rsp_length, r.invalidate);
  std::byte* slot = send_slot(r);
  std::memcpy(slot, &rsp, sizeof rsp);

  ibv_sge sges[2]{};
  ibv_send_wr wrs[2]{};
  int n = 0;
  if (with_data) {
    sges[0].addr = reinterpret_cast<uintptr_t>(r.data);
    sges[0].length = r.length;
    sges[0].lkey = r.lkey;
    wrs[0].wr_id = verbs::wr_id(WrKind::rdma, r.index);
    wrs[0].opcode = IBV_WR_RDMA_WRITE;
    wrs[0].sg_list = &sges[0];
    wrs[0].num_sge = 1;
    wrs[0].wr.rdma.remote_addr = RDMABLK_LE64(r.cmd.addr);
    wrs[0].wr.rdma.rkey = RDMABLK_LE32(r.cmd.rkey);
    wrs[0].next = &wrs[1];
    n = 1;
  }
  // RC ordering puts the data before the response: no need to wait for it.
  ibv_send_wr& send = wrs[n];
  sges[n].addr = reinterpret_cast<uintptr_t>(slot);
  sges[n].length = static_cast<uint32_t>(sizeof(rdmablk_rsp) + (login_payload ? sizeof(rdmablk_login_rsp) : 0));
  sges[n].lkey = send_bufs_.lkey();
  send.wr_id = verbs::wr_id(WrKind::send, r.index);
  send.send_flags = IBV_SEND_SIGNALED;
  send.sg_list = &sges[n];
  send.num_sge = 1;
  if (r.invalidate) {
    send.opcode = IBV_WR_SEND_WITH_INV;
    send.invalidate_rkey = RDMABLK_LE32(r.cmd.rkey);
  } else {
    send.opcode = IBV_WR_SEND;
  }
  ++n;

  r.state = State::responding;
  ibv_send_wr* bad = nullptr;
  if (send_posted_ + n > sizes_.send_wr || ibv_post_send(qp_.get(), &wrs[0], &bad) != 0) {
    if (!closing_) spdlog::warn("rdma {}: cannot post a response", name_);
    begin_close("cannot post a response", true);
    release(r);
    maybe_finished();
    return;
  }
  sends_posted(static_cast<uint32_t>(n));
  r.wrs += n;
}

// --- Buffers and requests --------------------------------------------------------

std::byte* RdmaQueue::recv_data(uint32_t buf) const { return recv_bufs_.data() + size_t{buf} * recv_size_; }

std::byte* RdmaQueue::send_slot(const Request& r) const { return send_bufs_.data() + size_t{r.index} * kSendSlot; }

bool RdmaQueue::post_recv(uint32_t buf) {
  ibv_sge sge{};
  sge.addr = reinterpret_cast<uintptr_t>(recv_data(buf));
  sge.length = recv_size_;
  sge.lkey = recv_bufs_.lkey();
  ibv_recv_wr wr{};
  wr.wr_id = verbs::wr_id(WrKind::recv, buf);
  wr.sg_list = &sge;
  wr.num_sge = 1;
  ibv_recv_wr* bad = nullptr;
  if (ibv_post_recv(qp_.get(), &wr, &bad) != 0) return false;
  ++recv_posted_;
  return true;
}

void RdmaQueue::repost(uint32_t buf) {
  if (closing_) return;
  if (!post_recv(buf)) begin_close("cannot post a receive buffer", true);
}

void RdmaQueue::release(Request& r) {
  if (r.state == State::need_buffer && pool_) pool_->cancel(holder_, r.waiter);
  if (r.recv >= 0) {
    repost(static_cast<uint32_t>(r.recv));
    r.recv = -1;
  }
  r.scratch.reset();
  r.state = State::free;
  r.wrs = 0;
  free_.push_back(&r);
  --in_use_;
  if (r.before_stop) {
    r.before_stop = false;
    --before_stop_;
  }
  if (std::byte* b = std::exchange(r.bounce, nullptr)) pool_->put(holder_, b);  // may start a waiter at once
  if (!closing_ && !waiting_recvs_.empty()) {
    auto [buf, len] = waiting_recvs_.front();
    waiting_recvs_.pop_front();
    dispatch(buf, len);
  }
  check_stop_done();
}

// --- Shutdown --------------------------------------------------------------------

void RdmaQueue::check_stop_done() {
  if (stopping_ && !closing_ && before_stop_ == 0) begin_close("target shutting down", false);
}

void RdmaQueue::begin_close(std::string reason, bool error) {
  if (closing_) return;
  closing_ = true;
  close_reason_ = std::move(reason);
  if (error) spdlog::debug("rdma {}: closing: {}", name_, close_reason_);
  waiting_recvs_.clear();
  for (auto& r : requests_)
    if (r->state == State::need_buffer) release(*r);  // leaves the pool's FIFO
  // At shutdown the I/O queues answer what they received before closing.
  if (session_ && qid_ == 0) server_.end_session(*session_, this, !stopping_);
  server_.disconnect(shared_from_this());
  std::weak_ptr<RdmaQueue> weak = weak_from_this();
  timer_.expires_after(kFlushTimeout);
  timer_.async_wait([weak](const error_code& ec) {
    auto q = weak.lock();
    if (!q || ec) return;
    spdlog::warn("rdma {}: {} work requests not flushed after {}s; destroying anyway", q->name_,
                 q->recv_posted_ + q->send_posted_, kFlushTimeout.count());
    q->flush_timed_out_ = true;
    q->maybe_finished();
  });
  maybe_finished();
}

void RdmaQueue::maybe_finished() {
  if (!closing_ || finished_) return;
  if (executing_ > 0) return;  // the backend still writes into request memory
  if ((recv_posted_ > 0 || send_posted_ > 0) && !flush_timed_out_) return;
  finished_ = true;
  timer_.cancel();
  keepalive_timer_.cancel();
  login_timer_.cancel();
  stall_timer_.cancel();
  // A buffer a work request may still reach (flush timed out) is leaked,
  // not handed to another request.
  for (auto& r : requests_)
    if (r->wrs == 0)
      if (std::byte* b = std::exchange(r->bounce, nullptr)) pool_->put(holder_, b);
  if (pool_) pool_->leave(holder_);
  if (channel_fd_) {
    error_code ignored;
    channel_fd_->cancel(ignored);
    channel_fd_->release();
    channel_fd_.reset();
  }
  if (session_ && qid_ == 0)
    spdlog::info("rdma {}: {} closed after {} commands ({} wakeups): {}", name_, session_->name, served_, wakeups_,
                 close_reason_);
  else
    spdlog::info("rdma {}: closed after {} commands ({} wakeups): {}", name_, served_, wakeups_, close_reason_);
  server_.queue_finished(shared_from_this());
}

}  // namespace rdmablk::target
