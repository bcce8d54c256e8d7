#include "rdma_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include <boost/asio/post.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "rdma_queue.hpp"
#include "rdmablk/auth.hpp"

namespace rdmablk::target {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

// Queue-0 connections one source address may hold without logging in.
constexpr unsigned kMaxPendingPerAddress = 64;
// With --rdma-max-pending reached, a new connection evicts the oldest one
// that has not logged in, if that one had at least this long to do so (an
// initiator logs in within one round trip of being accepted).
constexpr std::chrono::seconds kEvictMinAge{1};

asio::ip::address sockaddr_address(const sockaddr* sa) {
  if (!sa) return {};
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    return asio::ip::address_v4(ntohl(in->sin_addr.s_addr));
  }
  if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    asio::ip::address_v6::bytes_type b;
    std::memcpy(b.data(), &in6->sin6_addr, b.size());
    return unmap_v4(asio::ip::address_v6(b, in6->sin6_scope_id));
  }
  return {};
}

std::string endpoint_name(const asio::ip::address& a, uint16_t port) {
  return a.is_v6() ? fmt::format("[{}]:{}", a.to_string(), port) : fmt::format("{}:{}", a.to_string(), port);
}

// rdma_cm binds to a socket address like TCP does.
sockaddr_storage make_sockaddr(const asio::ip::address& a, uint16_t port) {
  sockaddr_storage ss{};
  if (a.is_v4()) {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    in->sin_addr.s_addr = htonl(a.to_v4().to_uint());
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    auto b = a.to_v6().to_bytes();
    std::memcpy(&in6->sin6_addr, b.data(), b.size());
    in6->sin6_scope_id = a.to_v6().scope_id();
  }
  return ss;
}

}  // namespace

RdmaServer::RdmaServer(asio::io_context& control, WorkerPool& workers, const ExportTable& exports,
                       RdmaServerOptions options)
    : control_(control),
      workers_(workers),
      exports_(exports),
      options_(options),
      pools_(workers.all().size()),
      maintenance_timer_(control),
      connect_rate_(options.connect_rate, options.connect_burst) {
  // Queue 0 must hold a LOGIN after its capsule.
  options_.limits.max_inline = std::clamp<uint32_t>(options_.limits.max_inline, sizeof(rdmablk_login_req),
                                                    RDMABLK_MAX_INLINE_SIZE);
  options_.limits.max_io_size = std::clamp<uint32_t>(options_.limits.max_io_size / RDMABLK_MAX_LOGICAL_BLOCK_SIZE *
                                                         RDMABLK_MAX_LOGICAL_BLOCK_SIZE,
                                                     RDMABLK_MAX_LOGICAL_BLOCK_SIZE, RDMABLK_MAX_IO_SIZE);
  options_.limits.max_queue_depth =
      std::clamp<uint16_t>(options_.limits.max_queue_depth, 1, RDMABLK_MAX_QUEUE_DEPTH);
  options_.limits.max_io_queues = std::min<uint16_t>(options_.limits.max_io_queues, RDMABLK_MAX_QUEUES - 1);
  if (options_.bounce_buffers == 0) options_.bounce_buffers = 1;
}

RdmaServer::~RdmaServer() {
  if (channel_fd_) {
    channel_fd_->release();  // the event channel owns its fd
    channel_fd_.reset();
  }
  // Normally empty: stop() drained them. Otherwise the workers are stopped.
  for (auto& [id, q] : conns_) {
    q->destroy_verbs();
    rdma_destroy_id(id);
  }
  conns_.clear();
  listen_id_.reset();
  pools_.clear();
}

// --- Setup ------------------------------------------------------------------------

