#pragma once
// One RDMA queue: an RC queue pair with its CQ, receive buffers and
// requests, serving one initiator queue (docs/protocol.md). Created and
// destroyed on the control thread (rdma_cm lives there); everything in
// between runs on its worker's thread: completions arrive through the CQ's
// completion channel fd, watched by the worker's io_context.
//
// Flow control: the initiator may have `depth` commands outstanding and
// `depth` receive buffers are posted. A receive buffer is reposted before
// the response that frees its command slot is posted, so an initiator that
// keeps to the depth never meets an empty receive queue. There are 2 *
// depth requests (a response may still be on the wire while the next
// command arrives) and the send queue holds 2 work requests per request,
// so posting never overflows it; a command that finds no free request
// waits, FIFO, with its receive buffer held (back-pressure, not failure).
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "backend.hpp"
#include "rdma_login.hpp"
#include "rdma_pool.hpp"
#include "rdmablk/verbs.hpp"

namespace rdmablk::target {

class RdmaServer;
class Worker;
struct RdmaDevice;
struct RdmaSession;

struct RdmaQueueParams {
  RdmaServer* server = nullptr;
  Worker* worker = nullptr;
  RdmaDevice* dev = nullptr;
  rdma_cm_id* id = nullptr;
  uint16_t qid = 0;
  uint16_t depth = 1;         // granted queue depth
  uint32_t max_inline = 0;    // payload bytes after a capsule in each receive buffer
  boost::asio::ip::address peer;
  std::string name;           // "192.0.2.1:45678 q0", for the log
  std::array<uint8_t, RDMABLK_NONCE_LEN> nonce{};  // queue 0
  bool poll = false;          // busy-poll the CQ instead of waiting for events
  std::chrono::microseconds spin{0};  // adaptive polling window after a completion
  // Queue 0 is closed when nothing arrived for this long (0: never).
  std::chrono::milliseconds keepalive_timeout{RDMABLK_KEEPALIVE_TIMEOUT_MS};
  // Queue 0 is closed when it has not logged in this long after start() (0: never).
  std::chrono::milliseconds login_timeout{0};
  std::shared_ptr<RdmaSession> session;             // I/O queues
  bool pending_login = false;  // queue 0 counted in the server's not-logged-in count
};

// Send and receive queue sizes for a granted depth (the CQ holds both).
struct RdmaQueueSizes {
  uint32_t requests;
  uint32_t send_wr;
  uint32_t recv_wr;
  uint32_t cqe;
};
RdmaQueueSizes rdma_queue_sizes(uint16_t depth);
// The largest depth a device can give one queue (max_qp_wr, max_cqe).
uint16_t rdma_max_depth(const ibv_device_attr& attr);

class RdmaQueue : public std::enable_shared_from_this<RdmaQueue> {
 public:
  // Control thread: creates CQ, QP and buffers on `p.id` and posts the
  // receive buffers. Throws std::system_error.
  explicit RdmaQueue(RdmaQueueParams p);
  ~RdmaQueue();
  RdmaQueue(const RdmaQueue&) = delete;
  RdmaQueue& operator=(const RdmaQueue&) = delete;

  rdma_cm_id* id() const { return id_; }
  uint16_t qid() const { return qid_; }
  const std::string& name() const { return name_; }
  Worker& worker() const { return worker_; }
  RdmaSession* session() const { return session_.get(); }
  const boost::asio::ip::address& peer() const { return peer_; }
  // Queue 0 still counted as not logged in (any thread: the worker clears it).
  bool pending_login() const { return pending_login_; }
  // When it was created, just before rdma_accept().
  std::chrono::steady_clock::time_point accepted_at() const { return accepted_at_; }
  // Control thread: evict() was called (so it is no longer counted as room taken).
  bool evicting() const { return evicting_; }

  // Any thread; each posts to the worker.
  void start();                           // after rdma_accept: watch the CQ
  void established();                     // the CM says the connection is up
  void close(std::string reason);         // disconnect now (peer left, session ended, error)
  void stop();                            // target shutdown: finish what arrived, then close
  // Control thread: closes a queue 0 that has not logged in, to make room
  // for a newer connection (a no-op if it logs in meanwhile).
  void evict(std::string reason);

  // Control thread, after the worker reported the queue finished: destroys
  // QP, CQ and buffers (the cm id is the server's to destroy).
  void destroy_verbs();

 private:
  // A command's life. Requests move forward through these states; any of
  // them may meet a closing queue, which lets it finish without answering.
  enum class State : uint8_t {
    free,          // on the free list
    need_buffer,   // validated; waits in the bounce pool's FIFO for a buffer
    reading_data,  // WRITE: RDMA READ of the initiator's buffer posted
    executing,     // the backend works on it (read, write, flush, discard, zeroes)
    responding,    // response SEND posted (after the RDMA WRITE of READ/DISCOVER data)
  };

  struct Request final : Io {
    explicit Request(RdmaQueue& q) : queue(q) {}
    void complete(int error) override { queue.on_backend_done(*this, error); }

