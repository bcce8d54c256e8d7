#include "io_engine.hpp"

#include <fcntl.h>
#include <liburing.h>
#include <sys/eventfd.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include "fd.hpp"

namespace rdmablk::target {

namespace asio = boost::asio;

namespace {

int result_or_errno(ssize_t r) { return r < 0 ? -errno : static_cast<int>(r); }

std::once_flag fallback_logged;

}  // namespace

// An io_uring whose completions wake the worker's io_context through an
// eventfd. Every SQE's user_data is the Io it belongs to.
class IoEngine::Ring {
 public:
  // Returns nullptr (and the errno in `error`) when io_uring is unusable.
  static std::unique_ptr<Ring> create(IoEngine& engine, unsigned entries, int& error) {
    auto ring = std::unique_ptr<Ring>(new Ring(engine));
    // Only the worker thread submits: SINGLE_ISSUER (5.19+) lets the kernel
    // skip the locking that sharing would need. Older kernels refuse the
    // flag with EINVAL: the ring is set up without it.
#ifdef IORING_SETUP_SINGLE_ISSUER
    error = -io_uring_queue_init(entries, &ring->ring_, IORING_SETUP_SINGLE_ISSUER);
    if (error == EINVAL)
#endif
      error = -io_uring_queue_init(entries, &ring->ring_, 0);
    if (error != 0) return nullptr;
    ring->initialized_ = true;
    Fd efd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!efd) {
      error = errno;
      return nullptr;
    }
    error = -io_uring_register_eventfd(&ring->ring_, efd.get());
    if (error != 0) return nullptr;
    ring->efd_.assign(efd.release());
    ring->arm();
    return ring;
  }

  ~Ring() {
    boost::system::error_code ignored;
    efd_.close(ignored);
    if (initialized_) io_uring_queue_exit(&ring_);
  }

  // Returns a free SQE tagged with `io`; submits queued ones to make room.
  io_uring_sqe* sqe(Io& io) {
    io_uring_sqe* s = io_uring_get_sqe(&ring_);
    if (s == nullptr) {
      io_uring_submit(&ring_);
      s = io_uring_get_sqe(&ring_);
    }
    // After a submit the SQ is empty again (the kernel copies SQEs at submit).
    io_uring_sqe_set_data(s, &io);
    return s;
  }

  // Queued SQEs go to the kernel once, after the handler that queued them
  // (a worker's pass over its CQ queues the I/O of every command it found):
  // one io_uring_submit per pass, not per request.
  void submit_soon() {
    if (submit_posted_) return;
    submit_posted_ = true;
    asio::post(engine_.ctx_, [this] {
      submit_posted_ = false;
      submit();
    });
  }

  void submit() {
    int r = io_uring_submit(&ring_);
    if (r < 0) {
      // Transient (EINTR, EAGAIN, EBUSY): the SQEs stay queued; try again
      // once the loop has run the completions that free resources.
      spdlog::debug("io_uring_submit: {}", std::strerror(-r));
      submit_soon();
      return;
    }
    // RAM disks (brd) and the page cache complete inside the submit: handle
    // them now instead of after a trip through the eventfd and epoll.
    reap();
  }

 private:
  explicit Ring(IoEngine& engine) : engine_(engine), efd_(engine.ctx_) {}

  void arm() {
    efd_.async_read_some(asio::buffer(&counter_, sizeof counter_),
                         [this](const boost::system::error_code& ec, size_t) {
                           if (ec == asio::error::operation_aborted) return;
                           reap();
                           arm();
                         });
  }

  void reap() {
    io_uring_cqe* cqe = nullptr;
    while (io_uring_peek_cqe(&ring_, &cqe) == 0) {
      auto* io = static_cast<Io*>(io_uring_cqe_get_data(cqe));
      int res = cqe->res;
      io_uring_cqe_seen(&ring_, cqe);  // before dispatch: the handler may submit
      io->progress.on_event(engine_, *io, res);
    }
  }

  IoEngine& engine_;
  io_uring ring_{};
  bool initialized_ = false;
  bool submit_posted_ = false;
  asio::posix::stream_descriptor efd_;
  uint64_t counter_ = 0;
};

IoEngine::IoEngine(asio::io_context& ctx, asio::thread_pool& blocking, bool use_uring, unsigned entries)
    : ctx_(ctx), pool_(blocking) {
  if (!use_uring) return;
  int error = 0;
  ring_ = Ring::create(*this, entries, error);
  if (!ring_) {
    std::call_once(fallback_logged, [error] {
      spdlog::warn("io_uring unavailable ({}): file I/O falls back to a thread pool",
                   std::strerror(error));
    });
  }
}

IoEngine::~IoEngine() = default;

void IoEngine::read(int fd, std::byte* buf, uint32_t len, uint64_t offset, Io& io) {
  if (ring_) {
    io_uring_prep_read(ring_->sqe(io), fd, buf, len, offset);
    ring_->submit_soon();
    return;
  }
  blocking(io, [=] { return result_or_errno(::pread(fd, buf, len, static_cast<off_t>(offset))); });
}

void IoEngine::write(int fd, const std::byte* buf, uint32_t len, uint64_t offset, bool dsync, Io& io) {
  if (ring_) {
    io_uring_sqe* s = ring_->sqe(io);
    io_uring_prep_write(s, fd, buf, len, offset);
    if (dsync) s->rw_flags = RWF_DSYNC;
    ring_->submit_soon();
    return;
  }
  blocking(io, [=] {
    iovec iov{const_cast<std::byte*>(buf), len};
    return result_or_errno(::pwritev2(fd, &iov, 1, static_cast<off_t>(offset), dsync ? RWF_DSYNC : 0));
  });
}

void IoEngine::fdatasync(int fd, Io& io) {
  if (ring_) {
    io_uring_prep_fsync(ring_->sqe(io), fd, IORING_FSYNC_DATASYNC);
    ring_->submit_soon();
    return;
  }
  blocking(io, [=] { return result_or_errno(::fdatasync(fd)); });
}

void IoEngine::fallocate(int fd, int mode, uint64_t offset, uint64_t len, Io& io) {
  if (ring_) {
    io_uring_prep_fallocate(ring_->sqe(io), fd, mode, static_cast<off_t>(offset),
                            static_cast<off_t>(len));
    ring_->submit_soon();
    return;
  }
  blocking(io, [=] {
    return result_or_errno(::fallocate(fd, mode, static_cast<off_t>(offset), static_cast<off_t>(len)));
  });
}

void IoEngine::blocking(Io& io, std::function<int()> fn) {
  // The guard counts the call as work of ctx_ while it runs on the pool, so
  // the loop does not run out of work (and stop) before the result is back.
  asio::post(pool_, [this, &io, fn = std::move(fn), guard = asio::make_work_guard(ctx_)] {
    int result = fn();
    asio::post(ctx_, [this, &io, result] { io.progress.on_event(*this, io, result); });
  });
}

}  // namespace rdmablk::target
