#include "ram_backend.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include <fmt/format.h>

#include "rdmablk/units.hpp"

namespace rdmablk::target {

RamBackend::RamBackend(uint64_t size, uint32_t block_size) : size_(size), block_size_(block_size) {
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
  if (p == MAP_FAILED)
    throw std::system_error(errno, std::generic_category(),
                            fmt::format("cannot map {} of RAM", format_size(size)));
  base_ = static_cast<std::byte*>(p);
}

RamBackend::~RamBackend() { ::munmap(base_, size_); }

std::string RamBackend::describe() const { return fmt::format("RAM, {}", format_size(size_)); }

void RamBackend::zero(uint64_t offset, uint64_t len, bool unmap) {
  static const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  uint64_t end = offset + len;
  uint64_t first = (offset + page - 1) / page * page;
  uint64_t last = end / page * page;
  // Pages an RDMA device has pinned must stay: it would not see new ones.
  if (pinned_.load(std::memory_order_relaxed)) unmap = false;
  if (!unmap || first >= last) {
    std::memset(base_ + offset, 0, len);
    return;
  }
  std::memset(base_ + offset, 0, first - offset);
  // Private anonymous pages read back as zeroes after MADV_DONTNEED.
  if (::madvise(base_ + first, last - first, MADV_DONTNEED) != 0)
    std::memset(base_ + first, 0, last - first);
  std::memset(base_ + last, 0, end - last);
}

void RamBackend::submit(IoEngine&, Io& io) {
  switch (io.op) {
    case IoOp::read:
      std::memcpy(io.data, base_ + io.offset, io.length);
      break;
    case IoOp::write:
      std::memcpy(base_ + io.offset, io.data, io.length);
      break;
    case IoOp::flush:
      break;
    case IoOp::discard:
      zero(io.offset, io.length, true);
      break;
    case IoOp::write_zeroes:
      zero(io.offset, io.length, io.may_unmap);
      break;
  }
  io.complete(0);
}

}  // namespace rdmablk::target
