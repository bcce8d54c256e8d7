#pragma once
// The RDMA listener: an rdma_cm listening id whose event channel lives in the
// control io_context. It judges each connect request (docs/protocol.md,
// "Connection setup"), rejects with a typed reason or builds an RdmaQueue on a
// worker (round robin) and accepts. It owns what queues share: per device a
// PD and the registered RAM exports, per worker and device a bounce pool,
// and the session table (login on queue 0 creates a session; I/O queues
// join it with its id and ticket). Every rdma_cm call happens on the
// control thread, so cm ids are never touched concurrently and are
// destroyed outside event processing.
//
// Device removal (RDMA_CM_EVENT_DEVICE_REMOVAL on the listener or on any
// connected id): every queue on the device closes, the listener bound to it
// is destroyed, and once the last queue is gone each worker drops its bounce
// pool for the device on its own thread, then the control thread
// deregisters the exports and frees the PD and lets librdmacm close its
// device context. Until then the kernel cannot finish removing a device
// that cannot disassociate userspace (rxe). A listener lost that way is
// bound again every few seconds, on the same address and port, until the
// address has an RDMA device again.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>  // boost/asio/awaitable.hpp uses std::exchange
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "connect_rate.hpp"
#include "export.hpp"
#include "rdma_login.hpp"
#include "rdma_pool.hpp"
#include "rdmablk/verbs.hpp"
#include "worker.hpp"

namespace rdmablk::target {

class RdmaQueue;

// One RDMA device as librdmacm opened it: the PD every QP on it uses, and
// the RAM exports registered whole (zero-copy command mode, and direct mode
// for exports open to all). Immutable once created, so queues on any thread
// read it without locks.
//
// Every QP of the device shares the PD, and an rkey is usable by any QP of
// its PD, even one that has not logged in. So only exports that anyone may
// open anyway get remote access (direct mode); exports with a secret or an
// allow list are registered for local access only, which keeps zero-copy
// command mode and leaves nothing to guess.
struct RdmaDevice {
  struct Region {
    verbs::Mr mr;
    bool direct = false;  // registered with remote access
  };
  ibv_context* ctx = nullptr;
  std::string name;
  ibv_device_attr attr{};
  verbs::Pd pd;
  std::map<const Export*, Region> regions;