RdmaDevice* RdmaServer::device_for(ibv_context* ctx) {
  if (!ctx) return nullptr;
  if (auto it = devices_.find(ctx); it != devices_.end()) return it->second.get();
  auto dev = std::make_unique<RdmaDevice>();
  dev->ctx = ctx;
  dev->name = ibv_get_device_name(ctx->device);
  if (ibv_query_device(ctx, &dev->attr) != 0) {
    spdlog::error("rdma: {}: ibv_query_device: {}", dev->name, std::strerror(errno));
    return nullptr;
  }
  dev->pd.reset(ibv_alloc_pd(ctx));
  if (!dev->pd) {
    spdlog::error("rdma: {}: ibv_alloc_pd: {}", dev->name, std::strerror(errno));
    return nullptr;
  }
  // Exports in memory (RAM, mapped read-only files) are registered whole:
  // direct mode hands the key out, and command mode moves data straight
  // from/to them. Pinning happens here. A read-only export's pages are
  // never written, locally or remotely (a mapped file is PROT_READ).
  for (const auto& e : exports_.all()) {
    auto region = e->backend().region();
    if (region.empty()) continue;
    const bool direct = e->open_to_all();
    int access = e->read_only() ? 0 : IBV_ACCESS_LOCAL_WRITE;
    if (direct) access |= IBV_ACCESS_REMOTE_READ | (e->read_only() ? 0 : IBV_ACCESS_REMOTE_WRITE);
    verbs::Mr mr(ibv_reg_mr(dev->pd.get(), region.data(), region.size(), access));
    if (!mr) {
      spdlog::warn("rdma: {}: cannot register export '{}' ({} bytes): {}; it is served through bounce buffers",
                   dev->name, e->name(), region.size(), std::strerror(errno));
      continue;
    }
    e->backend().pin_region();
    spdlog::info("rdma: {}: export '{}' registered ({} bytes pinned){}", dev->name, e->name(), region.size(),
                 direct ? ", direct mode" : ", no direct mode: it has a secret or an allow list");
    dev->regions.emplace(e.get(), RdmaDevice::Region{std::move(mr), direct});
  }
  RdmaDevice* raw = dev.get();
  devices_.emplace(ctx, std::move(dev));
  return raw;
}

uint16_t RdmaServer::listen(const std::string& address, uint16_t port) {
  error_code ec;
  asio::ip::address addr = asio::ip::make_address(address, ec);
  if (ec) throw std::system_error(EINVAL, std::generic_category(), fmt::format("bad listen address '{}'", address));

  channel_.reset(rdma_create_event_channel());
  if (!channel_) throw std::system_error(errno, std::generic_category(), "rdma_create_event_channel");
  verbs::set_nonblocking(channel_->fd);

  int count = 0;
  if (ibv_context** list = rdma_get_devices(&count)) {
    for (int i = 0; i < count; ++i) device_for(list[i]);
    rdma_free_devices(list);
  }
  if (devices_.empty()) throw std::system_error(ENODEV, std::generic_category(), "no usable RDMA device");

  int err = bind_listener(addr, port);
  if (err && addr.is_v6() && addr.is_unspecified()) {
    spdlog::debug("rdma: cannot listen on [::]:{} ({}), trying 0.0.0.0", port, std::strerror(err));
    addr = asio::ip::address_v4::any();
    err = bind_listener(addr, port);
  }
  if (err)
    throw std::system_error(err, std::generic_category(), fmt::format("rdma: cannot listen on {} port {}", address, port));
  const uint16_t bound = ntohs(rdma_get_src_port(listen_id_.get()));
  listen_addr_ = addr;
  listen_port_ = bound;

  exports_reloaded();

  std::vector<std::string> names;
  for (const auto& [ctx, dev] : devices_) names.push_back(dev->name);
  std::sort(names.begin(), names.end());
  spdlog::info("rdma: listening on {} (devices: {})", endpoint_name(addr, bound), fmt::join(names, ", "));
  channel_fd_ = std::make_unique<asio::posix::stream_descriptor>(control_, channel_->fd);
  return bound;
}

