#pragma once
// A FIFO that keeps its storage: once it has grown to the largest backlog
// seen, push and pop never allocate (std::deque allocates a node every few
// elements, which is every few requests on a busy client).
#include <cstddef>
#include <utility>
#include <vector>

namespace rdmablk {

template <class T>
class Fifo {
 public:
  bool empty() const { return head_ == items_.size(); }
  T& front() { return items_[head_]; }
  void push(T&& v) { items_.push_back(std::move(v)); }

  T pop() {
    T v = std::move(items_[head_++]);
    if (empty()) {
      items_.clear();  // keeps the capacity
      head_ = 0;
    } else if (head_ >= 64 && 2 * head_ >= items_.size()) {
      // A backlog that never drains: drop the consumed half now and then.
      items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
    return v;
  }

 private:
  std::vector<T> items_;  // [head_, size) are queued
  size_t head_ = 0;
};

}  // namespace rdmablk