  // For local use (the target's own RDMA READ/WRITE); nullptr: use bounce buffers.
  ibv_mr* region(const Export& e) const {
    auto it = regions.find(&e);
    return it == regions.end() ? nullptr : it->second.mr.get();
  }
  // For direct mode: nullptr unless the region allows remote access.
  ibv_mr* direct_region(const Export& e) const {
    auto it = regions.find(&e);
    return it == regions.end() || !it->second.direct ? nullptr : it->second.mr.get();
  }
};

// A login: one initiator's use of one export. Immutable after creation
// except `queues` and `ended`, which the server's mutex guards.
struct RdmaSession {
  SessionKeys keys;
  const Export* exp = nullptr;
  rdmablk_export_limits limits{};
  std::string name;  // for the log: "session 1a2b... (export 'x', host 'y')"
  // Queue 0's source address: I/O queues join only from there, so a ticket
  // seen on the wire is no key for another host (allow lists match by address).
  boost::asio::ip::address peer;
  // Index = qid; queue 0 is the login queue. Expired entries are free slots.
  std::vector<std::weak_ptr<RdmaQueue>> queues;
  bool ended = false;
  stats::SessionCount counted;  // in the export's sessions gauge while it lives
};

struct RdmaServerOptions {
  RdmaLimits limits;
  unsigned bounce_buffers = 16;  // per worker and device, of limits.max_io_size
  std::chrono::milliseconds drain_timeout{10'000};  // at shutdown
  bool poll = false;  // busy-poll CQs (lowest latency, one core per worker)
  // Adaptive polling: after a completion a queue keeps polling its CQ this
  // long before it arms it and sleeps (0: sleep at once). Catches the next
  // command of a busy initiator without a wakeup.
  std::chrono::microseconds spin{kDefaultSpin};
  static constexpr std::chrono::microseconds kDefaultSpin{200};
  // A queue 0 that received nothing for this long is disconnected; 0: never.
  std::chrono::milliseconds keepalive_timeout{RDMABLK_KEEPALIVE_TIMEOUT_MS};
  // A queue 0 that has not logged in this long after it was accepted is
  // disconnected; 0: never. Initiators log in at once (one round trip).
  std::chrono::milliseconds login_timeout{10'000};
  // Queue-0 connections not logged in yet, from all addresses together;
  // beyond it a new one evicts the oldest (if that had 1 s to log in), or
  // is rejected (NO_RESOURCES).
  unsigned max_pending = 256;
  // Queue-0 connections one source address may open, per second (0: no
  // limit) after a burst of connect_burst: what lets newcomers in while a
  // flood runs is a pending connection old enough to evict, and one address
  // must not replace them all faster than they age (connect_rate.hpp).
  double connect_rate = 16;
  unsigned connect_burst = 128;  // twice the count cap: a host starting many sessions at once is not slowed
};

class RdmaServer {
 public:
  RdmaServer(boost::asio::io_context& control, WorkerPool& workers, const ExportTable& exports,
             RdmaServerOptions options = {});
  ~RdmaServer();
  RdmaServer(const RdmaServer&) = delete;
  RdmaServer& operator=(const RdmaServer&) = delete;

  // Opens the devices, registers RAM exports, binds and listens ("::" falls
  // back to 0.0.0.0). Returns the bound port. Throws std::system_error.
  uint16_t listen(const std::string& address, uint16_t port);
  void start();
  // Stops accepting, lets every queue answer what it received and
  // disconnect; `drained` then runs on the control context.
  void stop(std::function<void()> drained);
  // Control thread: queues whose cm id is alive (for the metrics).
  size_t queues() const { return conns_.size(); }
  // Control thread, after the export table was reloaded: reads the secrets
  // of exports that are new to it. RAM exports added by a reload are not
  // registered: they are served through bounce buffers, without direct mode.
  void exports_reloaded();

  // ---- for queues ----
  const ExportTable& exports() const { return exports_; }
  const RdmaServerOptions& options() const { return options_; }
  // The secret of an export, nullptr when it could not be read.
  const std::string* secret(const Export& e) const;
  // The bounce pool of a worker for a device, created on first use; call on
  // that worker's thread. nullptr (logged) when it cannot be registered.
  BouncePool* bounce_pool(unsigned worker, RdmaDevice& dev);
  // Worker thread: registers a successful login and fills session id and
  // ticket into out.rsp. Throws std::runtime_error when no random bytes.
  std::shared_ptr<RdmaSession> create_session(LoginOutcome& out, std::string_view host,
                                              const std::shared_ptr<RdmaQueue>& queue0);
  // Any thread: forgets the session's ticket and closes its other queues
  // (unless the target is stopping: they then drain on their own).
  void end_session(RdmaSession& s, const RdmaQueue* except, bool close_others);
  // Worker thread: a queue 0 of this peer logged in (no longer pending).
  void logged_in(const boost::asio::ip::address& peer);
  // Any thread: rdma_disconnect on the control thread (moves the QP to error).
  void disconnect(std::shared_ptr<RdmaQueue> q);
  // Worker thread, once the queue has nothing in flight: the control thread
  // destroys its verbs objects and cm id.
  void queue_finished(std::shared_ptr<RdmaQueue> q);

 private:
  void watch_channel();
  void on_channel_readable();
  // Returns the cm id to destroy once the event is acknowledged, if any.
  rdma_cm_id* on_connect_request(rdma_cm_event& ev);
  void reject(rdma_cm_id* id, rdmablk_status status, const std::string& who, const std::string& why);
  // Control thread, sessions_mutex_ held, --rdma-max-pending reached: true
  // if a new queue 0 may come in (an eviction frees room).
  bool make_room_for(const std::string& who);
  RdmaDevice* device_for(ibv_context* ctx);
  void maybe_drained();
  // Binds and listens on addr:port; 0 or an errno.
  int bind_listener(const boost::asio::ip::address& addr, uint16_t port);
  // Device removal, control thread: close what lives on the device, then
  // release it (device_removed -> maybe_release -> finish_release).
  void device_removed(ibv_context* ctx);
  void maybe_release(ibv_context* ctx);
  void finish_release(ibv_context* ctx);
  // librdmacm closes a removed device's context when it next syncs its list.
  void sync_librdmacm_devices();
  // Every 2 s: retry a lost listener, watch_devices().
  void schedule_maintenance();
  void on_maintenance();
  // A device can go without any event (rdma_cm tells only the ids bound to
  // it): a device that left the verbs device list is released like one
  // whose removal event came.
  void watch_devices();

  boost::asio::io_context& control_;
  WorkerPool& workers_;
  const ExportTable& exports_;
  RdmaServerOptions options_;

  // Declared before the queues' users: PDs outlive pools and queues.
  std::unordered_map<ibv_context*, std::unique_ptr<RdmaDevice>> devices_;
  // Written on the control thread (listen, reload), read at login: guarded.
  mutable std::mutex secrets_mutex_;
  std::unordered_map<const Export*, std::string> secrets_;
  // pools_[worker] is touched only on that worker's thread.
  std::vector<std::map<ibv_context*, std::unique_ptr<BouncePool>>> pools_;

  verbs::EventChannel channel_;
  verbs::CmId listen_id_;
  boost::asio::ip::address listen_addr_;
  uint16_t listen_port_ = 0;
  bool relisten_ = false;  // the listener's device was removed: bind again
  // Control thread: devices being removed, and what was closed on them.
  struct Removal {
    std::string name;
    size_t queues = 0;
    bool listener = false;
    bool releasing = false;
  };
  std::unordered_map<ibv_context*, Removal> removing_;
  std::vector<ibv_device*> listed_devices_;  // the verbs device list, sorted, at the last look
  bool maintenance_scheduled_ = false;
  boost::asio::steady_timer maintenance_timer_;
  std::unique_ptr<boost::asio::posix::stream_descriptor> channel_fd_;

  std::mutex sessions_mutex_;
  std::unordered_map<uint64_t, std::shared_ptr<RdmaSession>> sessions_;
  // Queue-0 connections that have not logged in, per source address (under
  // sessions_mutex_): capped, so that one host cannot take every file
  // descriptor and connection slot without ever logging in.
  std::map<boost::asio::ip::address, unsigned> pending_;
  // Their sum, capped too: many addresses (or spoofed ones on a shared L2)
  // would otherwise fill the open-file limit all the same.
  unsigned pending_total_ = 0;
  // Per-address token buckets of queue-0 admission (under sessions_mutex_).
  ConnectRate connect_rate_;

  // Control thread only: every queue whose cm id is alive.
  std::unordered_map<rdma_cm_id*, std::shared_ptr<RdmaQueue>> conns_;
  bool stopping_ = false;
  bool drained_posted_ = false;
  std::function<void()> drained_;
};

}  // namespace rdmablk::target
