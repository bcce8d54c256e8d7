#include "buffer_pool.hpp"

#include <bit>
#include <cstdlib>
#include <new>

namespace rdmablk::target {

void BufferPool::Buffer::reset() {
  if (data_) pool_->put(std::exchange(data_, nullptr), cls_);
}

BufferPool::~BufferPool() {
  for (auto& list : free_)
    for (std::byte* p : list) std::free(p);
}

BufferPool::Buffer BufferPool::get(size_t size) {
  size_t rounded = std::bit_ceil(size < kMinSize ? kMinSize : size);
  auto cls = static_cast<unsigned>(std::countr_zero(rounded / kMinSize));
  if (cls >= kClasses) throw std::bad_alloc();
  auto& list = free_[cls];
  if (!list.empty()) {
    std::byte* p = list.back();
    list.pop_back();
    cached_ -= rounded;
    return Buffer(this, p, cls);
  }
  void* p = std::aligned_alloc(kMinSize, rounded);
  if (p == nullptr) throw std::bad_alloc();
  return Buffer(this, static_cast<std::byte*>(p), cls);
}

void BufferPool::put(std::byte* data, unsigned cls) {
  size_t size = kMinSize << cls;
  if (cached_ + size > max_cached_) {
    std::free(data);
    return;
  }
  free_[cls].push_back(data);
  cached_ += size;
}

}  // namespace rdmablk::target
