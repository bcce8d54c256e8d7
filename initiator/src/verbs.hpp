#pragma once
// Move-only owners of the libibverbs / librdmacm handles librdmablk uses.
// Destruction order mirrors setup: a queue declares its channel first, then
// the id, CQ and QP, so members die QP -> CQ -> id -> channel.
#include <memory>
#include <utility>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

namespace rdmablk::rdma {

struct ChannelDeleter {
  void operator()(rdma_event_channel* c) const noexcept { rdma_destroy_event_channel(c); }
};
struct IdDeleter {
  void operator()(rdma_cm_id* id) const noexcept { rdma_destroy_id(id); }
};
struct PdDeleter {
  void operator()(ibv_pd* pd) const noexcept { ibv_dealloc_pd(pd); }
};
struct MrDeleter {
  void operator()(ibv_mr* mr) const noexcept { ibv_dereg_mr(mr); }
};
struct CompChannelDeleter {
  void operator()(ibv_comp_channel* c) const noexcept { ibv_destroy_comp_channel(c); }
};
struct CqDeleter {
  void operator()(ibv_cq* cq) const noexcept { ibv_destroy_cq(cq); }
};

using EventChannel = std::unique_ptr<rdma_event_channel, ChannelDeleter>;
using CmId = std::unique_ptr<rdma_cm_id, IdDeleter>;
using Pd = std::unique_ptr<ibv_pd, PdDeleter>;
using Mr = std::unique_ptr<ibv_mr, MrDeleter>;
using CompChannel = std::unique_ptr<ibv_comp_channel, CompChannelDeleter>;
using Cq = std::unique_ptr<ibv_cq, CqDeleter>;

// The QP of an rdma_cm id, destroyed through the id (rdma_destroy_qp).
class Qp {
 public:
  Qp() = default;
  explicit Qp(rdma_cm_id* id) : id_(id) {}
  Qp(Qp&& o) noexcept : id_(std::exchange(o.id_, nullptr)) {}
  Qp& operator=(Qp&& o) noexcept {
    reset();
    id_ = std::exchange(o.id_, nullptr);
    return *this;
  }
  ~Qp() { reset(); }
  ibv_qp* get() const { return id_ ? id_->qp : nullptr; }
  explicit operator bool() const { return get() != nullptr; }
  void reset() noexcept {
    if (id_ && id_->qp) rdma_destroy_qp(id_);
    id_ = nullptr;
  }

 private:
  rdma_cm_id* id_ = nullptr;
};

}  // namespace rdmablk::rdma
