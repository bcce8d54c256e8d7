// rdmablk get / put: copy an export (or part of it) to a file and back,
// with many chunk-sized requests in flight; a progress line on a terminal
// (progress.hpp) and, with --json, a summary object on stdout.
#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <optional>

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli.hpp"
#include "progress.hpp"
#include "rdmablk/units.hpp"

namespace rdmablk::cli {

namespace {

struct CopyArgs {
  std::string url;
  std::string file;
  std::string offset = "0";
  std::string length;  // get only; empty: to the end of the export
  unsigned qd = 16;
  unsigned queues = 1;
  std::string chunk = "1M";
  bool progress = false, no_progress = false;
  bool json = false;
  ClientOptions opts;  // rdma:// login options

  ProgressMode progress_mode() const {
    return progress ? ProgressMode::on : no_progress ? ProgressMode::off : ProgressMode::automatic;
  }
};

// --json: what was copied, how fast.
void print_summary(const CopyArgs& a, std::string_view command, uint64_t offset, uint64_t bytes, double seconds) {
  nlohmann::ordered_json j{{"command", command},
                           {"url", a.url},
                           {"file", a.file},
                           {"offset", offset},
                           {"bytes", bytes},
                           {"seconds", seconds},
                           {"bytes_per_second", seconds > 0 ? static_cast<double>(bytes) / seconds : 0.0}};
  fmt::print("{}\n", j.dump(2));
}

// A file descriptor that closes itself; "-" means stdin/stdout (not closed).
class File {
 public:
  File(const std::string& path, bool for_writing) {
    if (path == "-") {
      fd_ = for_writing ? STDOUT_FILENO : STDIN_FILENO;
      name_ = for_writing ? "stdout" : "stdin";
      return;
    }
    fd_ = for_writing ? ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666)
                      : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw Failure(fmt::format("cannot open {}: {}", path, std::strerror(errno)));
    owned_ = true;
    name_ = path;
  }
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  ~File() {
    if (owned_) ::close(fd_);
  }
  int fd() const { return fd_; }
  const std::string& name() const { return name_; }  // for messages

 private:
  int fd_ = -1;
  bool owned_ = false;
  std::string name_;
};

// The size of a regular file or block device; nullopt for pipes and ttys.
std::optional<uint64_t> input_size(int fd) {
  struct stat st {};
  if (fstat(fd, &st) != 0) return std::nullopt;
  if (S_ISREG(st.st_mode)) return static_cast<uint64_t>(st.st_size);
  uint64_t bytes = 0;
  if (S_ISBLK(st.st_mode) && ioctl(fd, BLKGETSIZE64, &bytes) == 0) return bytes;
  return std::nullopt;
}

void write_all(int fd, const std::byte* p, size_t n, const std::string& name) {
  while (n > 0) {
    ssize_t k = ::write(fd, p, n);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) throw Failure(fmt::format("cannot write {}: {}", name, std::strerror(errno)));
    p += k;
    n -= static_cast<size_t>(k);
  }
}

// Reads until `n` bytes or end of input; returns the count.
size_t read_full(int fd, std::byte* p, size_t n, const std::string& name) {
  size_t got = 0;
  while (got < n) {
    ssize_t k = ::read(fd, p + got, n - got);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) throw Failure(fmt::format("cannot read {}: {}", name, std::strerror(errno)));
    if (k == 0) break;
    got += static_cast<size_t>(k);
  }
  return got;
}

uint64_t round_up(uint64_t v, uint64_t to) { return (v + to - 1) / to * to; }

// `depth` chunk buffers used in ring order, each with at most one request in
// flight. The destructor waits for all of them, so no completion can outlive
// the buffers, whatever path leaves the command.
class Ring {
 public:
  Ring(Client& client, unsigned depth, size_t chunk) : client_(client) {
    slots_.reserve(depth);
    for (unsigned i = 0; i < depth; ++i) slots_.push_back({client.alloc_buffer(chunk), false, {}});
  }
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;
  ~Ring() {
    for (unsigned i = 0; i < slots_.size(); ++i) wait(i);
  }

  unsigned depth() const { return static_cast<unsigned>(slots_.size()); }
  std::byte* buffer(unsigned i) { return slots_[i].buf.data(); }