int RdmaServer::bind_listener(const asio::ip::address& addr, uint16_t port) {
  rdma_cm_id* id = nullptr;
  if (rdma_create_id(channel_.get(), &id, nullptr, RDMA_PS_TCP) != 0) return errno;
  verbs::CmId owner(id);
  sockaddr_storage ss = make_sockaddr(addr, port);
  if (rdma_bind_addr(id, reinterpret_cast<sockaddr*>(&ss)) != 0) return errno;
  if (rdma_listen(id, 128) != 0) return errno;
  listen_id_ = std::move(owner);
  return 0;
}

void RdmaServer::start() {
  watch_channel();
  schedule_maintenance();
}

void RdmaServer::exports_reloaded() {
  for (const auto& e : exports_.all()) {
    if (!e->needs_secret()) continue;
    {
      std::lock_guard lock(secrets_mutex_);
      if (secrets_.contains(e.get())) continue;
    }
    try {
      std::string secret = read_secret_file(e->secret_file());
      std::lock_guard lock(secrets_mutex_);
      secrets_.emplace(e.get(), std::move(secret));  // node-based: pointers to others stay valid
    } catch (const std::exception& ex) {
      spdlog::error("export '{}': {}; RDMA logins to it will fail", e->name(), ex.what());
    }
  }
}

const std::string* RdmaServer::secret(const Export& e) const {
  std::lock_guard lock(secrets_mutex_);
  auto it = secrets_.find(&e);
  return it == secrets_.end() ? nullptr : &it->second;
}

BouncePool* RdmaServer::bounce_pool(unsigned worker, RdmaDevice& dev) {
  auto& pools = pools_[worker];
  if (auto it = pools.find(dev.ctx); it != pools.end()) return it->second.get();
  try {
    auto pool = std::make_unique<BouncePool>(dev.pd.get(), options_.limits.max_io_size, options_.bounce_buffers);
    BouncePool* raw = pool.get();
    pools.emplace(dev.ctx, std::move(pool));
    return raw;
  } catch (const std::system_error& e) {
    spdlog::error("rdma: {}: bounce buffers for worker {}: {}", dev.name, worker, e.what());
    return nullptr;
  }
}

// --- Connection manager events ---------------------------------------------------

void RdmaServer::watch_channel() {
  if (!channel_fd_) return;
  channel_fd_->async_wait(asio::posix::stream_descriptor::wait_read, [this](const error_code& ec) {
    if (!ec) on_channel_readable();
  });
}

void RdmaServer::on_channel_readable() {
  for (;;) {
    rdma_cm_event* ev = nullptr;
    if (rdma_get_cm_event(channel_.get(), &ev) != 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK) spdlog::error("rdma: rdma_get_cm_event: {}", std::strerror(errno));
      break;
    }
    rdma_cm_id* destroy = nullptr;
    ibv_context* removed = nullptr;  // a device going away
    try {
      if (ev->event == RDMA_CM_EVENT_CONNECT_REQUEST) {
        destroy = on_connect_request(*ev);
      } else if (ev->id == listen_id_.get()) {
        if (ev->event == RDMA_CM_EVENT_DEVICE_REMOVAL) removed = ev->id->verbs;
      } else if (auto it = conns_.find(ev->id); it != conns_.end()) {
        RdmaQueue& q = *it->second;
        switch (ev->event) {
          case RDMA_CM_EVENT_ESTABLISHED:
            q.established();
            break;
          case RDMA_CM_EVENT_DISCONNECTED:
            q.close("initiator disconnected");
            break;
          case RDMA_CM_EVENT_DEVICE_REMOVAL:
            removed = ev->id->verbs;  // every queue on it closes below
            break;
          case RDMA_CM_EVENT_REJECTED:
          case RDMA_CM_EVENT_CONNECT_ERROR:
          case RDMA_CM_EVENT_UNREACHABLE:
            q.close(fmt::format("{} (status {})", rdma_event_str(ev->event), ev->status));
            break;
          default:
            break;  // TIMEWAIT_EXIT, ADDR_CHANGE: nothing to do
        }
      }
    } catch (const std::exception& e) {
      spdlog::error("rdma: {}: {}", rdma_event_str(ev->event), e.what());
    }
    rdma_ack_cm_event(ev);
    // Only after the ack: rdma_destroy_id waits for its events to be acked.
    if (destroy) rdma_destroy_id(destroy);
    if (removed) device_removed(removed);
  }
  watch_channel();
}

