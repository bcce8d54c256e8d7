#pragma once
// Bounce buffers for exports whose bytes are not in registered memory (files,
// block devices): one registered slab per worker and device, cut into
// max_io_size buffers. Requests that find it empty wait in FIFO order instead
// of failing; each queue may hold at most its share of the pool
// (bounce_shares.hpp). Used only on its worker's thread, so no locks; the
// metrics' target-wide gauges (stats.hpp) follow it with relaxed adds.
#include <cstddef>
#include <utility>
#include <vector>

#include "bounce_shares.hpp"
#include "rdmablk/verbs.hpp"
#include "stats.hpp"

namespace rdmablk::target {

class BouncePool {
 public:
  // Throws std::system_error when the slab cannot be allocated or registered.
  BouncePool(ibv_pd* pd, size_t buffer_size, unsigned count)
      : slab_(pd, buffer_size * count, IBV_ACCESS_LOCAL_WRITE),
        buffer_size_(buffer_size),
        shares_(cut(slab_, buffer_size, count)) {
    stats::target().bounce_total.fetch_add(count, std::memory_order_relaxed);
  }
  ~BouncePool() {
    stats::target().bounce_total.fetch_sub(shares_.total(), std::memory_order_relaxed);
    stats::target().bounce_in_use.fetch_sub(published_, std::memory_order_relaxed);
  }
  BouncePool(const BouncePool&) = delete;
  BouncePool& operator=(const BouncePool&) = delete;

  size_t buffer_size() const { return buffer_size_; }
  uint32_t lkey() const { return slab_.lkey(); }

  // A buffer, or nullptr after queueing `w` for the next one `h` may take.
  std::byte* get_or_wait(BounceHolder& h, BounceWaiter& w) {
    std::byte* b = shares_.get_or_wait(h, w);
    if (!b) stats::target().bounce_waits.fetch_add(1, std::memory_order_relaxed);
    follow();
    return b;
  }
  // A waiter that goes away (its queue is torn down).
  void cancel(BounceHolder& h, BounceWaiter& w) { shares_.cancel(h, w); }
  // Hands the buffer to the oldest waiter that may take it, if any.
  void put(BounceHolder& h, std::byte* b) {
    shares_.put(h, b);  // may hand it on, and the waiter may call in again
    follow();
  }
  // A queue that is gone; what it still holds is never handed out again.
  void leave(BounceHolder& h) { shares_.leave(h); }

 private:
  // Publishes what changed in the buffers lent since the last call (nested
  // calls publish their part, the outer one the rest).
  void follow() {
    const auto in_use = static_cast<int64_t>(shares_.total() - shares_.free());
    if (in_use != published_)
      stats::target().bounce_in_use.fetch_add(in_use - std::exchange(published_, in_use), std::memory_order_relaxed);
  }

  static std::vector<std::byte*> cut(verbs::RegisteredBuffer& slab, size_t size, unsigned count) {
    std::vector<std::byte*> v;
    for (unsigned i = count; i-- > 0;) v.push_back(slab.data() + i * size);
    return v;
  }

  verbs::RegisteredBuffer slab_;
  size_t buffer_size_;
  BounceShares shares_;
  int64_t published_ = 0;  // buffers lent, as the in-use gauge has it
};

}  // namespace rdmablk::target
