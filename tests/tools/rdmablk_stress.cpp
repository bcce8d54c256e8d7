// rdmablk-stress: a data-integrity check of one export through librdmablk,
// for any transport (nbd://, rdma:// in command or direct mode).
//
// Phase 1 writes random data of mixed sizes (log-uniform between --min-bs
// and --max-bs, multiples of the export's block size) at random offsets
// inside the first --span bytes, keeping --qd requests in flight and never
// two in-flight writes on overlapping ranges, and mirrors every write into a
// shadow copy. Half of the request buffers come from Client::alloc_buffer
// (registered: zero copy), half are plain heap memory (the bounce path).
// Phase 2 flushes, then reads the whole span back in mixed sizes and compares
// every byte with the shadow; the SHA-256 of both is printed.
//
// Exit status: 0 all bytes equal, 1 a mismatch, 2 an I/O error or bad usage.
#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "rdmablk/client.hpp"
#include "rdmablk/units.hpp"

namespace {

using Clock = std::chrono::steady_clock;

// One request buffer per queue slot; the slot is busy while its request runs.
struct Slot {
  rdmablk::Buffer registered;   // from alloc_buffer
  std::vector<std::byte> heap;  // unregistered memory
  std::byte* data = nullptr;
  uint64_t offset = 0;
  uint32_t length = 0;
  bool busy = false;
};

class Runner {
 public:
  Runner(rdmablk::Client& c, unsigned qd, uint32_t max_bs) : client_(c) {
    slots_.resize(qd);
    for (unsigned i = 0; i < qd; ++i) {
      if (i % 2 == 0) {
        slots_[i].registered = client_.alloc_buffer(max_bs);
        slots_[i].data = slots_[i].registered.data();
      } else {
        slots_[i].heap.resize(max_bs);
        slots_[i].data = slots_[i].heap.data();
      }
    }
  }

  // A free slot whose range [offset, offset+length) overlaps no busy slot's
  // range; waits for completions until one is. nullptr after an I/O error.
  Slot* take(uint64_t offset, uint32_t length) {
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return error_ || (free_slot() && !overlaps(offset, length)); });
    if (error_) return nullptr;
    Slot* s = free_slot();
    s->busy = true;
    s->offset = offset;
    s->length = length;
    return s;
  }

  rdmablk::Completion done(Slot* s, const char* what) {
    return [this, s, what](std::error_code ec) {
      std::lock_guard lk(mu_);
      if (ec && !error_) {
        error_ = ec;
        error_what_ = fmt::format("{} of {} bytes at offset {}: {}", what, s->length, s->offset, ec.message());
      }
      s->busy = false;
      cv_.notify_all();
    };
  }

  // Waits for every request; the first error, if any.
  std::error_code drain(std::string& what) {
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return std::none_of(slots_.begin(), slots_.end(), [](const Slot& s) { return s.busy; }); });
    what = error_what_;
    return error_;
  }

 private:
  Slot* free_slot() {
    for (auto& s : slots_)
      if (!s.busy) return &s;
    return nullptr;
  }
  bool overlaps(uint64_t offset, uint32_t length) const {
    for (const auto& s : slots_)
      if (s.busy && offset < s.offset + s.length && s.offset < offset + length) return true;
    return false;
  }

  rdmablk::Client& client_;
  std::vector<Slot> slots_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::error_code error_;
  std::string error_what_;
};

std::string sha256_hex(const std::byte* p, size_t n) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_Digest(p, n, md, &len, EVP_sha256(), nullptr);
  std::string hex;
  for (unsigned i = 0; i < len; ++i) hex += fmt::format("{:02x}", md[i]);
  return hex;
}