// --- Device removal ----------------------------------------------------------------

void RdmaServer::device_removed(ibv_context* ctx) {
  if (removing_.count(ctx)) return;  // one event per id: the first one acts
  Removal& r = removing_[ctx];
  auto dev = devices_.find(ctx);
  r.name = dev != devices_.end() ? dev->second->name : std::string(ibv_get_device_name(ctx->device));
  for (auto& [id, q] : conns_) {
    if (id->verbs != ctx) continue;
    q->close(fmt::format("RDMA device {} removed", r.name));
    ++r.queues;
  }
  // The event was acknowledged, so the id can go (rdma_get_cm_event(3)).
  std::string listener;
  if (listen_id_ && listen_id_->verbs == ctx) {
    listen_id_.reset();
    r.listener = true;
    relisten_ = !stopping_;
    listener = fmt::format(" and the listener on {}", endpoint_name(listen_addr_, listen_port_));
  }
  spdlog::error("rdma: device {} removed: closing its {} queue(s){} and releasing everything registered on it; "
                "NBD{} keep{} serving{}",
                r.name, r.queues, listener, devices_.size() > 1 ? " and the other RDMA devices" : "",
                devices_.size() > 1 ? "" : "s",
                r.listener && relisten_ ? "; the RDMA listener is retried every few seconds" : "");
  if (relisten_) schedule_maintenance();
  maybe_release(ctx);
}

void RdmaServer::maybe_release(ibv_context* ctx) {
  auto it = removing_.find(ctx);
  if (it == removing_.end() || it->second.releasing) return;
  for (auto& [id, q] : conns_)
    if (id->verbs == ctx) return;  // queue_finished() calls again
  it->second.releasing = true;
  // Bounce pools belong to their worker's thread: each drops its own, then
  // reports back here; the last report frees the rest.
  auto pending = std::make_shared<size_t>(workers_.all().size());
  for (auto& w : workers_.all()) {
    asio::post(w->context(), [this, ctx, pending, i = w->index()] {
      pools_[i].erase(ctx);
      asio::post(control_, [this, ctx, pending] {
        if (--*pending == 0) finish_release(ctx);
      });
    });
  }
  if (*pending == 0) finish_release(ctx);
}

void RdmaServer::finish_release(ibv_context* ctx) {
  auto it = removing_.find(ctx);
  if (it == removing_.end()) return;
  size_t regions = 0;
  if (auto d = devices_.find(ctx); d != devices_.end()) {
    regions = d->second->regions.size();
    devices_.erase(d);  // export MRs, then the PD
  }
  std::vector<std::string> left;
  for (const auto& [c, d] : devices_) left.push_back(d->name);
  std::sort(left.begin(), left.end());
  spdlog::info("rdma: device {} released ({} queue(s) closed, {} export registration(s), bounce buffers, PD); "
               "RDMA devices in use: {}",
               it->second.name, it->second.queues, regions, left.empty() ? "none" : fmt::format("{}", fmt::join(left, ", ")));
  removing_.erase(it);
  // librdmacm holds the device open until its device list notices the
  // removal; if the kernel unlists it only later, watch_devices() syncs then.
  sync_librdmacm_devices();
}

void RdmaServer::sync_librdmacm_devices() {
  int count = 0;
  if (ibv_context** list = rdma_get_devices(&count)) rdma_free_devices(list);
}

void RdmaServer::schedule_maintenance() {
  if (maintenance_scheduled_ || stopping_) return;
  maintenance_scheduled_ = true;
  maintenance_timer_.expires_after(std::chrono::seconds(2));
  maintenance_timer_.async_wait([this](const error_code& ec) {
    maintenance_scheduled_ = false;
    if (!ec) on_maintenance();
  });
}

