// rdmablk-target: serves exports (RAM, files, block devices) to rdmablk
// initiators over RDMA (librdmacm) and to NBD clients over TCP. Under
// systemd it reports readiness (Type=notify) and reloads its export list on
// SIGHUP; --metrics serves Prometheus figures.
#include <sys/resource.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/thread_pool.hpp>
#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#if RDMABLK_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "config.hpp"
#include "export.hpp"
#include "metrics.hpp"
#include "nbd_server.hpp"
#include "rdma_probe.hpp"
#include "rdma_server.hpp"
#include "worker.hpp"

namespace asio = boost::asio;
using namespace rdmablk::target;

namespace {

constexpr int kExitRuntime = 1;
constexpr int kExitUsage = 2;

struct Options {
  TargetConfig config;
  // Builds the config again from the same sources (SIGHUP): the file is
  // read anew, the command line's exports and settings override it.
  std::function<TargetConfig()> rebuild;
  std::string port_file;
  std::string log_level = "info";
  RdmaServerOptions rdma;
};

// Parses the command line and the config file it names; exits on --help,
// --version and errors (one line, exit code 2).
std::optional<Options> parse_command_line(int argc, char** argv, int& exit_code) {
  CLI::App app{"Serve block exports (RAM, files, block devices) to rdmablk initiators over RDMA\n"
               "and to NBD clients over TCP.",
               "rdmablk-target"};
  app.set_version_flag("--version", RDMABLK_VERSION);
  app.footer(
      "Export spec: NAME=BACKEND[,opt...]; BACKEND is ram:SIZE (e.g. ram:1G) or a path to a\n"
      "regular file or block device; options: ro, bs=512..4096, allow=ADDR|CIDR|host:ID\n"
      "(repeatable), secret=FILE (RDMA login secret; such exports are not served over NBD),\n"
      "desc=TEXT (must come last, may contain commas).\n"
      "Exit status: 0 after a clean shutdown, 1 on a runtime failure, 2 on bad arguments.\n"
      "See rdmablk-target(8) and docs/target.md.");

  std::vector<std::string> specs;
  std::string config_file, listen, port_file, log_level = "info";
  int nbd_port = 0, rdma_port = 0;
  unsigned threads = 1;
  bool no_nbd = false, no_rdma = false;
  app.add_option("-e,--export", specs, "Export to serve (repeatable)")
      ->type_name("NAME=BACKEND[,opt...]")
      ->allow_extra_args(false);  // one spec per --export
  app.add_option("-c,--config", config_file, "TOML config file ([target], [[export]])")->type_name("FILE");
  auto* listen_opt = app.add_option("--listen", listen, "Address to listen on (default :: = all, IPv4 and IPv6)")
                         ->type_name("ADDR");
  auto* nbd_opt = app.add_option("--nbd-port", nbd_port, "NBD/TCP port; 0 = ephemeral, -1 = off (default 10809)")
                      ->type_name("PORT");
  auto* rdma_opt = app.add_option("--rdma-port", rdma_port, "RDMA CM port; 0 = ephemeral, -1 = off (default 7471)")
                       ->type_name("PORT");
  app.add_flag("--no-nbd", no_nbd, "Do not serve NBD (same as --nbd-port -1)");
  app.add_flag("--no-rdma", no_rdma, "Do not serve RDMA (same as --rdma-port -1)");
  auto* threads_opt = app.add_option("-t,--threads", threads, "Worker threads (default 1)")->type_name("N");
  app.add_option("--port-file", port_file, "Once listening, write nbd=PORT and rdma=PORT lines here (one per transport that listens)")
      ->type_name("FILE");
  RdmaServerOptions rdma;
  app.add_option("--rdma-queue-depth", rdma.limits.max_queue_depth,
                 "Largest queue depth an RDMA queue is granted (default 128, at most 1024)")
      ->type_name("N")
      ->check(CLI::Range(1, RDMABLK_MAX_QUEUE_DEPTH));
  app.add_option("--rdma-queues", rdma.limits.max_io_queues,
                 "Largest number of I/O queues an RDMA session is granted (default 64, at most 255)")
      ->type_name("N")
      ->check(CLI::Range(0, RDMABLK_MAX_QUEUES - 1));
  app.add_option("--rdma-max-io", rdma.limits.max_io_size,
                 "Largest RDMA READ/WRITE command in bytes, a multiple of 4096 (default 1048576, at most 8 MiB);\n"
                 "also the size of each bounce buffer")
      ->type_name("BYTES")
      ->check(CLI::Range(4096u, RDMABLK_MAX_IO_SIZE));
  app.add_option("--rdma-bounce-buffers", rdma.bounce_buffers,
                 "Registered bounce buffers per worker and device for file and block-device exports (default 16)")
      ->type_name("N")
      ->check(CLI::Range(1, 4096));
  app.add_flag("--rdma-poll", rdma.poll,
               "Busy-poll RDMA completion queues instead of sleeping until a completion arrives:\n"
               "lowest latency, but every worker thread keeps a core busy");
  int64_t spin_us = rdma.spin.count();
  app.add_option("--rdma-spin-us", spin_us,
                 fmt::format("Adaptive polling: keep polling an RDMA completion queue this many microseconds after\n"
                             "its last completion before sleeping on it; 0 = sleep at once (default {})",
                             RdmaServerOptions::kDefaultSpin.count()))
      ->type_name("US")
      ->check(CLI::Range(int64_t{0}, int64_t{1'000'000}));
  int keepalive_s = RDMABLK_KEEPALIVE_TIMEOUT_MS / 1000;
  auto* keepalive_opt =
      app.add_option("--rdma-keepalive-timeout", keepalive_s,
                     "Disconnect an RDMA session whose queue 0 received nothing for this many seconds;\n"
                     "0 = never (default 30)")
          ->type_name("SECONDS")
          ->check(CLI::Range(0, 86400));
  int login_s = static_cast<int>(rdma.login_timeout.count() / 1000);
  auto* login_opt =
      app.add_option("--rdma-login-timeout", login_s,
                     "Disconnect an RDMA queue 0 that has not logged in this many seconds after it was accepted;\n"
                     "0 = never (default 10)")
          ->type_name("SECONDS")
          ->check(CLI::Range(0, 86400));
  app.add_option("--rdma-max-pending", rdma.max_pending,
                 "RDMA connections that have not logged in yet, from all addresses together; beyond it a new one\n"
                 "evicts the oldest that had 1 s to log in, or is rejected (default 256; one address may hold at most 64)")
      ->type_name("N")
      ->check(CLI::Range(1, 65536));
  std::string metrics;
  auto* metrics_opt =
      app.add_option("--metrics", metrics,
                     "Serve Prometheus metrics over HTTP at http://ADDR:PORT/metrics (e.g. 127.0.0.1:9100,\n"
                     "[::1]:9100, :9100 for all addresses; port 0 = ephemeral, see --port-file)")
          ->type_name("ADDR:PORT");
  app.add_option("--rdma-connect-rate", rdma.connect_rate,
                 "RDMA queue-0 connections one source address may open per second, after a burst of\n"
                 "--rdma-connect-burst; more are rejected, so a flood from one address cannot keep every\n"
                 "--rdma-max-pending place too young to evict (default 16; 0 = no limit)")
      ->type_name("N")
      ->check(CLI::Range(0.0, 1e6));
  app.add_option("--rdma-connect-burst", rdma.connect_burst,
                 "RDMA queue-0 connections one source address may open at once (default 128)")
      ->type_name("N")
      ->check(CLI::Range(1, 65536));
  app.add_option("--log-level", log_level, "trace, debug, info, warn or error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) {  // --help, --version
      exit_code = app.exit(e);
      return std::nullopt;
    }
    fmt::print(stderr, "rdmablk-target: {} (see --help)\n", e.what());
    exit_code = kExitUsage;
    return std::nullopt;
  }