    RdmaQueue& queue;
    uint32_t index = 0;
    State state = State::free;
    rdmablk_cmd cmd{};
    int recv = -1;                 // receive buffer held (inline WRITE payload), or -1
    bool invalidate = false;       // answer with SEND_WITH_INV(cmd.rkey)
    bool region_io = false;        // data moves straight to/from the registered export
    bool before_stop = false;      // received before stop(): must be answered
    std::byte* bounce = nullptr;   // bounce buffer held
    uint32_t lkey = 0;             // of the local data buffer
    uint8_t wrs = 0;               // send work requests not yet completed
    rdmablk_status status = RDMABLK_S_SUCCESS;
    uint32_t rsp_length = 0;
    stats::Stamp started{};        // arrival, for the latency histogram
    std::unique_ptr<verbs::RegisteredBuffer> scratch;  // DISCOVER list
    struct Waiter final : BounceWaiter {
      explicit Waiter(Request& r) : req(r) {}
      void buffer_ready(std::byte* buf) override { req.queue.on_bounce_ready(req, buf); }
      Request& req;
    } waiter{*this};
  };

  // wr_id: rdmablk/wr_id.hpp (rdma = the data transfer).
  using WrKind = verbs::WrKind;

  // Worker thread.
  void watch_cq();
  void watch_keepalive();
  void watch_login();
  void sends_posted(uint32_t n);  // count them; watch for a stalled send queue
  void watch_send_stall();
  void on_cq_readable();
  void spin_pass();
  void sleep_or_spin(int handled);
  int poll_cq();  // completions handled
  void on_completion(const ibv_wc& wc);
  void on_recv(uint32_t buf, uint32_t len);
  void dispatch(uint32_t buf, uint32_t len);
  void execute(Request& r);
  void do_login(Request& r, const rdmablk_login_req& req);
  void do_discover(Request& r);
  void start_read(Request& r);
  void start_write(Request& r);
  void on_bounce_ready(Request& r, std::byte* buf);
  void with_buffer(Request& r);
  void post_rdma_read(Request& r);
  void submit(Request& r, IoOp op, std::byte* data);
  void on_backend_done(Request& r, int error);
  void respond(Request& r, rdmablk_status status, uint32_t length = 0);
  void post_response(Request& r, bool with_data);
  void release(Request& r);
  void repost(uint32_t buf);
  bool post_recv(uint32_t buf);
  std::byte* recv_data(uint32_t buf) const;
  std::byte* send_slot(const Request& r) const;
  BouncePool* bounce_pool();
  ibv_mr* export_region() const;
  void begin_close(std::string reason, bool error);
  void maybe_finished();
  void check_stop_done();

  RdmaServer& server_;
  Worker& worker_;
  RdmaDevice& dev_;
  rdma_cm_id* id_;
  const uint16_t qid_;
  const uint16_t depth_;
  const uint32_t max_inline_;
  const boost::asio::ip::address peer_;
  const std::string name_;
  const std::array<uint8_t, RDMABLK_NONCE_LEN> nonce_;
  const RdmaQueueSizes sizes_;
  const uint32_t recv_size_;

  // Verbs objects in creation order: destroyed in reverse by destroy_verbs().
  verbs::CompChannel channel_;
  verbs::Cq cq_;
  verbs::Qp qp_;
  verbs::RegisteredBuffer recv_bufs_;
  verbs::RegisteredBuffer send_bufs_;
  std::optional<boost::asio::posix::stream_descriptor> channel_fd_;
  boost::asio::steady_timer timer_;  // drain timeout at stop, flush timeout at close
  boost::asio::steady_timer keepalive_timer_;
  boost::asio::steady_timer login_timer_;  // queue 0 until it logs in
  boost::asio::steady_timer stall_timer_;  // a send queue that completes nothing
  std::chrono::steady_clock::time_point last_send_progress_;
  bool stall_watch_ = false;
  const bool poll_;
  const std::chrono::steady_clock::duration spin_;  // how long to poll after the last completion
  const std::chrono::milliseconds keepalive_timeout_;
  const std::chrono::milliseconds login_timeout_;
  std::chrono::steady_clock::time_point last_recv_;
  std::chrono::steady_clock::time_point last_completion_;  // poll mode: spin while recent

  // Session state: set at login (queue 0) or join (I/O queues).
  std::shared_ptr<RdmaSession> session_;
  rdmablk_export_limits limits_{};
  const Export* export_ = nullptr;
  bool logged_in_ = false;
  bool login_failed_ = false;  // disconnect once the answer is out
  std::atomic<bool> pending_login_{false};  // counted by the server until login
  const std::chrono::steady_clock::time_point accepted_at_ = std::chrono::steady_clock::now();
  bool evicting_ = false;  // control thread

  std::vector<std::unique_ptr<Request>> requests_;
  std::vector<Request*> free_;
  std::deque<std::pair<uint32_t, uint32_t>> waiting_recvs_;  // (buffer, length) without a request
  BouncePool* pool_ = nullptr;
  BounceHolder holder_;  // this queue's buffers of pool_ and its share
  uint32_t recv_posted_ = 0;
  uint32_t send_posted_ = 0;
  uint32_t executing_ = 0;     // requests inside the backend
  uint32_t in_use_ = 0;        // requests not free
  uint32_t before_stop_ = 0;   // requests received before stop() still in use
  uint64_t served_ = 0;
  uint64_t wakeups_ = 0;  // completion-channel events that woke the worker (adaptive polling saves them)

  bool watching_ = false;
  bool stopping_ = false;
  bool closing_ = false;
  bool finished_ = false;
  bool flush_timed_out_ = false;
  std::string close_reason_;
};

}  // namespace rdmablk::target