void RdmaServer::on_maintenance() {
  if (stopping_) return;
  if (relisten_ && !listen_id_) {
    int err = bind_listener(listen_addr_, listen_port_);
    if (err == 0) {
      relisten_ = false;
      ibv_context* ctx = listen_id_->verbs;
      spdlog::info("rdma: listening again on {}{}", endpoint_name(listen_addr_, listen_port_),
                   ctx ? fmt::format(" (device {})", ibv_get_device_name(ctx->device)) : std::string());
    } else {
      spdlog::debug("rdma: cannot listen on {} yet: {}", endpoint_name(listen_addr_, listen_port_),
                    std::strerror(err));
    }
  }
  watch_devices();
  schedule_maintenance();
}

void RdmaServer::watch_devices() {
  if (!removing_.empty()) return;  // look once the release in progress is done
  int count = 0;
  std::unique_ptr<ibv_device*, decltype(&ibv_free_device_list)> list(ibv_get_device_list(&count),
                                                                      ibv_free_device_list);
  std::vector<ibv_device*> listed;
  if (list) listed.assign(list.get(), list.get() + count);
  std::sort(listed.begin(), listed.end());
  if (listed == listed_devices_) return;
  listed_devices_ = listed;
  // Without this the kernel waits for ever: rxe cannot take its resources
  // back from a process, so `rdma link del` blocks until we close them.
  std::vector<ibv_context*> gone;
  for (const auto& [ctx, dev] : devices_)
    if (!std::binary_search(listed.begin(), listed.end(), ctx->device)) gone.push_back(ctx);
  for (ibv_context* ctx : gone) {
    spdlog::warn("rdma: device {} left the device list with no rdma_cm event", devices_.at(ctx)->name);
    device_removed(ctx);
  }
  // librdmacm holds every device open that rdma_get_devices() ever listed,
  // also those we never used: a sync closes the ones that went.
  if (gone.empty()) sync_librdmacm_devices();  // else finish_release() does
}

void RdmaServer::reject(rdma_cm_id* id, rdmablk_status status, const std::string& who, const std::string& why) {
  stats::login_rejected(status);
  rdmablk_cm_rej rej{};
  rej.magic = __cpu_to_le32(RDMABLK_MAGIC);
  rej.version = __cpu_to_le16(RDMABLK_PROTO_VERSION);
  rej.status = __cpu_to_le16(static_cast<uint16_t>(status));
  spdlog::warn("rdma {}: connect rejected ({}): {}", who, rdmablk_status_str(status), why);
  if (rdma_reject(id, &rej, sizeof rej) != 0) spdlog::debug("rdma {}: rdma_reject: {}", who, std::strerror(errno));
}

