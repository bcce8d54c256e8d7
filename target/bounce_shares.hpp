#pragma once
// Who may take which bounce buffer: the accounting of a worker's shared
// bounce pool (rdma_pool.hpp), apart from the registered memory so that it
// can be tested on its own.
//
// A queue may hold at most its share of the pool: the pool divided among
// the queues that hold or wait for a buffer (rounded up), but never less
// than a quarter of it (a burst may use much of an idle pool) and never more
// than half (what one queue took while alone is never all). An initiator
// that takes its responses slowly (one receive buffer every few seconds
// keeps its send queue moving, so the stall check never fires) holds its
// buffers for as long as it likes; the share bounds what that costs the
// other sessions of the worker.
//
// Requests wait in FIFO order for a free buffer. A request of a queue that
// already holds its share waits instead for one of that queue's own buffers
// to come back, then joins the FIFO behind the others. Used on one worker
// thread only, so no locks.
#include <cstddef>
#include <deque>
#include <utility>
#include <vector>

namespace rdmablk::target {

class BounceWaiter {
 public:
  virtual void buffer_ready(std::byte* buf) = 0;

 protected:
  ~BounceWaiter() = default;
};

// One queue's use of the pool.
class BounceHolder {
 public:
  unsigned held() const { return held_; }
  unsigned waiting() const { return queued_; }

 private:
  friend class BounceShares;
  unsigned held_ = 0;
  unsigned queued_ = 0;                 // in the pool's FIFO or in blocked_
  unsigned in_fifo_ = 0;                // of them in the pool's FIFO
  std::deque<BounceWaiter*> blocked_;   // wait for one of this queue's buffers
};

class BounceShares {
 public:
  // Takes the pool's buffers (count them all).
  explicit BounceShares(std::vector<std::byte*> buffers);

  // A buffer, or nullptr after queueing `w` (of `h`) for one.
  std::byte* get_or_wait(BounceHolder& h, BounceWaiter& w);
  // A waiter that goes away (its request is released, its queue torn down).
  void cancel(BounceHolder& h, BounceWaiter& w);
  // Gives `b` back; hands it to the oldest waiter that may take it, if any
  // (the waiter may call in again).
  void put(BounceHolder& h, std::byte* b);
  // A queue that is gone: buffers it still holds (a work request may still
  // reach them) are never handed out again.
  void leave(BounceHolder& h);

  // What one queue may hold now.
  unsigned share() const;
  unsigned total() const { return total_; }
  unsigned free() const { return static_cast<unsigned>(free_.size()); }
  unsigned active() const { return active_; }

 private:
  static bool busy(const BounceHolder& h) { return h.held_ + h.queued_ > 0; }
  void mark(const BounceHolder& h, bool was_busy);
  // Moves h's blocked waiters into the FIFO while its share allows.
  void promote(BounceHolder& h);
  // Hands free buffers to waiters that may take them.
  void dispatch();
  // The oldest waiter that may take a buffer, or nullptr; takes it off the FIFO.
  std::pair<BounceWaiter*, BounceHolder*> next_waiter();

  unsigned total_;
  unsigned active_ = 0;  // holders that hold or wait
  std::vector<std::byte*> free_;
  std::deque<std::pair<BounceWaiter*, BounceHolder*>> fifo_;
};

}  // namespace rdmablk::target
