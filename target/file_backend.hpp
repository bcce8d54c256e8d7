#pragma once
// Regular file or block device export, driven through the worker's IoEngine
// (io_uring). Requests aligned to the device's logical block size go through
// an O_DIRECT descriptor (no page-cache copy); unaligned ones through a
// buffered descriptor of the same file, which the kernel keeps coherent.
#include <string>

#include "backend.hpp"
#include "fd.hpp"

namespace rdmablk::target {

class FileBackend final : public Backend {
 public:
  // Throws std::system_error naming the path. `map`: also map the (read-only)
  // file into memory as region(), for RDMA direct mode and zero-copy reads.
  FileBackend(const std::string& path, bool read_only, bool map = false);
  ~FileBackend() override;

  uint64_t size() const override { return size_; }
  uint32_t block_size() const override { return block_size_; }
  std::string describe() const override;
  void submit(IoEngine& engine, Io& io) override;
  int sync() override;
  std::span<std::byte> region() override { return {map_, map_ ? size_ : 0}; }

  bool is_block_device() const { return block_device_; }
  bool has_direct_io() const { return static_cast<bool>(direct_); }

 private:
  // Explicit request stages, kept in Io::progress.stage.
  enum Stage : uint8_t {
    kTransfer,      // read/write of [done, length) in pieces
    kDeallocate,    // fallocate (PUNCH_HOLE or ZERO_RANGE) or BLKDISCARD
    kWriteZeroes,   // fallback: writing zeroes from a shared zero buffer
    kSync,          // fdatasync for FUA or FLUSH
  };

  static void on_event(IoEngine& engine, Io& io, int result);
  void start_transfer(IoEngine& engine, Io& io);
  void start_zero_write(IoEngine& engine, Io& io);
  void start_sync(IoEngine& engine, Io& io);
  void start_deallocate(IoEngine& engine, Io& io);
  // The descriptor to use for [offset, +len) from/to buf.
  int fd_for(uint64_t offset, uint64_t len, const std::byte* buf) const;

  std::string path_;
  Fd buffered_;
  Fd direct_;  // invalid when the file system refuses O_DIRECT
  bool block_device_ = false;
  uint64_t size_ = 0;
  uint32_t block_size_ = 512;
  uint32_t direct_align_ = 4096;  // what O_DIRECT needs for offset, length, buffer
  std::byte* map_ = nullptr;      // PROT_READ private mapping of the whole file, or null
};

}  // namespace rdmablk::target
