#include "rdma_memory.hpp"

#include <cerrno>

#include <fmt/format.h>

#include "rdmablk/client.hpp"

namespace rdmablk::rdma {

verbs::Mr register_mr(ibv_pd* pd, void* p, size_t n, int access, const char* what) {
  verbs::Mr mr(ibv_reg_mr(pd, p, n, access));
  if (!mr) {
    int e = errno ? errno : ENOMEM;
    throw Error(std::error_code(e, std::generic_category()),
                fmt::format("cannot register {} bytes of {} memory with the RDMA device: {}{}", n, what,
                            std::generic_category().message(e),
                            e == ENOMEM || e == EAGAIN ? " (locked memory limit? see ulimit -l)" : ""));
  }
  return mr;
}

std::shared_ptr<MemoryRegistry> MemoryRegistry::create(ibv_context* device) {
  ibv_device_attr attr{};
  if (int e = ibv_query_device(device, &attr))
    throw Error(std::error_code(e, std::generic_category()),
                fmt::format("cannot query RDMA device {}: {}", ibv_get_device_name(device->device),
                            std::generic_category().message(e)));
  verbs::Pd pd(ibv_alloc_pd(device));
  if (!pd)
    throw Error(std::errc::not_enough_memory,
                fmt::format("cannot allocate a protection domain on {}", ibv_get_device_name(device->device)));
  return std::shared_ptr<MemoryRegistry>(new MemoryRegistry(std::move(pd), attr));
}

// One add(): both MRs, removed from the map before they are deregistered.
struct MemoryRegistry::Registration {
  std::shared_ptr<MemoryRegistry> owner;  // keeps the PD alive
  uintptr_t start = 0;
  verbs::Mr into, from;
  ~Registration() {
    if (owner) owner->remove(start);
  }
};

std::shared_ptr<void> MemoryRegistry::add(std::byte* p, size_t n) {
  auto r = std::make_shared<Registration>();
  r->into = register_mr(pd(), p, n, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE, "I/O buffer");
  r->from = register_mr(pd(), p, n, IBV_ACCESS_REMOTE_READ, "I/O buffer");
  r->start = reinterpret_cast<uintptr_t>(p);
  {
    std::lock_guard lock(mu_);
    entries_[r->start] = {r->start + n, {r->into->lkey, r->into->rkey}, {r->from->lkey, r->from->rkey}};
  }
  r->owner = shared_from_this();
  return r;
}

void MemoryRegistry::remove(uintptr_t start) {
  std::lock_guard lock(mu_);
  entries_.erase(start);
}

std::optional<Keys> MemoryRegistry::find(const std::byte* p, size_t n, Access a) const {
  auto start = reinterpret_cast<uintptr_t>(p);
  std::lock_guard lock(mu_);
  auto it = entries_.upper_bound(start);
  if (it == entries_.begin()) return std::nullopt;
  --it;
  if (start + n > it->second.end || start + n < start) return std::nullopt;
  return a == Access::into ? it->second.into : it->second.from;
}

}  // namespace rdmablk::rdma
