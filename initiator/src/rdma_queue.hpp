#pragma once
// One RDMA queue of a librdmablk session: an rdma_cm id with its RC QP, CQ,
// completion channel and event channel, a fixed set of request slots (the
// granted queue depth, allocated once) and its receive buffers. Runs on the
// client's I/O thread only (or on the opening thread before that starts);
// the channels' fds are watched by the client's io_context through
// posix::stream_descriptor, so nothing here ever blocks.
#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>  // Boost 1.74 asio needs std::exchange declared
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include "rdma_login.hpp"
#include "rdma_memory.hpp"
#include "rdmablk/client.hpp"
#include "rdmablk/proto.h"
#include "rdmablk/verbs.hpp"

namespace rdmablk::rdma {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

// Inline writes up to this size travel in the capsule (if the target
// allows); larger ones cost the target an RDMA READ, which is cheap then.
constexpr uint32_t kInlineCap = 4096;

// A request on its way from a submit call to a slot.
struct Request {
  uint8_t opcode = RDMABLK_OP_READ;
  bool fua = false;
  uint64_t offset = 0;
  uint32_t length = 0;
  std::byte* data = nullptr;  // READ/DISCOVER: destination; WRITE: source (never written)
  Completion done;
  bool local = false;  // complete with `status` without sending
  std::error_code status;
  // LOGIN: the bytes after the capsule.
  std::vector<std::byte> payload;
  // LOGIN, DISCOVER: sees the checked response and its payload, returns
  // the completion status.
  std::function<std::error_code(const rdmablk_rsp&, std::span<const std::byte>)> on_rsp;
};

// Runs a completion. Completions must not throw: an exception escaping one
// would leave a queue half updated, so it ends the program instead.
inline void invoke(Completion& done, std::error_code ec) noexcept {
  if (done) done(ec);
}

// What a queue tells its client.
class QueueEvents {
 public:
  // The session's registry for `device` (created by the first queue);
  // throws Error when queues land on different devices.
  virtual std::shared_ptr<MemoryRegistry> registry_for(ibv_context* device) = 0;
  virtual void on_slot_free() = 0;       // queued requests may go now
  virtual void on_dead(uint16_t qid) = 0;  // the queue failed or closed for good

 protected:
  ~QueueEvents() = default;
};

// What login granted that the data path needs (CPU byte order).
struct QueueLimits {
  bool direct = false;          // READ/WRITE as our own RDMA READ/WRITE
  uint64_t region_addr = 0;
  uint32_t region_rkey = 0;
  uint32_t max_inline = 0;      // inline WRITE limit (0: none)
  uint32_t max_io_size = 4096;  // largest bounce buffer a slot needs
  bool can_flush = false;       // direct FUA writes are followed by a FLUSH
};

class Queue {
 public:
  Queue(asio::io_context& io, uint16_t qid, std::string peer, QueueEvents& events, std::chrono::milliseconds timeout);
  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;
  ~Queue();

  uint16_t qid() const { return qid_; }
  // Starts resolving, creating the QP and connecting with `req` as the
  // private data; progress comes through the io_context. Check ready() /
  // failed(); setup_error() says why it failed.
  void start_connect(const sockaddr* dst, const rdmablk_cm_req& req);
  bool ready() const { return state_ == State::connected; }
  bool failed() const { return state_ == State::dead; }
  const Error& setup_error() const { return *setup_error_; }
  const CmAccept& accept() const { return accept_; }
  void set_limits(const QueueLimits& lim);
  // Until the client is open its failures reach the caller as the thrown
  // error; afterwards they are logged as warnings too.
  void set_quiet(bool quiet) { quiet_ = quiet; }
  // Poll mode: spin on the CQ while requests are in flight (see spin());
  // without it the queue polls adaptively, a short window after each post
  // or completion, then sleeps on the completion channel.
  void set_poll(bool poll);

  bool alive() const { return state_ == State::connected; }
  bool has_free_slot() const { return !free_.empty(); }
  // A direct-mode read also needs one of the QP's RDMA READ credits.
  bool can_take(const Request& r) const;
  bool idle() const { return free_.size() == granted_; }
  Clock::time_point last_send() const { return last_send_; }