rdma_cm_id* RdmaServer::on_connect_request(rdma_cm_event& ev) {
  rdma_cm_id* id = ev.id;
  const asio::ip::address peer = sockaddr_address(rdma_get_peer_addr(id));
  const std::string who = endpoint_name(peer, ntohs(rdma_get_dst_port(id)));
  const void* data = ev.param.conn.private_data;
  const size_t len = data ? ev.param.conn.private_data_len : 0;

  rdmablk_cm_req req;
  auto status = read_cm_req(data, len, req);
  if (status != RDMABLK_S_SUCCESS) {
    uint16_t version = 0;
    if (len >= 6) std::memcpy(&version, static_cast<const uint8_t*>(data) + 4, sizeof version);
    reject(id, status, who,
           status == RDMABLK_S_VERSION ? fmt::format("initiator speaks version {}, we speak {}", __le16_to_cpu(version),
                                                     RDMABLK_PROTO_VERSION)
                                       : fmt::format("bad private data ({} bytes)", len));
    return id;
  }
  const uint16_t qid = RDMABLK_LE16(req.qid);
  const std::string what = fmt::format("queue {}", qid);
  if (stopping_) {
    reject(id, RDMABLK_S_SHUTTING_DOWN, who, what);
    return id;
  }
  if (removing_.count(id->verbs)) {
    reject(id, RDMABLK_S_NO_RESOURCES, who, what + ": device being removed");
    return id;
  }
  RdmaDevice* dev = device_for(id->verbs);
  if (!dev) {
    reject(id, RDMABLK_S_NO_RESOURCES, who, what + ": device unusable");
    return id;
  }
  uint16_t depth = std::min({RDMABLK_LE16(req.queue_depth), options_.limits.max_queue_depth,
                             rdma_max_depth(dev->attr)});

  std::shared_ptr<RdmaSession> session;
  std::string why;
  bool pending = false;  // counted in pending_: undo unless accepted
  auto unpend = [&] {
    if (!std::exchange(pending, false)) return;
    logged_in(peer);
  };
  if (qid == 0) {
    std::lock_guard lock(sessions_mutex_);
    unsigned& n = pending_[peer];
    if (n >= kMaxPendingPerAddress) {
      status = RDMABLK_S_NO_RESOURCES;
      why = fmt::format(": {} connections from this address have not logged in yet", n);
    } else if (!connect_rate_.ready(peer, std::chrono::steady_clock::now())) {
      status = RDMABLK_S_NO_RESOURCES;
      why = fmt::format(": this address used its burst of {} connections (--rdma-connect-burst) and may open "
                        "{:g} per second (--rdma-connect-rate); next in {:.0f} ms",
                        options_.connect_burst, options_.connect_rate, connect_rate_.wait_seconds(peer) * 1000);
    } else if (pending_total_ >= options_.max_pending && !make_room_for(who)) {
      status = RDMABLK_S_NO_RESOURCES;
      why = fmt::format(": {} connections have not logged in yet (--rdma-max-pending), none for {} s",
                        pending_total_, kEvictMinAge.count());
    } else {
      ++n;
      ++pending_total_;
      pending = true;
      connect_rate_.take(peer);  // only admissions cost a token: a refused retry does not
    }
    if (n == 0) pending_.erase(peer);
  }
  if (qid > 0) {
    std::lock_guard lock(sessions_mutex_);
    auto it = sessions_.find(RDMABLK_LE64(req.session_id));
    RdmaSession* s = it == sessions_.end() ? nullptr : it->second.get();
    bool connected = s && qid < s->queues.size() && !s->queues[qid].expired();
    status = judge_join(req, s ? &s->keys : nullptr, connected);
    if (status == RDMABLK_S_SUCCESS && s->peer != peer) {
      status = RDMABLK_S_BAD_TICKET;
      why = fmt::format(": the session logged in from {}", s->peer.to_string());
    }
    if (status == RDMABLK_S_SUCCESS) {
      session = it->second;
      depth = std::min(depth, s->keys.queue_depth);
    }
  }
  if (status != RDMABLK_S_SUCCESS) {
    reject(id, status, who, what + why);
    return id;
  }

  RdmaQueueParams p;
  p.server = this;
  p.worker = &workers_.next();
  p.dev = dev;
  p.id = id;
  p.qid = qid;
  p.depth = depth;
  p.max_inline = options_.limits.max_inline;
  p.peer = peer;
  p.name = session ? fmt::format("{} q{} (session {:016x})", who, qid, session->keys.id)
                   : fmt::format("{} q{}", who, qid);
  p.session = session;
  p.poll = options_.poll;
  p.spin = options_.spin;
  p.keepalive_timeout = options_.keepalive_timeout;
  p.login_timeout = options_.login_timeout;
  p.pending_login = pending;
  std::shared_ptr<RdmaQueue> q;
  try {
    if (qid == 0) {
      auto nonce = random_bytes(RDMABLK_NONCE_LEN);
      std::copy(nonce.begin(), nonce.end(), p.nonce.begin());
    }
    q = std::make_shared<RdmaQueue>(p);
  } catch (const std::exception& e) {
    unpend();
    reject(id, RDMABLK_S_NO_RESOURCES, who, fmt::format("{}: {}", what, e.what()));
    return id;
  }
  if (session) {
    std::lock_guard lock(sessions_mutex_);
    // Queue 0 may have ended the session since the check above.
    if (session->ended) status = RDMABLK_S_BAD_TICKET;
    else session->queues[qid] = q;
  }
  if (status != RDMABLK_S_SUCCESS) {
    q->destroy_verbs();
    reject(id, status, who, what + ": session ended");
    return id;
  }

  rdmablk_cm_rep rep{};
  rep.magic = __cpu_to_le32(RDMABLK_MAGIC);
  rep.version = __cpu_to_le16(RDMABLK_PROTO_VERSION);
  rep.qid = req.qid;
  rep.queue_depth = __cpu_to_le16(depth);
  rep.max_inline = __cpu_to_le32(options_.limits.max_inline);
  std::memcpy(rep.nonce, p.nonce.data(), sizeof rep.nonce);

  rdma_conn_param param{};
  param.private_data = &rep;
  param.private_data_len = sizeof rep;
  // The event reports the initiator's values from our side: responder_resources
  // is how many RDMA READs it wants to have outstanding against us (direct
  // mode), initiator_depth how many we may have against it (command-mode WRITEs).
  param.responder_resources = static_cast<uint8_t>(
      std::min<int>({std::max<int>(ev.param.conn.responder_resources, 1), dev->attr.max_qp_rd_atom, 255}));
  param.initiator_depth =
      static_cast<uint8_t>(std::min<int>({ev.param.conn.initiator_depth, dev->attr.max_qp_init_rd_atom, 255}));
  param.rnr_retry_count = 7;  // an initiator slow to repost its receives is waited for
  param.retry_count = 7;
  if (rdma_accept(id, &param) != 0) {
    int err = errno;
    if (session) {
      std::lock_guard lock(sessions_mutex_);
      session->queues[qid].reset();
    }
    q->destroy_verbs();
    unpend();
    spdlog::warn("rdma {}: rdma_accept ({}): {}", who, what, std::strerror(err));
    return id;
  }
  spdlog::debug("rdma {}: accepted {} (depth {}, rd_atomic {}/{})", who, what, depth, param.responder_resources,
                param.initiator_depth);
  conns_.emplace(id, q);
  q->start();
  return nullptr;
}