  void read(unsigned i, uint64_t offset, size_t length) {
    begin(i);
    client_.read(offset, {buffer(i), length}, [this, i](std::error_code ec) { end(i, ec); });
  }
  void write(unsigned i, uint64_t offset, size_t length) {
    begin(i);
    client_.write(offset, {buffer(i), length}, [this, i](std::error_code ec) { end(i, ec); });
  }
  // Waits until slot i is idle; returns the result of its last request.
  std::error_code wait(unsigned i) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !slots_[i].busy; });
    return std::exchange(slots_[i].result, {});
  }

 private:
  struct Slot {
    Buffer buf;
    bool busy = false;
    std::error_code result;
  };
  void begin(unsigned i) {
    std::lock_guard lock(mu_);
    slots_[i].busy = true;
  }
  void end(unsigned i, std::error_code ec) {
    {
      std::lock_guard lock(mu_);
      slots_[i].busy = false;
      slots_[i].result = ec;
    }
    cv_.notify_all();
  }

  Client& client_;
  std::vector<Slot> slots_;
  std::mutex mu_;
  std::condition_variable cv_;
};

// The chunk size: the request, kept within what the export allows.
size_t chunk_size(const CopyArgs& a, const ExportInfo& info) {
  uint64_t chunk = size_arg("--chunk", a.chunk);
  chunk = std::min<uint64_t>(chunk, info.max_block_size);
  chunk = std::max<uint64_t>(chunk / info.min_block_size * info.min_block_size, info.min_block_size);
  return static_cast<size_t>(chunk);
}

ClientOptions copy_options(const CopyArgs& a) {
  if (a.qd == 0 || a.queues == 0) throw UsageError("--qd and --queues must be at least 1");
  ClientOptions opts = a.opts;
  opts.queue_depth = a.qd;
  opts.queues = a.queues;
  return opts;
}

void check_offset(uint64_t offset, const ExportInfo& info) {
  if (offset > info.size)
    throw Failure(fmt::format("offset {} is beyond the end of the export ({} bytes)", offset, info.size));
  if (offset % info.min_block_size != 0)
    throw Failure(fmt::format("offset {} is not a multiple of the export's minimum block size {}", offset,
                              info.min_block_size));
}

std::string failed(std::string_view what, uint64_t offset, std::error_code ec) {
  return fmt::format("{} at offset {} failed: {}", what, offset, ec.message());
}

int run_get(const CopyArgs& a) {
  if (a.json && a.file == "-") throw UsageError("--json needs a FILE: stdout carries the data");
  uint64_t offset = size_arg("--offset", a.offset);
  auto client = open_client(a.url, copy_options(a));
  const auto& info = client->info();
  check_offset(offset, info);
  uint64_t length = a.length.empty() ? info.size - offset : size_arg("--length", a.length);
  if (length > info.size - offset)
    throw Failure(fmt::format("{} bytes at offset {} go beyond the end of the export ({} bytes)", length, offset,
                              info.size));
  File out(a.file, true);
  size_t chunk = chunk_size(a, info);
  Ring ring(*client, client->options().queue_depth, chunk);
  Progress progress(a.progress_mode(), "get", length);

  // Reads go out in ring order and are written out in the same order.
  uint64_t end = offset + length;
  uint64_t next = offset;  // next export offset to read
  std::vector<uint64_t> slot_offset(ring.depth(), end);  // `end`: nothing to write out
  auto submit = [&](unsigned i) {
    uint64_t n = std::min<uint64_t>(chunk, end - next);
    // A tail shorter than a block is read whole and cut when written.
    uint64_t aligned = std::min(round_up(n, info.min_block_size), info.size - next);
    slot_offset[i] = next;
    ring.read(i, next, aligned);
    next += n;
  };
  for (unsigned i = 0; i < ring.depth() && next < end; ++i) submit(i);
  for (unsigned i = 0; ; i = (i + 1) % ring.depth()) {
    uint64_t at = slot_offset[i];
    if (at >= end) break;
    if (auto ec = ring.wait(i)) throw Failure(failed("read", at, ec));
    const uint64_t n = std::min<uint64_t>(chunk, end - at);
    write_all(out.fd(), ring.buffer(i), n, out.name());
    progress.update(at + n - offset);
    slot_offset[i] = end;  // consumed
    if (next < end) submit(i);
  }
  progress.finish(length);
  if (a.json) print_summary(a, "get", offset, length, progress.elapsed());
  return 0;
}