  Options o;
  const bool have_listen = listen_opt->count(), have_nbd = nbd_opt->count(), have_rdma = rdma_opt->count(),
             have_threads = threads_opt->count(), have_metrics = metrics_opt->count();
  o.rebuild = [=] {
    TargetConfig c;
    if (!config_file.empty()) c = load_config_file(config_file);
    if (have_listen) c.listen = listen;
    if (have_nbd) c.nbd_port = nbd_port;
    if (have_rdma) c.rdma_port = rdma_port;
    if (no_nbd) c.nbd_port = kPortDisabled;
    if (no_rdma) c.rdma_port = kPortDisabled;
    if (have_threads) c.threads = threads;
    if (have_metrics) {
      try {
        c.metrics = parse_metrics_endpoint(metrics);
      } catch (const ConfigError& e) {
        throw ConfigError(fmt::format("--metrics: {}", e.what()));
      }
    }
    for (const auto& spec : specs) add_or_replace_export(c, parse_export_spec(spec));
    validate(c);
    return c;
  };
  try {
    o.config = o.rebuild();
  } catch (const ConfigError& e) {
    fmt::print(stderr, "rdmablk-target: {}\n", e.what());
    exit_code = kExitUsage;
    return std::nullopt;
  }
  if (rdma.limits.max_io_size % 4096 != 0) {
    fmt::print(stderr, "rdmablk-target: --rdma-max-io must be a multiple of 4096 (see --help)\n");
    exit_code = kExitUsage;
    return std::nullopt;
  }
  o.port_file = port_file;
  o.log_level = log_level;
  if (keepalive_opt->count()) rdma.keepalive_timeout = std::chrono::seconds(keepalive_s);
  rdma.spin = std::chrono::microseconds(spin_us);
  if (login_opt->count()) rdma.login_timeout = std::chrono::seconds(login_s);
  o.rdma = rdma;
  return o;
}

