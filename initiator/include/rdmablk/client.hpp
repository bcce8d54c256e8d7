#pragma once
// librdmablk: a userspace client for rdmablk-target (and any NBD server).
//
// One interface over every transport: nbd://host[:port]/export (NBD over TCP)
// and rdma://host[:port]/export (RDMA command or direct mode). Programs and
// the rdmablk CLI never care which transport they hold.
//
// Threading: a Client owns one I/O thread. Every submit call is thread-safe
// and returns at once; its completion runs later on the I/O thread, never
// inline in the submit call. Completions may submit further requests. More
// requests than queues * queue_depth are queued inside the client (back-
// pressure, not failure).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace rdmablk {

// Failure to open, negotiate or log in: what() is exactly the one line given
// to the constructor (no ": <strerror>" appended, so it reads well on its
// own), code() the closest errno (ECONNREFUSED, ENOENT for an unknown export,
// EACCES for a refused login, ETIMEDOUT, EINVAL for a bad URL...).
class Error : public std::system_error {
 public:
  Error(std::error_code ec, const std::string& line) : std::system_error(ec), line_(line) {}
  Error(std::errc e, const std::string& line) : Error(std::make_error_code(e), line) {}
  const char* what() const noexcept override { return line_.what(); }

 private:
  std::runtime_error line_;  // copying it never throws, as what() requires
};

enum class RdmaMode { command, direct };

struct ClientOptions {
  unsigned queues = 1;        // TCP connections, or RDMA queue pairs
  unsigned queue_depth = 32;  // requests in flight per queue
  // Bound on connect/negotiation and on every request: a request not answered
  // in time completes with ETIMEDOUT and the connection is closed.
  std::chrono::milliseconds timeout{30000};
  RdmaMode mode = RdmaMode::command;  // rdma:// only
  std::string host_id;                // rdma:// login; default: machine id
  std::string secret_file;            // rdma:// login HMAC secret
  // rdma:// only: the I/O thread spins on its completion queues while
  // requests are in flight (and briefly after), instead of sleeping until
  // the completion channel wakes it: lower latency for a busy core.
  bool poll = false;
};

// What the server says about an export.
struct ExportInfo {
  std::string name;
  std::string description;
  uint64_t size = 0;
  uint32_t min_block_size = 1;        // smallest request granularity
  uint32_t preferred_block_size = 4096;
  uint32_t max_block_size = 32u << 20;  // largest single request
  bool read_only = false;
  bool can_flush = false;
  bool can_fua = false;
  bool can_trim = false;
  bool can_write_zeroes = false;
  bool can_multi_conn = false;
  bool rotational = false;
  // rdma:// only (filled by DISCOVER and login):
  bool can_direct = false;    // direct mode offered (the export lives in target memory)
  bool needs_secret = false;  // LOGIN needs the HMAC of a secret (DISCOVER only)
};

// Completion of one request: success, or an errno-style error in
// std::generic_category() (EIO, EINVAL, ENOSPC, EPERM for a read-only
// export, EOPNOTSUPP for an operation the export lacks, ETIMEDOUT,
// ECONNRESET when the connection died...). Completions must not throw.
using Completion = std::function<void(std::error_code)>;

// Page-aligned memory owned by the caller. Buffers from Client::alloc_buffer
// are registered with the transport where that matters (RDMA), so I/O on them
// moves without a copy; any other memory works too, through a bounce copy.
class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(size_t size);
  Buffer(Buffer&&) noexcept = default;
  Buffer& operator=(Buffer&& o) noexcept {
    registration_.reset();  // deregister before the memory is freed
    data_ = std::move(o.data_);
    registration_ = std::move(o.registration_);
    size_ = std::exchange(o.size_, 0);
    return *this;
  }

  std::byte* data() const { return data_.get(); }
  size_t size() const { return size_; }
  std::span<std::byte> span() const { return {data_.get(), size_}; }

  // For transports: something that must live exactly as long as this memory
  // (an RDMA registration); it is released before the memory is freed.
  void set_registration(std::shared_ptr<void> r) { registration_ = std::move(r); }

 private:
  struct Free {
    void operator()(std::byte* p) const noexcept;
  };
  std::unique_ptr<std::byte, Free> data_;
  std::shared_ptr<void> registration_;  // destroyed before data_ (reverse order)
  size_t size_ = 0;
};

class Client {
 public:
  // Connects, negotiates and (RDMA) logs in. Options given in the URL
  // (?queues=2&qd=64&mode=direct&timeout=5000&poll=1) override those in `opts`.
  // Throws rdmablk::Error with a one-line reason.
  static std::unique_ptr<Client> open(const std::string& url, ClientOptions opts = {});

  // Exports the server offers to this host (NBD_OPT_LIST / RDMA DISCOVER),
  // with their details where the server gives them. Throws rdmablk::Error.
  static std::vector<ExportInfo> list_exports(const std::string& host_url,
                                              ClientOptions opts = {});

  // Waits for requests in flight (bounded by the timeout), then disconnects
  // cleanly. Never destroy a Client from one of its own completions.
  virtual ~Client() = default;

  virtual const ExportInfo& info() const = 0;
  // The options in effect: `opts` with the URL's options applied and queues
  // clamped to what the server allows (1 unless it advertises multi-conn).
  virtual const ClientOptions& options() const = 0;
  virtual Buffer alloc_buffer(size_t size) = 0;

  // Asynchronous requests. Offsets and lengths must lie inside the export and
  // respect info().min_block_size and info().max_block_size; otherwise the
  // completion reports EINVAL without anything being sent. `buf` must stay
  // valid until the completion runs.
  virtual void read(uint64_t offset, std::span<std::byte> buf, Completion done) = 0;
  virtual void write(uint64_t offset, std::span<const std::byte> buf, Completion done,
                     bool fua = false) = 0;
  virtual void flush(Completion done) = 0;
  virtual void discard(uint64_t offset, uint64_t length, Completion done) = 0;
  virtual void write_zeroes(uint64_t offset, uint64_t length, Completion done,
                            bool fua = false) = 0;

  // Blocking conveniences built on the asynchronous calls; never call them
  // from a completion.
  std::error_code read_sync(uint64_t offset, std::span<std::byte> buf);
  std::error_code write_sync(uint64_t offset, std::span<const std::byte> buf, bool fua = false);
  std::error_code flush_sync();
};

}  // namespace rdmablk