int run_put(const CopyArgs& a) {
  uint64_t offset = size_arg("--offset", a.offset);
  File in(a.file, false);
  auto client = open_client(a.url, copy_options(a));
  const auto& info = client->info();
  if (info.read_only) throw Failure(fmt::format("export '{}' is read-only", info.name));
  check_offset(offset, info);
  uint64_t room = info.size - offset;
  auto size = input_size(in.fd());
  if (size && *size > room)
    throw Failure(fmt::format("{} ({} bytes) does not fit in the export at offset {}: only {} bytes left",
                              in.name(), *size, offset, room));
  size_t chunk = chunk_size(a, info);
  Ring ring(*client, client->options().queue_depth, chunk);
  Progress progress(a.progress_mode(), "put", size);

  uint64_t next = offset;
  std::vector<uint64_t> slot_offset(ring.depth(), 0);
  for (unsigned i = 0;; i = (i + 1) % ring.depth()) {
    if (auto ec = ring.wait(i)) throw Failure(failed("write", slot_offset[i], ec));
    size_t n = read_full(in.fd(), ring.buffer(i), chunk, in.name());
    if (n == 0) break;
    if (n > info.size - next)
      throw Failure(fmt::format("{} is larger than the export: stopped after {} bytes at offset {}", in.name(),
                                next - offset, next));
    size_t aligned = round_up(n, info.min_block_size);
    if (aligned != n) {
      // The last block is only partly in the input: keep the rest of it.
      uint64_t block = next + aligned - info.min_block_size;
      Buffer old = client->alloc_buffer(info.min_block_size);
      if (auto ec = client->read_sync(block, old.span())) throw Failure(failed("read", block, ec));
      size_t keep_from = n - (aligned - info.min_block_size);
      std::memcpy(ring.buffer(i) + n, old.data() + keep_from, aligned - n);
    }
    slot_offset[i] = next;
    ring.write(i, next, aligned);
    next += n;
    progress.update(next - offset);  // sent; the flush below waits for them all
    if (n < chunk) break;  // end of input
  }
  for (unsigned i = 0; i < ring.depth(); ++i)
    if (auto ec = ring.wait(i)) throw Failure(failed("write", slot_offset[i], ec));
  if (info.can_flush)
    if (auto ec = client->flush_sync()) throw Failure(fmt::format("flush failed: {}", ec.message()));
  progress.finish(next - offset);
  if (a.json) print_summary(a, "put", offset, next - offset, progress.elapsed());
  return 0;
}

void add_common(CLI::App* app, CopyArgs& a) {
  app->add_option("--qd", a.qd, "Requests in flight")->capture_default_str();
  app->add_option("--queues", a.queues, "Connections or RDMA queues (nbd: only if the server allows multi-conn)")
      ->capture_default_str();
  app->add_option("--chunk", a.chunk, "Bytes per request (clamped to the export's maximum)")->capture_default_str();
  auto* on = app->add_flag("--progress", a.progress, "Show the progress line even when stderr is not a terminal");
  app->add_flag("--no-progress", a.no_progress, "Never show the progress line (default: only on a terminal)")
      ->excludes(on);
  app->add_flag("--json", a.json, "Print a JSON summary (bytes, seconds, rate) on stdout when done");
  add_rdma_options(app, a.opts, true);
}

}  // namespace

Command register_get(CLI::App& parent) {
  auto a = std::make_shared<CopyArgs>();
  auto* app = parent.add_subcommand("get", "Copy an export (or a range of it) into a file");
  app->add_option("URL", a->url, "nbd:// or rdma://host[:port]/export")->required();
  app->add_option("FILE", a->file, "Destination file; - for stdout")->required();
  app->add_option("--offset", a->offset, "Start at this export offset (4k, 1M...)")->capture_default_str();
  app->add_option("--length", a->length, "Copy this many bytes (default: to the end)");
  add_common(app, *a);
  return {app, [a] { return run_get(*a); }};
}

Command register_put(CLI::App& parent) {
  auto a = std::make_shared<CopyArgs>();
  auto* app = parent.add_subcommand("put", "Copy a file into an export, then flush");
  app->add_option("URL", a->url, "nbd:// or rdma://host[:port]/export")->required();
  app->add_option("FILE", a->file, "Source file; - for stdin")->required();
  app->add_option("--offset", a->offset, "Start at this export offset (4k, 1M...)")->capture_default_str();
  add_common(app, *a);
  return {app, [a] { return run_put(*a); }};
}

}  // namespace rdmablk::cli