void setup_logging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("rdmablk-target");
  logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
}

// Written to a temporary name and renamed, so readers never see half a file.
void write_port_file(const std::string& path, int nbd_port, int rdma_port, int metrics_port) {
  std::string tmp = fmt::format("{}.tmp.{}", path, ::getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    // Only the transports that listen: "rdma=" is absent without RDMA.
    if (nbd_port) out << "nbd=" << nbd_port << "\n";
    if (rdma_port) out << "rdma=" << rdma_port << "\n";
    if (metrics_port) out << "metrics=" << metrics_port << "\n";
    out.flush();
    if (!out) throw std::system_error(errno, std::generic_category(), "cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    std::remove(tmp.c_str());
    throw std::system_error(err, std::generic_category(), "cannot rename to " + path);
  }
}

// Tells systemd (Type=notify) how we are; a no-op without $NOTIFY_SOCKET.
void notify(const std::string& state) {
#if RDMABLK_HAVE_SYSTEMD
  if (int rc = sd_notify(0, state.c_str()); rc < 0) spdlog::debug("sd_notify: {}", std::strerror(-rc));
#else
  (void)state;
#endif
}

bool same_settings(const TargetConfig& a, const TargetConfig& b) {
  auto metrics = [](const TargetConfig& c) {
    return c.metrics ? fmt::format("{}:{}", c.metrics->address, c.metrics->port) : std::string();
  };
  return a.listen == b.listen && a.nbd_port == b.nbd_port && a.rdma_port == b.rdma_port && a.threads == b.threads &&
         metrics(a) == metrics(b);
}

// SIGHUP: the export list from the same sources again. A bad config or an
// export that cannot be opened changes nothing.
void reload(const Options& options, ExportTable& exports, RdmaServer* rdma) {
  notify("RELOADING=1");
  try {
    TargetConfig next = options.rebuild();
    if (!same_settings(next, options.config))
      spdlog::warn("reload: [target] settings (listen, ports, threads, metrics) change only on restart");
    ReloadSummary s = exports.reload(next.exports);
    if (rdma) rdma->exports_reloaded();
    stats::target().reloads.fetch_add(1, std::memory_order_relaxed);
    auto list = [](const std::vector<std::string>& v) { return v.empty() ? std::string("none") : fmt::format("{}", fmt::join(v, ", ")); };
    spdlog::info("reload: added {}; removed {}; changed {}; {} unchanged", list(s.added), list(s.removed),
                 list(s.changed), s.kept.size());
    for (const auto& name : s.added)
      if (const Export* e = exports.find(name))
        spdlog::info("export '{}': {}, block size {}{}", e->name(), e->backend().describe(), e->block_size(),
                     e->read_only() ? ", read-only" : "");
  } catch (const std::exception& e) {
    stats::target().reload_failures.fetch_add(1, std::memory_order_relaxed);
    spdlog::error("reload refused, still serving the previous exports: {}", e.what());
  }
  notify(fmt::format("READY=1\nSTATUS=serving {} export(s)", exports.all().size()));
}

}  // namespace

