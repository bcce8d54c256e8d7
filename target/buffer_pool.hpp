#pragma once
// Page-aligned I/O buffers for one worker thread, recycled by size class
// (powers of two from 4 KiB), so steady-state requests allocate nothing.
// Page alignment lets file backends use O_DIRECT on them.
#include <array>
#include <cstddef>
#include <utility>
#include <vector>

namespace rdmablk::target {

class BufferPool {
 public:
  static constexpr size_t kMinSize = 4096;
  static constexpr size_t kClasses = 14;  // 4 KiB .. 32 MiB

  class Buffer {
   public:
    Buffer() = default;
    Buffer(Buffer&& o) noexcept
        : pool_(std::exchange(o.pool_, nullptr)), data_(std::exchange(o.data_, nullptr)),
          cls_(o.cls_) {}
    Buffer& operator=(Buffer&& o) noexcept {
      if (this != &o) {
        reset();
        pool_ = std::exchange(o.pool_, nullptr);
        data_ = std::exchange(o.data_, nullptr);
        cls_ = o.cls_;
      }
      return *this;
    }
    ~Buffer() { reset(); }

    std::byte* data() const { return data_; }
    size_t capacity() const { return kMinSize << cls_; }
    explicit operator bool() const { return data_ != nullptr; }
    void reset();

   private:
    friend class BufferPool;
    Buffer(BufferPool* pool, std::byte* data, unsigned cls) : pool_(pool), data_(data), cls_(cls) {}

    BufferPool* pool_ = nullptr;
    std::byte* data_ = nullptr;
    unsigned cls_ = 0;
  };

  // Keeps at most `max_cached` bytes of idle buffers.
  explicit BufferPool(size_t max_cached = size_t{128} << 20) : max_cached_(max_cached) {}
  ~BufferPool();
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  // A buffer of at least `size` bytes (size <= 32 MiB). Throws std::bad_alloc.
  Buffer get(size_t size);

 private:
  void put(std::byte* data, unsigned cls);

  std::array<std::vector<std::byte*>, kClasses> free_;
  size_t cached_ = 0;
  size_t max_cached_;
};

}  // namespace rdmablk::target
