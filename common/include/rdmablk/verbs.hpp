#pragma once
// Move-only owners of the librdmacm / libibverbs handles the initiator, the
// target and the test tools use (one layer for all, so a fix lands once).
// Every wrapper is null-safe (a default or moved-from one owns nothing) and
// self-move safe. A class holding several declares them in creation order,
// so destruction runs in reverse (QP before CQ before channel before PD),
// the userspace mirror of a kernel unwind ladder. Model: seastar's
// file_desc.
#include <fcntl.h>
#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <system_error>
#include <utility>

#include "rdmablk/wr_id.hpp"

namespace rdmablk::verbs {

// Calls Fn on a non-null handle.
template <auto Fn>
struct Deleter {
  template <typename T>
  void operator()(T* p) const noexcept {
    if (p) Fn(p);
  }
};

// std::unique_ptr: move-only, null-safe, self-move safe (reset(release())).
using EventChannel = std::unique_ptr<rdma_event_channel, Deleter<rdma_destroy_event_channel>>;
using CmId = std::unique_ptr<rdma_cm_id, Deleter<rdma_destroy_id>>;
using Pd = std::unique_ptr<ibv_pd, Deleter<ibv_dealloc_pd>>;
using Mr = std::unique_ptr<ibv_mr, Deleter<ibv_dereg_mr>>;
using CompChannel = std::unique_ptr<ibv_comp_channel, Deleter<ibv_destroy_comp_channel>>;

// A CQ must have every event it delivered acknowledged before it is
// destroyed; the owner counts them with event_received() (or acks them
// itself with ibv_ack_cq_events) and this acks the rest.
class Cq {
 public:
  Cq() = default;
  explicit Cq(ibv_cq* cq) : cq_(cq) {}
  Cq(Cq&& o) noexcept : cq_(std::exchange(o.cq_, nullptr)), unacked_(std::exchange(o.unacked_, 0)) {}
  Cq& operator=(Cq&& o) noexcept {
    if (this != &o) {
      reset();
      cq_ = std::exchange(o.cq_, nullptr);
      unacked_ = std::exchange(o.unacked_, 0);
    }
    return *this;
  }
  Cq(const Cq&) = delete;
  Cq& operator=(const Cq&) = delete;
  ~Cq() { reset(); }

  // Destroys the CQ held (its events acked first) and takes `cq`.
  void reset(ibv_cq* cq = nullptr) noexcept {
    if (cq_) {
      ack_all();
      ibv_destroy_cq(cq_);
    }
    cq_ = cq;
    unacked_ = 0;
  }
  ibv_cq* get() const { return cq_; }
  explicit operator bool() const { return cq_ != nullptr; }
  // Counts one event from ibv_get_cq_event; acks in batches (the ack takes
  // a lock and a wakeup, so not per event).
  void event_received() {
    if (++unacked_ >= 32) ack_all();
  }
  void ack_all() noexcept {
    if (unacked_ && cq_) ibv_ack_cq_events(cq_, unacked_);
    unacked_ = 0;
  }
  unsigned unacked() const { return unacked_; }

 private:
  ibv_cq* cq_ = nullptr;
  unsigned unacked_ = 0;
};

// The QP created on a cm id with rdma_create_qp; destroyed with the id's
// rdma_destroy_qp, so it must be released before the id itself.
class Qp {
 public:
  Qp() = default;
  explicit Qp(rdma_cm_id* id) : id_(id) {}
  Qp(Qp&& o) noexcept : id_(std::exchange(o.id_, nullptr)) {}
  Qp& operator=(Qp&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, nullptr);
    }
    return *this;
  }
  Qp(const Qp&) = delete;
  Qp& operator=(const Qp&) = delete;
  ~Qp() { reset(); }
  void reset() noexcept {
    if (id_ && id_->qp) rdma_destroy_qp(id_);
    id_ = nullptr;
  }
  ibv_qp* get() const { return id_ ? id_->qp : nullptr; }
  explicit operator bool() const { return get() != nullptr; }

 private:
  rdma_cm_id* id_ = nullptr;
};

// Page-aligned memory registered with a PD, freed after deregistration.
class RegisteredBuffer {
 public:
  RegisteredBuffer() = default;
  // Throws std::system_error (ENOMEM, or the errno of ibv_reg_mr).
  RegisteredBuffer(ibv_pd* pd, size_t size, int access) : size_(size) {
    size_t rounded = (size + 4095) / 4096 * 4096;
    data_.reset(static_cast<std::byte*>(std::aligned_alloc(4096, rounded ? rounded : 4096)));
    if (!data_) throw std::system_error(ENOMEM, std::generic_category(), "registered buffer");
    mr_.reset(ibv_reg_mr(pd, data_.get(), size, access));
    if (!mr_) throw std::system_error(errno, std::generic_category(), "ibv_reg_mr");
  }
  RegisteredBuffer(RegisteredBuffer&& o) noexcept
      : data_(std::move(o.data_)), mr_(std::move(o.mr_)), size_(std::exchange(o.size_, 0)) {}
  // Deregisters before freeing, whatever the member order would do.
  RegisteredBuffer& operator=(RegisteredBuffer&& o) noexcept {
    if (this != &o) {
      mr_.reset();
      data_ = std::move(o.data_);
      mr_ = std::move(o.mr_);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  ~RegisteredBuffer() { mr_.reset(); }
  std::byte* data() const { return data_.get(); }
  ibv_mr* mr() const { return mr_.get(); }
  size_t size() const { return size_; }
  uint32_t lkey() const { return mr_->lkey; }
  uint32_t rkey() const { return mr_->rkey; }
  explicit operator bool() const { return mr_ != nullptr; }

 private:
  struct Free {
    void operator()(std::byte* p) const noexcept { std::free(p); }
  };
  std::unique_ptr<std::byte, Free> data_;  // declared first: outlives the MR
  Mr mr_;
  size_t size_ = 0;
};

// Event channel and completion channel fds are read until EAGAIN.
inline void set_nonblocking(int fd) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
    throw std::system_error(errno, std::generic_category(), "fcntl O_NONBLOCK");
}

}  // namespace rdmablk::verbs
