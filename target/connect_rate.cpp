// Token buckets per source address for queue-0 admission (connect_rate.hpp).
#include "connect_rate.hpp"

#include <algorithm>

namespace rdmablk::target {

ConnectRate::ConnectRate(double rate, double burst, size_t max_tracked)
    : rate_(std::max(rate, 0.0)), burst_(std::max(burst, 1.0)), max_tracked_(std::max<size_t>(max_tracked, 1)) {}

void ConnectRate::refill(Bucket& b, Clock::time_point now) const {
  if (now <= b.last) return;  // the caller's clock never goes back; ignore if it does
  const double secs = std::chrono::duration<double>(now - b.last).count();
  b.tokens = std::min(burst_, b.tokens + secs * rate_);
  b.last = now;
}

void ConnectRate::forget_full(Clock::time_point now) {
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    refill(it->second, now);
    it = it->second.tokens >= burst_ ? buckets_.erase(it) : std::next(it);
  }
}

bool ConnectRate::ready(const boost::asio::ip::address& source, Clock::time_point now) {
  if (!enabled()) return true;
  auto it = buckets_.find(source);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_tracked_) forget_full(now);
    // Still over: each remaining bucket is partly drained, i.e. its source
    // connected within the last burst/rate seconds, so the map stays bounded
    // by the connect rate times that (and shrinks once they stop).
    it = buckets_.emplace(source, Bucket{burst_, now}).first;
  }
  refill(it->second, now);
  return it->second.tokens >= 1.0;
}

void ConnectRate::take(const boost::asio::ip::address& source) {
  if (!enabled()) return;
  if (auto it = buckets_.find(source); it != buckets_.end()) it->second.tokens = std::max(0.0, it->second.tokens - 1.0);
}

double ConnectRate::wait_seconds(const boost::asio::ip::address& source) const {
  if (!enabled()) return 0;
  auto it = buckets_.find(source);
  if (it == buckets_.end() || it->second.tokens >= 1.0) return 0;
  return (1.0 - it->second.tokens) / rate_;
}

}  // namespace rdmablk::target