// --- Sessions and queue lifecycle ------------------------------------------------

std::shared_ptr<RdmaSession> RdmaServer::create_session(LoginOutcome& out, std::string_view host,
                                                        const std::shared_ptr<RdmaQueue>& queue0) {
  auto s = std::make_shared<RdmaSession>();
  s->exp = out.exp;
  s->counted = stats::SessionCount(out.exp->stats(stats::Transport::rdma));
  s->limits = out.limits;
  s->keys.nr_queues = out.nr_queues;
  s->keys.queue_depth = out.queue_depth;
  auto ticket = random_bytes(RDMABLK_TICKET_LEN);
  std::copy(ticket.begin(), ticket.end(), s->keys.ticket.begin());
  s->queues.resize(size_t{out.nr_queues} + 1);
  s->queues[0] = queue0;
  s->peer = queue0->peer();
  {
    std::lock_guard lock(sessions_mutex_);
    uint64_t id = 0;
    while (id == 0 || sessions_.count(id)) {
      auto b = random_bytes(sizeof id);
      std::memcpy(&id, b.data(), sizeof id);
    }
    s->keys.id = id;
    sessions_.emplace(id, s);
  }
  s->name = fmt::format("session {:016x} (export '{}', host '{}')", s->keys.id, s->exp->name(), host);
  out.rsp.session_id = __cpu_to_le64(s->keys.id);
  std::memcpy(out.rsp.ticket, s->keys.ticket.data(), sizeof out.rsp.ticket);
  return s;
}

