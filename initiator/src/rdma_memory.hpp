#pragma once
// Memory registration for librdmablk's RDMA transport: the session's
// protection domain and every long-lived registration in it. Memory is
// registered once (Client::alloc_buffer, per-slot bounce buffers, send and
// receive areas), never per I/O.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include "rdmablk/verbs.hpp"

namespace rdmablk::rdma {

// How the target (command mode) or our own QP (direct mode) uses a buffer.
enum class Access : uint8_t {
  into,  // data moves into it: READ, DISCOVER (LOCAL_WRITE | REMOTE_WRITE)
  from,  // data moves out of it: WRITE (REMOTE_READ)
};

struct Keys {
  uint32_t lkey = 0;
  uint32_t rkey = 0;
};

// Registers [p, p+n) with `access` (IBV_ACCESS_*); throws Error naming `what`.
verbs::Mr register_mr(ibv_pd* pd, void* p, size_t n, int access, const char* what);

// The PD every queue of a session uses, and the buffers registered for I/O.
// Shared by the client and by the registrations it hands out
// (Buffer::set_registration), so a Buffer that outlives its Client still
// deregisters before the PD goes.
class MemoryRegistry : public std::enable_shared_from_this<MemoryRegistry> {
 public:
  // Allocates a PD on `device`; throws Error.
  static std::shared_ptr<MemoryRegistry> create(ibv_context* device);
  MemoryRegistry(const MemoryRegistry&) = delete;
  MemoryRegistry& operator=(const MemoryRegistry&) = delete;

  ibv_pd* pd() const { return pd_.get(); }
  ibv_context* device() const { return pd_->context; }
  const ibv_device_attr& device_attr() const { return attr_; }

  // Registers [p, p+n) twice, once per Access, so each command names a key
  // granting only what it needs. The handle deregisters. Thread-safe.
  std::shared_ptr<void> add(std::byte* p, size_t n);
  // The keys of a registration that holds all of [p, p+n). Thread-safe.
  std::optional<Keys> find(const std::byte* p, size_t n, Access a) const;

 private:
  struct Entry {
    uintptr_t end = 0;
    Keys into, from;
  };
  struct Registration;
  MemoryRegistry(verbs::Pd pd, const ibv_device_attr& attr) : pd_(std::move(pd)), attr_(attr) {}
  void remove(uintptr_t start);

  verbs::Pd pd_;
  ibv_device_attr attr_{};
  mutable std::mutex mu_;
  std::map<uintptr_t, Entry> entries_;  // by start address
};

}  // namespace rdmablk::rdma
