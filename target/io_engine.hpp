#pragma once
// Per-worker asynchronous file I/O: one io_uring per worker thread, its
// completions announced through an eventfd that the worker's io_context
// watches, so the loop never blocks. Where io_uring is unavailable (old
// kernel, seccomp, io_uring_disabled) the same calls run as blocking
// syscalls on a small shared thread pool.
#include <cstdint>
#include <functional>
#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include "backend.hpp"

namespace rdmablk::target {

class IoEngine {
 public:
  // use_uring = false forces the thread-pool path (tests cover both).
  IoEngine(boost::asio::io_context& ctx, boost::asio::thread_pool& blocking, bool use_uring = true,
           unsigned entries = 256);
  ~IoEngine();
  IoEngine(const IoEngine&) = delete;
  IoEngine& operator=(const IoEngine&) = delete;

  bool uses_uring() const { return ring_ != nullptr; }
  boost::asio::io_context& context() { return ctx_; }

  // Each call ends with io.progress.on_event(*this, io, result) on the
  // worker's thread; result is >= 0 (bytes, or 0) or -errno.
  void read(int fd, std::byte* buf, uint32_t len, uint64_t offset, Io& io);
  // dsync: RWF_DSYNC, the write is durable when it completes (FUA).
  void write(int fd, const std::byte* buf, uint32_t len, uint64_t offset, bool dsync, Io& io);
  void fdatasync(int fd, Io& io);
  void fallocate(int fd, int mode, uint64_t offset, uint64_t len, Io& io);
  // For syscalls io_uring lacks (BLKDISCARD): fn runs on the blocking pool
  // and returns a result in the same convention.
  void blocking(Io& io, std::function<int()> fn);

 private:
  class Ring;

  boost::asio::io_context& ctx_;
  boost::asio::thread_pool& pool_;
  std::unique_ptr<Ring> ring_;
};

}  // namespace rdmablk::target
