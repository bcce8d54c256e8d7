#pragma once
// Backends hold an export's bytes: RAM, a regular file or a block device.
// I/O is asynchronous: submit() starts a request and Io::complete() reports
// it on the submitting worker's thread, possibly before submit() returns
// (RAM finishes inline). Requests arrive validated by Export::check(), so a
// backend only reports its own failures.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace rdmablk::target {

class IoEngine;
struct ExportConfig;

enum class IoOp : uint8_t { read, write, flush, discard, write_zeroes };

// One backend request. Transports derive their per-request state from it,
// so a request in flight costs no allocation.
struct Io {
  IoOp op = IoOp::read;
  bool fua = false;        // durable before complete() (write, discard, write_zeroes)
  bool may_unmap = true;   // write_zeroes may deallocate (NBD: NO_HOLE not set)
  uint64_t offset = 0;
  uint32_t length = 0;
  std::byte* data = nullptr;  // read: destination; write: source

  // Called exactly once per submit(), on the submitting worker's thread;
  // error is 0 or a positive errno value.
  virtual void complete(int error) = 0;

  // Owned by the backend between submit() and complete(): lets it keep
  // multi-step progress (short transfers, fallbacks) without allocating.
  struct Progress {
    void (*on_event)(IoEngine&, Io&, int result) = nullptr;  // next step
    const void* owner = nullptr;                             // the backend
    uint32_t done = 0;                                       // bytes finished
    uint8_t stage = 0;                                       // backend-defined
  } progress;

 protected:
  ~Io() = default;
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual uint64_t size() const = 0;
  // The logical block size the backing store works in (512 for RAM and
  // files, the device's for block devices).
  virtual uint32_t block_size() const = 0;
  // One line for the start-up log: "RAM, 1 GiB", "file /x (O_DIRECT)".
  virtual std::string describe() const = 0;
  // Exports living in this process's memory expose it, so transports can
  // move data straight between the wire and the export (NBD reads and
  // writes, RDMA direct mode). Empty for everything else.
  virtual std::span<std::byte> region() { return {}; }
  // The identity of the stored disk, the same wherever it is served from
  // (an RBD image's); empty when the backend cannot know one (a file: two
  // targets may share it, so only the operator can say, by serial=).
  virtual std::string identity() const { return {}; }
  // An RDMA device now holds the region's pages (ibv_reg_mr pins them):
  // from here on the backend must keep those very pages, e.g. zero with
  // memset instead of handing pages back to the kernel, or the device would
  // go on seeing the old ones. Thread-safe.
  virtual void pin_region() {}

  virtual void submit(IoEngine& engine, Io& io) = 0;

  // Blocking: makes every completed write durable (shutdown). 0 or errno.
  virtual int sync() = 0;
};

// Opens the backend an export names. Throws std::system_error or
// ConfigError with a message naming the export.
std::unique_ptr<Backend> open_backend(const ExportConfig& config);

}  // namespace rdmablk::target
