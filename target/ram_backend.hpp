#pragma once
// RAM export: one anonymous private mapping with MAP_NORESERVE, so a 1 GiB
// export costs nothing until written; discard hands pages back to the kernel.
#include <atomic>

#include "backend.hpp"

namespace rdmablk::target {

class RamBackend final : public Backend {
 public:
  RamBackend(uint64_t size, uint32_t block_size);  // throws std::system_error
  ~RamBackend() override;
  RamBackend(const RamBackend&) = delete;
  RamBackend& operator=(const RamBackend&) = delete;

  uint64_t size() const override { return size_; }
  uint32_t block_size() const override { return block_size_; }
  std::string describe() const override;
  std::span<std::byte> region() override { return {base_, size_}; }
  void pin_region() override { pinned_.store(true, std::memory_order_relaxed); }
  // Completes inline: memory operations do not block.
  void submit(IoEngine& engine, Io& io) override;
  int sync() override { return 0; }

 private:
  // Zeroes [offset, offset+len); whole pages inside are returned to the
  // kernel when `unmap` allows it (they read back as zeroes).
  void zero(uint64_t offset, uint64_t len, bool unmap);

  std::byte* base_ = nullptr;
  std::atomic<bool> pinned_{false};  // registered with an RDMA device: never drop pages
  uint64_t size_;
  uint32_t block_size_;
};

}  // namespace rdmablk::target