// A length, log-uniform in [min_bs, max_bs], a multiple of `block`.
uint32_t pick_length(std::mt19937_64& rng, uint32_t min_bs, uint32_t max_bs, uint32_t block) {
  std::uniform_real_distribution<double> d(std::log2(min_bs), std::log2(max_bs));
  auto len = static_cast<uint32_t>(std::exp2(d(rng)));
  len = std::clamp(len / block * block, min_bs, max_bs);
  return len;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Write random data of mixed sizes to an export, read it back and compare every byte.\n"
               "DESTRUCTIVE: overwrites the first --span bytes of the export.",
               "rdmablk-stress"};
  std::string url, bytes_s = "64M", span_s = "64M", min_s = "512", max_s = "1M";
  unsigned qd = 32, queues = 1;
  uint64_t seed = 1;
  std::string mode;
  app.add_option("url", url, "nbd://host[:port]/export or rdma://host[:port]/export")->required();
  app.add_option("--bytes", bytes_s, "bytes to write in phase 1")->capture_default_str();
  app.add_option("--span", span_s, "bytes at the start of the export the test uses")->capture_default_str();
  app.add_option("--min-bs", min_s, "smallest request")->capture_default_str();
  app.add_option("--max-bs", max_s, "largest request")->capture_default_str();
  app.add_option("--qd", qd, "requests in flight")->capture_default_str()->check(CLI::Range(1u, 1024u));
  app.add_option("--queues", queues, "queues (TCP connections or RDMA queue pairs)")
      ->capture_default_str()->check(CLI::Range(1u, 256u));
  app.add_option("--mode", mode, "rdma:// data movement")->check(CLI::IsMember({"command", "direct"}));
  app.add_option("--seed", seed, "random seed")->capture_default_str();
  bool self_check = false;
  app.add_flag("--self-check", self_check, "flip one expected byte before comparing: must report a mismatch");
  CLI11_PARSE(app, argc, argv);

  uint64_t bytes = 0, span = 0, min_bs = 0, max_bs = 0;
  try {
    bytes = rdmablk::parse_size(bytes_s);
    span = rdmablk::parse_size(span_s);
    min_bs = rdmablk::parse_size(min_s);
    max_bs = rdmablk::parse_size(max_s);
  } catch (const std::exception& e) {
    fmt::print(stderr, "rdmablk-stress: {}\n", e.what());
    return 2;
  }

  std::unique_ptr<rdmablk::Client> client;
  try {
    rdmablk::ClientOptions opts;
    opts.queues = queues;
    opts.queue_depth = std::max(1u, (qd + queues - 1) / queues);
    if (mode == "direct") opts.mode = rdmablk::RdmaMode::direct;
    client = rdmablk::Client::open(url, opts);
  } catch (const std::exception& e) {
    fmt::print(stderr, "rdmablk-stress: {}\n", e.what());
    return 2;
  }
  const auto& info = client->info();
  uint32_t block = std::max<uint32_t>(info.min_block_size, 512);
  span = std::min<uint64_t>(span, info.size) / block * block;
  max_bs = std::min<uint64_t>({max_bs, info.max_block_size, span});
  min_bs = std::max<uint64_t>(min_bs, block);
  if (span == 0 || min_bs > max_bs || min_bs % block || max_bs % block) {
    fmt::print(stderr, "rdmablk-stress: sizes do not fit the export (block {}, size {}, max request {})\n", block,
               info.size, info.max_block_size);
    return 2;
  }
  fmt::print("rdmablk-stress: {} ({} bytes, block {}), span {}, {} queue(s), qd {}, sizes {}..{}\n", url, info.size,
             block, span, client->options().queues, qd, min_bs, max_bs);

  std::mt19937_64 rng(seed);
  std::vector<std::byte> shadow(span);
  Runner runner(*client, qd, static_cast<uint32_t>(max_bs));
  std::string what;
  auto start = Clock::now();

  // Phase 0: a known start. The span is written in order once, so that the
  // comparison covers bytes the random phase never touches too.
  std::mt19937_64 fill_rng(seed ^ 0x5eed);
  // Random bytes into a request buffer and the shadow alike.
  auto fill = [&](std::byte* buf, uint64_t off, uint32_t len) {
    for (uint32_t i = 0; i < len; i += 8) {
      uint64_t v = fill_rng();
      uint32_t n = std::min<uint32_t>(8, len - i);
      std::memcpy(buf + i, &v, n);
      std::memcpy(shadow.data() + off + i, &v, n);
    }
  };
  for (uint64_t off = 0; off < span; off += max_bs) {
    auto len = static_cast<uint32_t>(std::min<uint64_t>(max_bs, span - off));
    Slot* s = runner.take(off, len);
    if (!s) break;
    fill(s->data, off, len);
    client->write(off, {s->data, len}, runner.done(s, "fill write"));
  }

  // Phase 1: random writes of mixed sizes, some with FUA.
  uint64_t written = 0, writes = 0;
  std::uniform_int_distribution<uint64_t> block_no(0, span / block - 1);
  while (written < bytes) {
    uint32_t len = pick_length(rng, static_cast<uint32_t>(min_bs), static_cast<uint32_t>(max_bs), block);
    uint64_t off = std::min<uint64_t>(block_no(rng) * block, span - len);
    Slot* s = runner.take(off, len);
    if (!s) break;
    fill(s->data, off, len);
    bool fua = info.can_fua && (writes % 16 == 15);
    client->write(off, {s->data, len}, runner.done(s, "write"), fua);
    written += len;
    ++writes;
  }
  if (auto ec = runner.drain(what)) {
    fmt::print(stderr, "rdmablk-stress: {}\n", what);
    return 2;
  }
  if (info.can_flush) {
    if (auto ec = client->flush_sync()) {
      fmt::print(stderr, "rdmablk-stress: flush: {}\n", ec.message());
      return 2;
    }
  }
  double write_s = std::chrono::duration<double>(Clock::now() - start).count();

  // Phase 2: read the span back in mixed sizes, compare every byte.
  std::vector<std::byte> back(span);
  uint64_t off = 0, reads = 0;
  while (off < span) {
    auto len = static_cast<uint32_t>(
        std::min<uint64_t>(pick_length(rng, static_cast<uint32_t>(min_bs), static_cast<uint32_t>(max_bs), block),
                           span - off));
    Slot* s = runner.take(off, len);
    if (!s) break;
    std::byte* dst = back.data() + off;
    // Registered slots read into their own buffer and copy out on completion
    // (exercising zero copy); heap slots read straight into `back` (bounce).
    bool unregistered = !s->registered.data();
    auto inner = runner.done(s, "read");
    if (unregistered) {
      client->read(off, {dst, len}, std::move(inner));
    } else {
      std::byte* src = s->data;
      client->read(off, {src, len}, [inner = std::move(inner), dst, src, len](std::error_code ec) {
        if (!ec) std::memcpy(dst, src, len);
        inner(ec);
      });
    }
    off += len;
    ++reads;
  }
  if (auto ec = runner.drain(what)) {
    fmt::print(stderr, "rdmablk-stress: {}\n", what);
    return 2;
  }
  double total_s = std::chrono::duration<double>(Clock::now() - start).count();

  if (self_check) shadow[span / 2] ^= std::byte{0x01};
  std::string want = sha256_hex(shadow.data(), span), got = sha256_hex(back.data(), span);
  fmt::print("rdmablk-stress: wrote {} bytes in {} random writes, read {} bytes in {} reads, {:.1f} s ({:.1f} s writing)\n",
             written + span, writes, span, reads, total_s, write_s);
  fmt::print("rdmablk-stress: sha256 expected {}\nrdmablk-stress: sha256 read     {}\n", want, got);
  auto mism = std::mismatch(shadow.begin(), shadow.end(), back.begin());
  if (mism.first != shadow.end()) {
    auto at = static_cast<uint64_t>(mism.first - shadow.begin());
    uint64_t bad = 0;
    for (uint64_t i = at; i < span; ++i) bad += shadow[i] != back[i];
    fmt::print(stderr, "rdmablk-stress: MISMATCH: first differing byte at offset {} (expected {:#04x}, read {:#04x}), {} bytes differ\n",
               at, static_cast<unsigned>(shadow[at]), static_cast<unsigned>(back[at]), bad);
    return 1;
  }
  fmt::print("rdmablk-stress: OK, every byte equal\n");
  return 0;
}