  // Takes a free slot (can_take() must hold) and posts the request; its
  // completion runs once the target (or our own RDMA operation) is done.
  void post(Request&& r, Clock::time_point deadline);
  // Fails the queue with ETIMEDOUT if a request's deadline has passed.
  void check_deadlines(Clock::time_point now);
  // Clean end after the last answer: rdma_disconnect, stop watching.
  void close();
  // Moves the QP to the error state, completes every request in a slot
  // with `why`, and tells the client.
  void fail(std::error_code why, const std::string& reason);

 private:
  enum class State : uint8_t {
    idle,             // id not created yet
    resolving_addr,   // rdma_resolve_addr issued
    resolving_route,  // rdma_resolve_route issued
    connecting,       // QP created, rdma_connect issued
    connected,        // established: carries commands
    dead,             // failed or closed; every slot is free
  };

  struct Slot {
    enum class State : uint8_t {
      free,     // on the free list
      command,  // capsule SEND posted: waits for its send completion and the response
      direct,   // our own RDMA READ/WRITE posted: waits for its completion
    };
    State state = State::free;
    uint16_t generation = 0;  // in the tag and wr_id: stale answers never match
    Request req;
    Clock::time_point deadline;
    bool send_done = false;    // the capsule's SEND completed (its buffer is free again)
    bool rsp_done = false;     // the response arrived
    bool holds_read = false;   // holds an RDMA READ credit
    bool bounced = false;      // the data goes through `bounce`
    std::error_code result;    // of the response, once it arrived
    rdmablk_cmd* cmd = nullptr;  // the capsule in send_area_, payload after it
    Buffer bounce;             // for memory that is not registered; grows on demand
  };

  void setup_failed(Error e);
  void watch_cm();
  void on_cm_event(rdma_cm_event_type type, int status, std::span<const std::byte> pdata);
  void create_qp();
  void watch_cq();
  int drain_cq();  // completions handled
  void rearm_and_drain();
  void start_spin();
  void spin();
  void on_wc(const ibv_wc& wc);
  void on_recv(const ibv_wc& wc, uint32_t index);
  void post_recv(uint32_t index);
  void post_command(uint32_t index);
  void post_direct(uint32_t index);
  // Where the data of slot `index` moves from/to: the caller's memory when
  // registered, else the slot's bounce buffer. Returns false after failing
  // the queue (no memory for a bounce buffer).
  bool map_data(uint32_t index, Access a, uint64_t& addr, Keys& keys);
  bool post_send(ibv_send_wr& wr);
  void maybe_finish(uint32_t index);
  void finish(uint32_t index, std::error_code ec);
  std::string describe(const Slot& s) const;

  asio::io_context& io_;
  uint16_t qid_;
  std::string peer_;
  QueueEvents& events_;
  std::chrono::milliseconds timeout_;
  State state_ = State::idle;
  bool quiet_ = true;
  bool poll_ = false;
  Clock::duration spin_busy_, spin_idle_;  // spin windows, requests in flight / none
  bool spinning_ = false;  // poll mode: a spin() pass is posted; the CQ is not armed meanwhile
  Clock::time_point last_activity_;  // poll mode: last post or completion
  std::optional<Error> setup_error_;
  rdmablk_cm_req req_{};
  uint16_t depth_ = 0;       // asked for; slots and receives
  uint32_t granted_ = 0;     // slots on the free list
  CmAccept accept_;
  QueueLimits lim_;
  unsigned read_credits_ = 0;      // RDMA READs we may still start (direct mode)
  unsigned max_read_credits_ = 0;  // the QP's max_rd_atomic
  Clock::time_point last_send_ = Clock::now();
  uint32_t send_stride_ = 0;

  // Members die in reverse: descriptors (dups) and slots first, then MRs,
  // QP, CQ, completion channel, id, event channel and last the registry's PD.
  std::shared_ptr<MemoryRegistry> registry_;
  verbs::EventChannel channel_;
  verbs::CmId id_;
  verbs::CompChannel comp_;
  verbs::Cq cq_;
  verbs::Qp qp_;
  Buffer send_area_, recv_area_;
  verbs::Mr send_mr_, recv_mr_;
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_;
  std::optional<asio::posix::stream_descriptor> cm_fd_, cq_fd_;
};

// Runs io's handlers until `done()` holds; throws Error(ETIMEDOUT) naming
// `what` at the deadline.
void run_until(asio::io_context& io, const std::function<bool()>& done, Clock::time_point deadline,
               const std::string& peer, const std::string& what);

}  // namespace rdmablk::rdma