int main(int argc, char** argv) {
  // Every RDMA queue holds a file descriptor (its completion channel): take
  // the whole allowance, not the soft 1024 of a login shell.
  if (rlimit rl{}; getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  int exit_code = 0;
  auto options = parse_command_line(argc, argv, exit_code);
  if (!options) return exit_code;
  const TargetConfig& config = options->config;
  setup_logging(options->log_level);
  ::signal(SIGPIPE, SIG_IGN);

  const bool want_nbd = config.nbd_port != kPortDisabled;
  bool want_rdma = config.rdma_port != kPortDisabled;
  if (!want_nbd && !want_rdma) {
    fmt::print(stderr, "rdmablk-target: both NBD and RDMA are disabled: nothing to serve\n");
    return kExitUsage;
  }
  if (want_rdma && rdma_devices().empty()) {
    if (!want_nbd) {
      spdlog::error("no RDMA device and NBD is disabled: nothing to serve");
      return kExitRuntime;
    }
    spdlog::info("no RDMA device: serving NBD only");
    want_rdma = false;
  }

  ExportTable exports;
  try {
    exports = ExportTable::open(config.exports);
  } catch (const ConfigError& e) {
    fmt::print(stderr, "rdmablk-target: {}\n", e.what());
    return kExitUsage;
  }
  for (const auto& e : exports.all())
    spdlog::info("export '{}': {}, block size {}{}{}{}", e->name(), e->backend().describe(), e->block_size(),
                 e->read_only() ? ", read-only" : "", e->needs_secret() ? ", RDMA only (secret)" : "",
                 e->serial().empty() ? "" : fmt::format(", serial {}", e->serial()));

  asio::io_context control(1);
  asio::thread_pool blocking(2);  // io_uring fallback and BLKDISCARD
  WorkerPool workers(config.threads, blocking);
  std::optional<NbdServer> nbd;
  std::optional<RdmaServer> rdma;
  std::optional<MetricsServer> metrics;
  uint16_t nbd_port = 0, rdma_port = 0, metrics_port = 0;
  try {
    if (want_nbd) {
      nbd.emplace(control, workers, exports);
      nbd_port = nbd->listen(config.listen, static_cast<uint16_t>(config.nbd_port));
    }
  } catch (const std::system_error& e) {
    spdlog::error("{}", e.what());
    return kExitRuntime;
  }
  if (want_rdma) {
    try {
      rdma.emplace(control, workers, exports, options->rdma);
      rdma_port = rdma->listen(config.listen, static_cast<uint16_t>(config.rdma_port));
    } catch (const std::system_error& e) {
      rdma.reset();
      if (!want_nbd) {
        spdlog::error("{}", e.what());
        return kExitRuntime;
      }
      spdlog::error("{}: serving NBD only", e.what());
    }
  }
  if (config.metrics) {
    try {
      metrics.emplace(control, [&] {
        ListenerFigures f;
        f.nbd = nbd.has_value();
        f.rdma = rdma.has_value();
        f.nbd_connections = nbd ? nbd->connections() : 0;
        f.rdma_queues = rdma ? rdma->queues() : 0;
        return render_metrics(exports, f, stats::target());
      });
      metrics_port = metrics->listen(*config.metrics);
    } catch (const std::system_error& e) {
      spdlog::error("{}", e.what());
      return kExitRuntime;
    }
  }
  try {
    if (!options->port_file.empty()) write_port_file(options->port_file, nbd_port, rdma_port, metrics_port);
  } catch (const std::system_error& e) {
    spdlog::error("{}", e.what());
    return kExitRuntime;
  }
  if (nbd) nbd->start();
  if (rdma) rdma->start();
  if (metrics) metrics->start();
  notify(fmt::format("READY=1\nSTATUS=serving {} export(s)", exports.all().size()));

  asio::signal_set hangups(control, SIGHUP);
  std::function<void()> wait_hangup = [&] {
    hangups.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      reload(*options, exports, rdma ? &*rdma : nullptr);
      wait_hangup();
    });
  };
  wait_hangup();

  bool synced = true;
  asio::signal_set signals(control, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    spdlog::info("{}: finishing requests in flight", ::strsignal(signo));
    notify("STOPPING=1");
    hangups.cancel();
    if (metrics) metrics->stop();
    signals.async_wait([](const boost::system::error_code& ec2, int) {
      if (ec2) return;
      spdlog::warn("second signal: exiting without draining");
      std::_Exit(kExitRuntime);
    });
    // Each transport drains on its own; the last one to finish syncs and exits.
    auto pending = std::make_shared<int>((nbd ? 1 : 0) + (rdma ? 1 : 0));
    auto drained = [&, pending] {
      if (--*pending > 0) return;
      synced = exports.sync_all();
      signals.cancel();
      control.stop();
    };
    if (nbd) nbd->stop(drained);
    if (rdma) rdma->stop(drained);
  });
  control.run();
  workers.stop();
  spdlog::info("stopped");
  return synced ? 0 : kExitRuntime;
}
