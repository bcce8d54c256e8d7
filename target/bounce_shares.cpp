#include "bounce_shares.hpp"

#include <algorithm>

namespace rdmablk::target {

BounceShares::BounceShares(std::vector<std::byte*> buffers)
    : total_(static_cast<unsigned>(buffers.size())), free_(std::move(buffers)) {}

unsigned BounceShares::share() const {
  const unsigned n = std::max(active_, 1u);
  const unsigned fair = (total_ + n - 1) / n;  // rounded up: no buffer idles while some wait
  const unsigned floor = (total_ + 3) / 4;
  const unsigned half = (total_ + 1) / 2;
  return std::max(1u, std::min(half, std::max(fair, floor)));
}

void BounceShares::mark(const BounceHolder& h, bool was_busy) {
  if (was_busy && !busy(h)) --active_;
  if (!was_busy && busy(h)) ++active_;
}

std::byte* BounceShares::get_or_wait(BounceHolder& h, BounceWaiter& w) {
  if (!busy(h)) ++active_;  // counts in the share it is measured against
  if (h.held_ + h.in_fifo_ >= share()) {
    h.blocked_.push_back(&w);
    ++h.queued_;
    return nullptr;
  }
  if (!free_.empty()) {
    std::byte* b = free_.back();
    free_.pop_back();
    ++h.held_;
    return b;
  }
  fifo_.emplace_back(&w, &h);
  ++h.queued_;
  ++h.in_fifo_;
  return nullptr;
}

void BounceShares::cancel(BounceHolder& h, BounceWaiter& w) {
  const bool was = busy(h);
  if (auto it = std::find(h.blocked_.begin(), h.blocked_.end(), &w); it != h.blocked_.end()) {
    h.blocked_.erase(it);
    --h.queued_;
  } else if (auto f = std::find(fifo_.begin(), fifo_.end(), std::make_pair(&w, &h)); f != fifo_.end()) {
    fifo_.erase(f);
    --h.queued_;
    --h.in_fifo_;
    promote(h);
  }
  mark(h, was);
  dispatch();  // a waiter promoted above may find a free buffer
}

void BounceShares::put(BounceHolder& h, std::byte* b) {
  const bool was = busy(h);
  --h.held_;
  promote(h);
  mark(h, was);
  free_.push_back(b);
  dispatch();
}

void BounceShares::leave(BounceHolder& h) {
  const bool was = busy(h);
  total_ -= h.held_;  // leaked, not handed to another request
  h.held_ = 0;
  // Normally none: a closing queue cancels its waiters first.
  for (auto it = fifo_.begin(); it != fifo_.end();)
    it = it->second == &h ? fifo_.erase(it) : std::next(it);
  h.blocked_.clear();
  h.queued_ = h.in_fifo_ = 0;
  mark(h, was);
}

void BounceShares::promote(BounceHolder& h) {
  while (!h.blocked_.empty() && h.held_ + h.in_fifo_ < share()) {
    fifo_.emplace_back(h.blocked_.front(), &h);
    h.blocked_.pop_front();
    ++h.in_fifo_;
  }
}

void BounceShares::dispatch() {
  // State is re-read after each call: a waiter may call in again.
  while (!free_.empty()) {
    auto [w, h] = next_waiter();
    if (!w) return;
    std::byte* b = free_.back();
    free_.pop_back();
    w->buffer_ready(b);
  }
}

std::pair<BounceWaiter*, BounceHolder*> BounceShares::next_waiter() {
  while (!fifo_.empty()) {
    auto [w, h] = fifo_.front();
    fifo_.pop_front();
    --h->in_fifo_;
    if (h->held_ >= share()) {
      // Its share shrank (more queues busy) since it queued: wait for its own.
      h->blocked_.push_front(w);
      continue;
    }
    --h->queued_;
    ++h->held_;
    return {w, h};
  }
  return {nullptr, nullptr};
}

}  // namespace rdmablk::target
