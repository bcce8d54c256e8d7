#pragma once
// The target's counters, read by the metrics endpoint (metrics.hpp). Every
// export keeps one IoStats per transport; workers update them on the hot
// path with relaxed atomic adds only (no lock, no allocation), and a scrape
// reads them whenever it likes: a scrape may see a request counted a
// moment before its bytes, which Prometheus tolerates. Target-wide figures
// (rejected logins, bounce buffers) live in TargetStats, one per process.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <utility>

#include "backend.hpp"
#include "rdmablk/proto.h"

namespace rdmablk::target::stats {

enum class Transport : uint8_t { nbd, rdma };
inline constexpr size_t kTransports = 2;
inline constexpr size_t kOps = 5;  // IoOp: read, write, flush, discard, write_zeroes

const char* transport_name(Transport t);
const char* op_name(IoOp op);

using Clock = std::chrono::steady_clock;
using Stamp = Clock::time_point;
inline Stamp now() { return Clock::now(); }

// Upper bounds of the latency histogram's buckets, in nanoseconds (a last
// bucket, +Inf, holds the rest): 10 us (RAM over RDMA) to 1 s (a stalled disk).
inline constexpr std::array<uint64_t, 14> kLatencyBoundsNs = {
    10'000,    25'000,     50'000,     100'000,     250'000,     500'000,     1'000'000,
    2'500'000, 5'000'000, 10'000'000, 25'000'000, 100'000'000, 250'000'000, 1'000'000'000};

using Counter = std::atomic<uint64_t>;

// One export's traffic over one transport. Aligned so that two exports'
// counters never share a cache line.
struct alignas(64) IoStats {
  std::array<Counter, kOps> requests{};
  std::array<Counter, kOps> errors{};
  Counter bytes_read{0};
  Counter bytes_written{0};
  std::array<Counter, kLatencyBoundsNs.size() + 1> latency_buckets{};  // not cumulative
  Counter latency_sum_ns{0};
  std::atomic<int64_t> sessions{0};

  // A request answered: `length` bytes of `op`, started at `started`.
  void record(IoOp op, uint64_t length, bool error, Stamp started) {
    constexpr auto relaxed = std::memory_order_relaxed;
    const auto i = static_cast<size_t>(op);
    if (i >= kOps) return;
    requests[i].fetch_add(1, relaxed);
    if (error) {
      errors[i].fetch_add(1, relaxed);
    } else if (op == IoOp::read) {
      bytes_read.fetch_add(length, relaxed);
    } else if (op == IoOp::write) {
      bytes_written.fetch_add(length, relaxed);
    }
    const auto ns = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(now() - started).count());
    size_t b = 0;
    while (b < kLatencyBoundsNs.size() && ns > kLatencyBoundsNs[b]) ++b;
    latency_buckets[b].fetch_add(1, relaxed);
    latency_sum_ns.fetch_add(ns, relaxed);
  }

  // An rdmablk response: records I/O opcodes, ignores the others
  // (KEEPALIVE, LOGIN, DISCOVER).
  void record_rdma(uint8_t opcode, uint32_t length, rdmablk_status status, Stamp started) {
    if (opcode < RDMABLK_OP_READ || opcode > RDMABLK_OP_WRITE_ZEROES) return;
    record(static_cast<IoOp>(opcode - RDMABLK_OP_READ), length, status != RDMABLK_S_SUCCESS, started);
  }
};

// Holds one session open in an IoStats's gauge for as long as it lives.
class SessionCount {
 public:
  SessionCount() = default;
  explicit SessionCount(IoStats& s) : stats_(&s) { stats_->sessions.fetch_add(1, std::memory_order_relaxed); }
  SessionCount(SessionCount&& o) noexcept : stats_(std::exchange(o.stats_, nullptr)) {}
  SessionCount& operator=(SessionCount&& o) noexcept {
    if (this != &o) {
      reset();
      stats_ = std::exchange(o.stats_, nullptr);
    }
    return *this;
  }
  ~SessionCount() { reset(); }

 private:
  void reset() {
    if (stats_) stats_->sessions.fetch_sub(1, std::memory_order_relaxed);
    stats_ = nullptr;
  }
  IoStats* stats_ = nullptr;
};

inline constexpr size_t kStatuses = RDMABLK_S_INTERNAL + 1;

struct TargetStats {
  // RDMA connections and logins refused, by rdmablk status (the reason).
  std::array<Counter, kStatuses> login_rejects{};
  // Registered bounce buffers (file and block-device exports over RDMA):
  // how many the pools hold, how many are lent to requests, and how often a
  // request had to wait for one.
  std::atomic<int64_t> bounce_total{0};
  std::atomic<int64_t> bounce_in_use{0};
  Counter bounce_waits{0};
  // Reloads of the export list (SIGHUP): done, and refused (config errors).
  Counter reloads{0};
  Counter reload_failures{0};
};

TargetStats& target();

// A refused connect request or login.
inline void login_rejected(rdmablk_status why) {
  const auto i = static_cast<size_t>(why);
  target().login_rejects[i < kStatuses ? i : size_t{RDMABLK_S_INTERNAL}].fetch_add(1, std::memory_order_relaxed);
}

}  // namespace rdmablk::target::stats
