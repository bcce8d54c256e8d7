#pragma once
// Bounce buffers for exports whose bytes are not in registered memory (files,
// block devices): one registered slab per worker and device, cut into
// max_io_size buffers. Requests that find it empty wait in FIFO order instead
// of failing; a returned buffer goes straight to the first waiter. Used only
// on its worker's thread, so no locks.
#include <algorithm>
#include <cstddef>
#include <deque>
#include <vector>

#include "verbs.hpp"

namespace rdmablk::target {

class BounceWaiter {
 public:
  virtual void buffer_ready(std::byte* buf) = 0;

 protected:
  ~BounceWaiter() = default;
};

class BouncePool {
 public:
  // Throws std::system_error when the slab cannot be allocated or registered.
  BouncePool(ibv_pd* pd, size_t buffer_size, unsigned count)
      : slab_(pd, buffer_size * count, IBV_ACCESS_LOCAL_WRITE), buffer_size_(buffer_size) {
    for (unsigned i = count; i-- > 0;) free_.push_back(slab_.data() + i * buffer_size);
  }

  size_t buffer_size() const { return buffer_size_; }
  uint32_t lkey() const { return slab_.lkey(); }

  // A buffer, or nullptr after queueing `w` for the next one returned.
  std::byte* get_or_wait(BounceWaiter& w) {
    if (free_.empty()) {
      waiters_.push_back(&w);
      return nullptr;
    }
    std::byte* b = free_.back();
    free_.pop_back();
    return b;
  }
  // A waiter that goes away (its queue is torn down).
  void cancel(BounceWaiter& w) { waiters_.erase(std::remove(waiters_.begin(), waiters_.end(), &w), waiters_.end()); }
  // Hands the buffer to the oldest waiter, if any, as the last thing it does.
  void put(std::byte* b) {
    if (waiters_.empty()) {
      free_.push_back(b);
      return;
    }
    BounceWaiter* w = waiters_.front();
    waiters_.pop_front();
    w->buffer_ready(b);
  }

 private:
  verbs::RegisteredBuffer slab_;
  size_t buffer_size_;
  std::vector<std::byte*> free_;
  std::deque<BounceWaiter*> waiters_;
};

}  // namespace rdmablk::target
