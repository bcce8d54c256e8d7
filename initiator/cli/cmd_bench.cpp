// rdmablk bench: IOPS, throughput and latency percentiles of one workload.
// Every request is resubmitted from its own completion, so the queue stays
// full without a thread per request; the benchmark allocates nothing per I/O.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <random>

#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli.hpp"
#include "rdmablk/latency_histogram.hpp"
#include "rdmablk/units.hpp"

namespace rdmablk::cli {

namespace {

using Clock = std::chrono::steady_clock;

enum class Pattern { randread, randwrite, read, write, randrw };

const std::map<std::string, Pattern> kPatterns{{"randread", Pattern::randread},
                                               {"randwrite", Pattern::randwrite},
                                               {"read", Pattern::read},
                                               {"write", Pattern::write},
                                               {"randrw", Pattern::randrw}};

struct BenchArgs {
  std::string url;
  std::string rw = "randread";
  std::string bs = "4k";
  unsigned qd = 32;
  double time = 10;
  unsigned queues = 1;
  unsigned rwmixread = 50;
  std::string size;
  bool json = false;
  ClientOptions opts;  // rdma:// mode and login options
};

// splitmix64: tiny, fast and good enough to pick offsets.
uint64_t next_random(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// A uniform integer in [0, n) without a division (Lemire).
uint64_t below(uint64_t& state, uint64_t n) {
  return static_cast<uint64_t>((static_cast<unsigned __int128>(next_random(state)) * n) >> 64);
}

class Bench {
 public:
  struct Config {
    Pattern pattern;
    uint64_t bs;
    uint64_t range;       // offsets lie in [0, range)
    unsigned read_share;  // percent of reads for randrw
    unsigned workers;     // requests in flight
  };

  Bench(Client& client, const Config& cfg) : client_(client), cfg_(cfg), blocks_(cfg.range / cfg.bs) {
    std::random_device seed;
    // Writes send this buffer, filled once with bytes no backend can compress.
    write_buf_ = client.alloc_buffer(cfg.bs);
    uint64_t s = seed();
    for (size_t i = 0; i < cfg.bs; i += 8) {
      uint64_t v = next_random(s);
      std::memcpy(write_buf_.data() + i, &v, std::min<size_t>(8, cfg.bs - i));
    }
    workers_.reserve(cfg.workers);
    for (unsigned i = 0; i < cfg.workers; ++i)
      workers_.push_back({this, client.alloc_buffer(cfg.bs), (uint64_t{seed()} << 32) ^ seed(), true, {}});
  }

  // Runs for `seconds` (less if a request fails); a progress line once a second.
  void run(double seconds, bool progress) {
    active_ = static_cast<unsigned>(workers_.size());
    start_ = Clock::now();
    for (auto& w : workers_) issue(w);
    auto deadline = start_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    auto tick = start_;
    uint64_t last_ops[2] = {0, 0};
    std::unique_lock lock(mu_);
    while (!stop_) {
      tick = std::min(tick + std::chrono::seconds(1), deadline);
      cv_.wait_until(lock, tick, [&] { return stop_.load(); });
      if (Clock::now() >= deadline) break;
      if (progress) print_progress(tick, last_ops);
    }
    stop_ = true;
    stop_time_ = Clock::now();
    cv_.wait(lock, [&] { return active_ == 0; });
    if (progress) fmt::print("\r\x1b[K");
  }

  std::error_code error() const { return error_; }
  double elapsed() const { return std::chrono::duration<double>(stop_time_ - start_).count(); }
  const LatencyHistogram& latency(bool read) const { return dir_[read ? 0 : 1].latency; }

 private:
  struct Worker {
    Bench* bench;
    Buffer buf;  // read destination
    uint64_t rng;
    bool is_read;
    Clock::time_point started;
  };

  // Totals of one direction; the histogram is touched by the I/O thread only
  // until every worker has stopped.
  struct Direction {
    std::atomic<uint64_t> ops{0};
    LatencyHistogram latency;
  };

  void issue(Worker& w) {
    uint64_t block;
    switch (cfg_.pattern) {
      case Pattern::read:
      case Pattern::write:
        block = cursor_.fetch_add(1, std::memory_order_relaxed) % blocks_;
        break;
      default:
        block = below(w.rng, blocks_);
    }
    w.is_read = cfg_.pattern == Pattern::randread || cfg_.pattern == Pattern::read ||
                (cfg_.pattern == Pattern::randrw && below(w.rng, 100) < cfg_.read_share);
    w.started = Clock::now();
    // One pointer of capture: the Completion needs no heap.
    if (w.is_read)
      client_.read(block * cfg_.bs, {w.buf.data(), cfg_.bs}, [&w](std::error_code ec) { w.bench->done(w, ec); });
    else
      client_.write(block * cfg_.bs, {write_buf_.data(), cfg_.bs}, [&w](std::error_code ec) { w.bench->done(w, ec); });
  }

  void done(Worker& w, std::error_code ec) {
    auto now = Clock::now();
    if (ec) {
      std::lock_guard lock(mu_);
      if (!error_) error_ = ec;
      stop_ = true;
      cv_.notify_all();
    } else if (!stop_.load(std::memory_order_relaxed)) {
      Direction& d = dir_[w.is_read ? 0 : 1];
      d.latency.record(static_cast<uint64_t>(std::chrono::nanoseconds(now - w.started).count()));
      d.ops.fetch_add(1, std::memory_order_relaxed);
    }
    if (!stop_.load(std::memory_order_relaxed)) {
      issue(w);
      return;
    }
    if (active_.fetch_sub(1) == 1) {
      std::lock_guard lock(mu_);
      cv_.notify_all();
    }
  }

  void print_progress(Clock::time_point now, uint64_t (&last)[2]) {
    double secs = std::chrono::duration<double>(now - start_).count();
    std::string line = fmt::format("\r[{:.0f}s]", secs);
    for (int i = 0; i < 2; ++i) {
      uint64_t ops = dir_[i].ops.load(std::memory_order_relaxed);
      uint64_t delta = ops - last[i];
      last[i] = ops;
      if (ops == 0) continue;
      line += fmt::format("  {}: {} IOPS {:.1f} MB/s", i == 0 ? "read" : "write", delta,
                          static_cast<double>(delta * cfg_.bs) / 1e6);
    }
    fmt::print("{}\x1b[K", line);
    std::fflush(stdout);
  }

  Client& client_;
  Config cfg_;
  uint64_t blocks_;
  Buffer write_buf_;
  std::vector<Worker> workers_;
  Direction dir_[2];  // [0] reads, [1] writes
  std::atomic<uint64_t> cursor_{0};
  std::atomic<bool> stop_{false};
  std::atomic<unsigned> active_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::error_code error_;
  Clock::time_point start_, stop_time_;
};

struct Figures {
  uint64_t ops;
  double iops;
  double mb_s;  // 10^6 bytes per second
  const LatencyHistogram* lat;
};

Figures figures(const LatencyHistogram& lat, uint64_t bs, double secs) {
  double ops = static_cast<double>(lat.count());
  return {lat.count(), ops / secs, ops * static_cast<double>(bs) / secs / 1e6, &lat};
}

double us(uint64_t ns) { return static_cast<double>(ns) / 1000.0; }

nlohmann::json to_json(const Figures& f, uint64_t bs) {
  const auto& l = *f.lat;
  return {{"ops", f.ops},
          {"bytes", f.ops * bs},
          {"iops", f.iops},
          {"mb_s", f.mb_s},
          {"lat_us",
           {{"mean", l.mean() / 1000.0},
            {"min", us(l.min())},
            {"p50", us(l.percentile(50))},
            {"p99", us(l.percentile(99))},
            {"p99.9", us(l.percentile(99.9))},
            {"max", us(l.max())}}}};
}

void print_figures(std::string_view name, const Figures& f) {
  const auto& l = *f.lat;
  fmt::print("{:<6} {:>10.0f} IOPS {:>10.1f} MB/s   latency us: mean {:.1f}  p50 {:.1f}  p99 {:.1f}  p99.9 {:.1f}  "
             "max {:.1f}\n",
             name, f.iops, f.mb_s, l.mean() / 1000.0, us(l.percentile(50)), us(l.percentile(99)),
             us(l.percentile(99.9)), us(l.max()));
}

int run_bench(const BenchArgs& a) {
  Pattern pattern = kPatterns.at(a.rw);
  uint64_t bs = size_arg("--bs", a.bs);
  if (bs == 0) throw UsageError("--bs must not be 0");
  if (a.qd == 0 || a.queues == 0) throw UsageError("--qd and --queues must be at least 1");
  if (!(a.time > 0)) throw UsageError("--time must be positive");
  ClientOptions opts = a.opts;
  opts.queues = a.queues;
  opts.queue_depth = a.qd;
  auto client = open_client(a.url, opts);
  const auto& info = client->info();
  const auto& eff = client->options();

  uint64_t range = a.size.empty() ? info.size : size_arg("--size", a.size);
  if (range > info.size)
    throw Failure(fmt::format("--size {} is larger than the export ({} bytes)", range, info.size));
  if (bs % info.min_block_size != 0 || bs > info.max_block_size)
    throw Failure(fmt::format("--bs {} must be a multiple of {} and at most {} for this export", bs,
                              info.min_block_size, info.max_block_size));
  if (bs > range) throw Failure(fmt::format("--bs {} is larger than the range of {} bytes", bs, range));
  bool writes = pattern == Pattern::randwrite || pattern == Pattern::write || pattern == Pattern::randrw;
  if (writes && info.read_only) throw Failure(fmt::format("export '{}' is read-only", info.name));

  Bench bench(*client, {pattern, bs, range, a.rwmixread, eff.queues * eff.queue_depth});
  bench.run(a.time, !a.json && isatty(STDOUT_FILENO));
  if (auto ec = bench.error()) throw Failure(fmt::format("I/O failed: {}", ec.message()));

  double secs = bench.elapsed();
  LatencyHistogram total = bench.latency(true);
  total.merge(bench.latency(false));
  auto reads = figures(bench.latency(true), bs, secs);
  auto wrote = figures(bench.latency(false), bs, secs);
  auto all = figures(total, bs, secs);
  bool has_reads = pattern != Pattern::randwrite && pattern != Pattern::write;
  bool has_writes = writes;
  bool rdma = a.url.rfind("rdma://", 0) == 0;

  if (a.json) {
    nlohmann::json j{{"url", a.url},     {"rw", a.rw},         {"bs", bs},
                     {"qd", eff.queue_depth}, {"queues", eff.queues}, {"range", range},
                     {"elapsed_s", secs}};
    if (rdma) j["mode"] = eff.mode == RdmaMode::direct ? "direct" : "command";
    if (pattern == Pattern::randrw) j["rwmixread"] = a.rwmixread;
    if (has_reads) j["read"] = to_json(reads, bs);
    if (has_writes) j["write"] = to_json(wrote, bs);
    j["total"] = to_json(all, bs);
    fmt::print("{}\n", j.dump(2));
    return 0;
  }
  fmt::print("{} bs={} qd={} queues={}{} range={} time={:.1f}s\n", a.rw, format_size(bs), eff.queue_depth,
             eff.queues, rdma ? (eff.mode == RdmaMode::direct ? " mode=direct" : " mode=command") : "",
             format_size(range), secs);
  if (has_reads) print_figures("read", reads);
  if (has_writes) print_figures("write", wrote);
  if (has_reads && has_writes) print_figures("total", all);
  return 0;
}

}  // namespace

Command register_bench(CLI::App& parent) {
  auto a = std::make_shared<BenchArgs>();
  auto* app = parent.add_subcommand("bench", "Measure IOPS, throughput and latency of an export");
  app->add_option("URL", a->url, "nbd:// or rdma://host[:port]/export")->required();
  app->add_option("--rw", a->rw, "Workload")->check(CLI::IsMember(kPatterns))->capture_default_str();
  app->add_option("--bs", a->bs, "Bytes per request (4k, 64k, 1M...)")->capture_default_str();
  app->add_option("--qd", a->qd, "Requests in flight per queue")->capture_default_str();
  app->add_option("--queues", a->queues, "Connections or RDMA queues (nbd: only if the server allows multi-conn)")
      ->capture_default_str();
  app->add_option("--time", a->time, "Seconds to run")->capture_default_str();
  app->add_option("--rwmixread", a->rwmixread, "Percent of reads for randrw")
      ->check(CLI::Range(0u, 100u))
      ->capture_default_str();
  app->add_option("--size", a->size, "Keep offsets in the first SIZE bytes (default: the whole export)");
  app->add_flag("--json", a->json, "Print one JSON object with every figure");
  add_rdma_options(app, a->opts, true);
  return {app, [a] { return run_bench(*a); }};
}

}  // namespace rdmablk::cli