void RdmaServer::end_session(RdmaSession& s, const RdmaQueue* except, bool close_others) {
  std::vector<std::shared_ptr<RdmaQueue>> others;
  {
    std::lock_guard lock(sessions_mutex_);
    if (s.ended) return;
    s.ended = true;
    sessions_.erase(s.keys.id);
    if (close_others)
      for (auto& w : s.queues)
        if (auto q = w.lock(); q && q.get() != except) others.push_back(std::move(q));
  }
  for (auto& q : others) q->close("session ended");
}

// Called with sessions_mutex_ held, when connections that have not logged in
// fill --rdma-max-pending: a flood of them would otherwise keep every new
// initiator out until the login deadline frees a place. Room counts as made
// by an eviction under way (those still count until their queue finishes);
// else the oldest that had kEvictMinAge to log in is evicted. Bounded at
// twice the cap, in case evicted queues are slow to finish.
bool RdmaServer::make_room_for(const std::string& who) {
  if (pending_total_ >= 2 * options_.max_pending) return false;
  unsigned evicting = 0;
  RdmaQueue* oldest = nullptr;
  const auto now = std::chrono::steady_clock::now();
  for (const auto& [id, q] : conns_) {
    if (q->qid() != 0 || !q->pending_login()) continue;
    if (q->evicting()) {
      ++evicting;
    } else if (now - q->accepted_at() >= kEvictMinAge && (!oldest || q->accepted_at() < oldest->accepted_at())) {
      oldest = q.get();
    }
  }
  if (pending_total_ - std::min(evicting, pending_total_) < options_.max_pending) return true;
  if (!oldest) return false;
  oldest->evict(fmt::format("evicted: {} connections have not logged in (--rdma-max-pending), "
                            "this one for {} ms, the longest; room for {}",
                            pending_total_, std::chrono::duration_cast<std::chrono::milliseconds>(
                                                now - oldest->accepted_at()).count(), who));
  return true;
}

void RdmaServer::logged_in(const asio::ip::address& peer) {
  std::lock_guard lock(sessions_mutex_);
  if (auto it = pending_.find(peer); it != pending_.end()) {
    if (--it->second == 0) pending_.erase(it);
    --pending_total_;
  }
}

void RdmaServer::disconnect(std::shared_ptr<RdmaQueue> q) {
  asio::post(control_, [this, q = std::move(q)] {
    if (!conns_.count(q->id())) return;
    // Moves the QP to error, so everything posted completes (flushed).
    if (rdma_disconnect(q->id()) != 0 && q->id()->qp) {
      ibv_qp_attr attr{};
      attr.qp_state = IBV_QPS_ERR;
      ibv_modify_qp(q->id()->qp, &attr, IBV_QP_STATE);
    }
  });
}

void RdmaServer::queue_finished(std::shared_ptr<RdmaQueue> q) {
  asio::post(control_, [this, q = std::move(q)] {
    if (RdmaSession* s = q->session()) {
      std::lock_guard lock(sessions_mutex_);
      if (q->qid() < s->queues.size() && s->queues[q->qid()].lock() == q) s->queues[q->qid()].reset();
    }
    if (q->pending_login()) logged_in(q->peer());  // never did: no longer pending either
    rdma_cm_id* id = q->id();
    ibv_context* ctx = id->verbs;
    q->destroy_verbs();
    conns_.erase(id);
    rdma_destroy_id(id);
    maybe_release(ctx);
    maybe_drained();
  });
}

void RdmaServer::stop(std::function<void()> drained) {
  drained_ = std::move(drained);
  stopping_ = true;
  relisten_ = false;
  maintenance_timer_.cancel();
  listen_id_.reset();  // no new connections
  for (auto& [id, q] : conns_) q->stop();
  maybe_drained();
}

void RdmaServer::maybe_drained() {
  if (stopping_ && conns_.empty() && !drained_posted_ && drained_) {
    drained_posted_ = true;
    asio::post(control_, drained_);
  }
}

}  // namespace rdmablk::target
