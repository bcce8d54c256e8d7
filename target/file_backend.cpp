#include "file_backend.hpp"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <system_error>

#include <fmt/format.h>

#include "io_engine.hpp"
#include "rdmablk/units.hpp"

namespace rdmablk::target {

namespace {

constexpr uint32_t kZeroChunk = 1u << 20;

// Source of the write-zeroes fallback; 4 KiB aligned so O_DIRECT accepts it.
const std::byte* zero_buffer() {
  static const std::unique_ptr<std::byte, decltype(&std::free)> zeroes = [] {
    auto* p = static_cast<std::byte*>(std::aligned_alloc(4096, kZeroChunk));
    if (p == nullptr) throw std::bad_alloc();
    std::memset(p, 0, kZeroChunk);
    return std::unique_ptr<std::byte, decltype(&std::free)>(p, &std::free);
  }();
  return zeroes.get();
}

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

bool aligned(uint64_t v, uint32_t a) { return v % a == 0; }

}  // namespace

FileBackend::FileBackend(const std::string& path, bool read_only, bool map) : path_(path) {
  int flags = (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw_errno(path);
  block_device_ = S_ISBLK(st.st_mode);
  if (!block_device_ && !S_ISREG(st.st_mode))
    throw std::system_error(EINVAL, std::generic_category(),
                            path + ": not a regular file or block device");
  // O_EXCL on a block device refuses it while mounted or claimed by another
  // exclusive user, so a writable export never corrupts a mounted fs.
  buffered_ = Fd(::open(path.c_str(), flags | (block_device_ && !read_only ? O_EXCL : 0)));
  if (!buffered_) throw_errno(errno == EBUSY ? path + " is in use (mounted?)" : path);
  if (block_device_) {
    uint64_t bytes = 0;
    int lbs = 0;
    if (::ioctl(buffered_.get(), BLKGETSIZE64, &bytes) != 0) throw_errno(path + ": BLKGETSIZE64");
    if (::ioctl(buffered_.get(), BLKSSZGET, &lbs) != 0) throw_errno(path + ": BLKSSZGET");
    size_ = bytes;
    block_size_ = static_cast<uint32_t>(lbs);
    direct_align_ = block_size_;
  } else {
    if (::fstat(buffered_.get(), &st) != 0) throw_errno(path);
    size_ = static_cast<uint64_t>(st.st_size);
  }
  if (size_ == 0)
    throw std::system_error(EINVAL, std::generic_category(), path + ": size is 0");
  // Some file systems (older tmpfs) refuse O_DIRECT; buffered I/O serves all.
  direct_ = Fd(::open(path.c_str(), flags | O_DIRECT));
  if (map) {
    if (!read_only)
      throw std::system_error(EINVAL, std::generic_category(), path + ": only read-only exports can be mapped");
    // MAP_PRIVATE, not MAP_SHARED: kernels before 6.2 pin even read-only
    // RDMA registrations with FOLL_WRITE|FOLL_FORCE, which a shared
    // read-only mapping refuses (EFAULT); a private one gets private copies
    // of the pages instead. Newer kernels pin the page cache itself.
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, buffered_.get(), 0);
    if (p == MAP_FAILED) throw_errno(path + ": mmap");
    map_ = static_cast<std::byte*>(p);
  }
}

FileBackend::~FileBackend() {
  if (map_) ::munmap(map_, size_);
}

std::string FileBackend::describe() const {
  return fmt::format("{} {}, {}{}{}", block_device_ ? "block device" : "file", path_, format_size(size_),
                     direct_ ? ", O_DIRECT when aligned" : ", buffered", map_ ? ", mapped" : "");
}

int FileBackend::fd_for(uint64_t offset, uint64_t len, const std::byte* buf) const {
  if (direct_ && aligned(offset, direct_align_) && aligned(len, direct_align_) &&
      aligned(reinterpret_cast<uintptr_t>(buf), direct_align_))
    return direct_.get();
  return buffered_.get();
}

void FileBackend::submit(IoEngine& engine, Io& io) {
  io.progress = {&FileBackend::on_event, this, 0, kTransfer};
  switch (io.op) {
    case IoOp::read:
    case IoOp::write:
      if (io.length == 0) return io.complete(0);
      return start_transfer(engine, io);
    case IoOp::flush:
      return start_sync(engine, io);
    case IoOp::discard:
    case IoOp::write_zeroes:
      if (io.length == 0) return io.complete(0);
      return start_deallocate(engine, io);
  }
}

void FileBackend::start_transfer(IoEngine& engine, Io& io) {
  io.progress.stage = kTransfer;
  uint64_t offset = io.offset + io.progress.done;
  uint32_t len = io.length - io.progress.done;
  std::byte* buf = io.data + io.progress.done;
  int fd = fd_for(offset, len, buf);
  if (io.op == IoOp::read)
    engine.read(fd, buf, len, offset, io);
  else
    engine.write(fd, buf, len, offset, io.fua, io);
}

void FileBackend::start_zero_write(IoEngine& engine, Io& io) {
  io.progress.stage = kWriteZeroes;
  uint64_t offset = io.offset + io.progress.done;
  uint32_t len = std::min(io.length - io.progress.done, kZeroChunk);
  engine.write(fd_for(offset, len, zero_buffer()), zero_buffer(), len, offset, io.fua, io);
}

void FileBackend::start_sync(IoEngine& engine, Io& io) {
  io.progress.stage = kSync;
  engine.fdatasync(buffered_.get(), io);
}

void FileBackend::start_deallocate(IoEngine& engine, Io& io) {
  io.progress.stage = kDeallocate;
  if (io.op == IoOp::discard && block_device_) {
    // BLKDISCARD wants whole logical blocks: shrink the range inwards.
    uint64_t start = (io.offset + block_size_ - 1) / block_size_ * block_size_;
    uint64_t end = (io.offset + io.length) / block_size_ * block_size_;
    if (start >= end) return io.complete(0);
    int fd = buffered_.get();
    engine.blocking(io, [fd, start, end] {
      uint64_t range[2] = {start, end - start};
      return ::ioctl(fd, BLKDISCARD, range) == 0 ? 0 : -errno;
    });
    return;
  }
  int mode = FALLOC_FL_KEEP_SIZE;
  if (io.op == IoOp::discard || (io.may_unmap && !block_device_))
    mode |= FALLOC_FL_PUNCH_HOLE;  // reads back as zeroes, frees space
  else
    mode |= FALLOC_FL_ZERO_RANGE;  // block devices: WRITE ZEROES, may unmap
  engine.fallocate(buffered_.get(), mode, io.offset, io.length, io);
}

void FileBackend::on_event(IoEngine& engine, Io& io, int result) {
  auto* self = static_cast<FileBackend*>(const_cast<void*>(io.progress.owner));
  switch (static_cast<Stage>(io.progress.stage)) {
    case kTransfer:
    case kWriteZeroes: {
      bool zeroing = io.progress.stage == kWriteZeroes;
      if (result == -EINTR || result == -EAGAIN)
        return zeroing ? self->start_zero_write(engine, io) : self->start_transfer(engine, io);
      if (result < 0) return io.complete(-result);
      if (result == 0) return io.complete(EIO);  // the file shrank under us
      io.progress.done += static_cast<uint32_t>(result);
      if (io.progress.done < io.length)
        return zeroing ? self->start_zero_write(engine, io) : self->start_transfer(engine, io);
      return io.complete(0);  // FUA writes carried RWF_DSYNC
    }
    case kDeallocate:
      if (result < 0) {
        // Discard is a hint: a store that cannot deallocate ignores it.
        if (io.op == IoOp::discard && (result == -EOPNOTSUPP || result == -EINVAL))
          return io.complete(0);
        if (io.op == IoOp::write_zeroes) {
          io.progress.done = 0;
          return self->start_zero_write(engine, io);
        }
        return io.complete(-result);
      }
      if (io.fua) return self->start_sync(engine, io);
      return io.complete(0);
    case kSync:
      return io.complete(result < 0 ? -result : 0);
  }
}

int FileBackend::sync() { return ::fdatasync(buffered_.get()) == 0 ? 0 : errno; }

}  // namespace rdmablk::target
