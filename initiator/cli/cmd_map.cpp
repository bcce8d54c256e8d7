// rdmablk map / unmap / list: kernel block devices /dev/rdmablkN, managed
// through the ioctls of /dev/rdmablk-control (common/include/rdmablk/ctl.h,
// docs/kernel.md). The kernel module does the login and the data path; this
// only resolves the URL, reads the secret and reports.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli.hpp"
#include "devices.hpp"
#include "rdmablk/auth.hpp"
#include "rdmablk/ctl.h"
#include "rdmablk/proto_check.h"
#include "rdmablk/units.hpp"
#include "rdmablk/url.hpp"

namespace rdmablk::rdma {
std::string default_host_id();  // initiator/src/rdma_login.cpp
}

namespace rdmablk::cli {

namespace {

constexpr const char* kControl = "/dev/" RDMABLK_CTL_NAME;

class ControlFd {
 public:
  ControlFd() {
    fd_ = ::open(kControl, O_RDWR | O_CLOEXEC);
    if (fd_ < 0) {
      int err = errno;
      if (err == ENOENT || err == ENODEV || err == ENXIO)
        throw Failure(fmt::format("{} missing: the kernel module is not loaded (modprobe rdmablk)", kControl));
      throw Failure(fmt::format("{}: {}", kControl, std::strerror(err)));
    }
  }
  ~ControlFd() { ::close(fd_); }
  ControlFd(const ControlFd&) = delete;
  ControlFd& operator=(const ControlFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_ = -1;
};

void put_name(uint8_t* field, size_t len, const std::string& name, std::string_view what) {
  std::memset(field, 0, len);
  if (name.size() > len) throw UsageError(fmt::format("{} '{}' is longer than {} bytes", what, name, len));
  std::memcpy(field, name.data(), name.size());
  if (rdmablk_check_name(field, len) != RDMABLK_S_SUCCESS)
    throw UsageError(fmt::format("{} '{}' must be 1..{} printable ASCII characters without spaces", what,
                                 name, len));
}

std::string field_str(const uint8_t* field, size_t len) {
  return std::string(reinterpret_cast<const char*>(field), strnlen(reinterpret_cast<const char*>(field), len));
}

std::string addr_str(uint16_t family, const uint8_t* addr, uint16_t port) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (family == AF_INET6) {
    inet_ntop(AF_INET6, addr, buf, sizeof buf);
    return fmt::format("[{}]:{}", buf, port);
  }
  inet_ntop(AF_INET, addr, buf, sizeof buf);
  return fmt::format("{}:{}", buf, port);
}

const char* state_str(uint32_t state) {
  switch (state) {
    case RDMABLK_CTL_STATE_LIVE: return "live";
    case RDMABLK_CTL_STATE_RECONNECTING: return "reconnecting";
    case RDMABLK_CTL_STATE_DEAD: return "dead";
    case RDMABLK_CTL_STATE_DELETING: return "deleting";
  }
  return "unknown";
}

std::vector<rdmablk_ctl_info> list_devices(const ControlFd& ctl) {
  std::vector<rdmablk_ctl_info> infos(16);
  for (;;) {
    rdmablk_ctl_list l{};
    l.version = RDMABLK_CTL_VERSION;
    l.count = static_cast<uint32_t>(infos.size());
    l.entries = reinterpret_cast<uintptr_t>(infos.data());
    if (ioctl(ctl.get(), RDMABLK_CTL_LIST, &l) < 0)
      throw Failure(fmt::format("{}: list: {}", kControl, std::strerror(errno)));
    if (l.count <= infos.size()) {
      infos.resize(l.count);
      return infos;
    }
    infos.resize(l.count + 8);
  }
}

// ---- map (MapArgs: maps_config.hpp) ----

std::string run_map(const MapArgs& a) {
  if (a.url.empty()) throw UsageError("give a URL, or --all to map the devices of " + std::string(kMapsConfigPath));
  Url url;
  try {
    url = parse_url(a.url);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  if (url.transport != Transport::rdma) throw UsageError("map needs an rdma:// URL");
  if (url.export_name.empty()) throw UsageError("map needs an export name: rdma://host[:port]/export");
  if (!url.options.empty()) throw UsageError("map takes its settings as options, not ?key=value in the URL");
  if (a.queues > RDMABLK_MAX_QUEUES - 1) throw UsageError(fmt::format("--queues must be 1..{}", RDMABLK_MAX_QUEUES - 1));
  if (a.qd > RDMABLK_MAX_QUEUE_DEPTH - 1)
    throw UsageError(fmt::format("--qd must be 1..{}", RDMABLK_MAX_QUEUE_DEPTH - 1));
  if (a.poll_queues > RDMABLK_CTL_MAX_POLL_QUEUES)
    throw UsageError(fmt::format("--poll-queues must be 0..{}", RDMABLK_CTL_MAX_POLL_QUEUES));
  if (a.mode != "command" && a.mode != "direct") throw UsageError("--mode must be command or direct");
  if (a.reconnect_delay > 3600) throw UsageError("--reconnect-delay must be 0..3600 seconds");
  if (a.ctrl_loss_tmo < -1) throw UsageError("--ctrl-loss-tmo must be -1 (forever) or seconds");
  if (a.fast_io_fail_tmo < -1 || a.fast_io_fail_tmo > RDMABLK_CTL_MAX_FAST_IO_FAIL_TMO)
    throw UsageError(fmt::format("--fast-io-fail-tmo must be -1 (off) or 0..{} seconds",
                                 RDMABLK_CTL_MAX_FAST_IO_FAIL_TMO));
  if (a.io_timeout > RDMABLK_CTL_MAX_IO_TIMEOUT)
    throw UsageError(fmt::format("--io-timeout must be 1..{} seconds (0: the default, 30)", RDMABLK_CTL_MAX_IO_TIMEOUT));

  auto m = std::make_unique<rdmablk_ctl_map>();
  std::memset(m.get(), 0, sizeof *m);
  m->version = RDMABLK_CTL_VERSION;
  m->flags = a.read_only ? RDMABLK_CTL_F_READ_ONLY : 0;
  m->port = url.port;
  m->nr_queues = static_cast<uint16_t>(a.queues);
  m->queue_depth = static_cast<uint16_t>(a.qd);
  m->poll_queues = static_cast<uint16_t>(a.poll_queues);
  m->mode = a.mode == "direct" ? RDMABLK_CTL_MODE_DIRECT : RDMABLK_CTL_MODE_COMMAND;
  m->reconnect_delay = a.reconnect_delay;
  m->ctrl_loss_tmo = a.ctrl_loss_tmo;
  m->io_timeout = a.io_timeout;
  if (a.fast_io_fail_tmo >= 0) {
    m->flags |= RDMABLK_CTL_F_FAST_IO_FAIL;
    m->fast_io_fail_tmo = static_cast<uint32_t>(a.fast_io_fail_tmo);
  }
  put_name(m->export_name, sizeof m->export_name, url.export_name, "export name");
  put_name(m->host_id, sizeof m->host_id, a.host_id.empty() ? rdma::default_host_id() : a.host_id, "host id");
  if (!a.secret_file.empty()) {
    std::string secret;
    try {
      secret = read_secret_file(a.secret_file);
    } catch (const std::exception& e) {
      throw Failure(e.what());
    }
    if (secret.size() > sizeof m->secret) throw Failure("secret longer than 1024 bytes");
    std::memcpy(m->secret, secret.data(), secret.size());
    m->secret_len = static_cast<uint32_t>(secret.size());
  }

  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = getaddrinfo(url.host.c_str(), nullptr, &hints, &res); rc != 0)
    throw Failure(fmt::format("{}: cannot resolve host: {}", url.host, gai_strerror(rc)));
  if (res->ai_family == AF_INET) {
    m->family = AF_INET;
    std::memcpy(m->addr, &reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr, 4);
  } else if (res->ai_family == AF_INET6) {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(res->ai_addr);
    m->family = AF_INET6;
    m->scope_id = sin6->sin6_scope_id;
    std::memcpy(m->addr, &sin6->sin6_addr, 16);
  } else {
    freeaddrinfo(res);
    throw Failure(fmt::format("{}: no IPv4 or IPv6 address", url.host));
  }
  freeaddrinfo(res);

  ControlFd ctl;
  std::string peer = fmt::format("rdma://{}/{}", addr_str(m->family, m->addr, url.port), url.export_name);
  // Two disks on one export would each cache and reorder on their own. The
  // module refuses a second map with EEXIST (the check that holds against
  // racing maps); this one names the device, before any connect.
  const uint16_t port = m->port ? m->port : RDMABLK_DEFAULT_RDMA_PORT;
  for (const auto& d : list_devices(ctl))
    if (d.state != RDMABLK_CTL_STATE_DELETING && maps_export(d, m->family, m->addr, port, url.export_name))
      throw Failure(fmt::format("{}: already mapped as /dev/rdmablk{} (unmap it first)", peer, d.index));
  int rc = ioctl(ctl.get(), RDMABLK_CTL_MAP, m.get());
  int err = errno;
  std::memset(m->secret, 0, sizeof m->secret);
  if (rc < 0) {
    if (m->status)
      throw Failure(fmt::format("{}: refused by target: {}", peer, rdmablk_status_str(static_cast<int>(m->status))));
    switch (err) {
      case EEXIST: {  // a map that raced ours past the check above
        for (const auto& d : list_devices(ctl))
          if (maps_export(d, m->family, m->addr, port, url.export_name))
            throw Failure(fmt::format("{}: already mapped as /dev/rdmablk{} (unmap it first)", peer, d.index));
        throw Failure(fmt::format("{}: already being mapped by another command", peer));
      }
      case ECONNREFUSED: throw Failure(fmt::format("{}: connection refused (no rdmablk target listening there?)", peer));
      case ETIMEDOUT: throw Failure(fmt::format("{}: no answer from the target (timed out)", peer));
      case EHOSTUNREACH:
      case ENETUNREACH: throw Failure(fmt::format("{}: no route to the target over RDMA", peer));
      case EPROTO: throw Failure(fmt::format("{}: the target broke the protocol (see dmesg)", peer));
      case EOPNOTSUPP: throw Failure(fmt::format("{}: not supported by the RDMA device or target (see dmesg)", peer));
      case EINVAL:
        if (a.io_timeout || a.poll_queues)  // a reserved field to a module older than the option
          throw Failure(fmt::format("{}: map failed: {} (is the module older than --io-timeout or --poll-queues?)",
                                    peer, std::strerror(err)));
        [[fallthrough]];
      default: throw Failure(fmt::format("{}: map failed: {}", peer, std::strerror(err)));
    }
  }
  std::string dev = fmt::format("/dev/rdmablk{}", m->index);
  // devtmpfs/udev creates the node shortly after add_disk.
  for (int i = 0; i < 50; i++) {
    struct stat st;
    if (stat(dev.c_str(), &st) == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return dev;
}

// ---- unmap ----

struct UnmapArgs {
  std::string device;
  bool all = false;
};

uint32_t device_index(const std::string& arg) {
  std::string_view s = arg;
  if (s.starts_with("/dev/")) s.remove_prefix(5);
  if (s.starts_with("rdmablk")) s.remove_prefix(7);
  if (s.empty() || s.size() > 6 || s.find_first_not_of("0123456789") != std::string_view::npos)
    throw UsageError(fmt::format("'{}' is not an rdmablk device (/dev/rdmablkN)", arg));
  return static_cast<uint32_t>(std::stoul(std::string(s)));
}

void unmap_one(const ControlFd& ctl, uint32_t index) {
  rdmablk_ctl_unmap u{};
  u.version = RDMABLK_CTL_VERSION;
  u.index = index;
  if (ioctl(ctl.get(), RDMABLK_CTL_UNMAP, &u) < 0) {
    int err = errno;
    if (err == ENODEV) throw Failure(fmt::format("/dev/rdmablk{}: no such device", index));
    throw Failure(fmt::format("/dev/rdmablk{}: unmap failed: {}", index, std::strerror(err)));
  }
}

int run_unmap(const UnmapArgs& a) {
  if (a.all == !a.device.empty()) throw UsageError("give either a DEVICE or --all");
  std::optional<uint32_t> index;
  if (!a.all) index = device_index(a.device);
  ControlFd ctl;
  if (index) {
    unmap_one(ctl, *index);
    return 0;
  }
  for (const auto& info : list_devices(ctl)) unmap_one(ctl, info.index);
  return 0;
}

// ---- list and status ----

// The block layer's own counters of the disk (Documentation/block/stat.rst):
// absent fields (a disk gone meanwhile) stay 0.
struct BlockStat {
  uint64_t read_ios = 0, read_sectors = 0, write_ios = 0, write_sectors = 0, in_flight = 0;
};

BlockStat block_stat(uint32_t index) {
  BlockStat st;
  std::ifstream in(fmt::format("/sys/block/rdmablk{}/stat", index));
  uint64_t read_merges = 0, read_ticks = 0, write_merges = 0, write_ticks = 0;
  in >> st.read_ios >> read_merges >> st.read_sectors >> read_ticks >> st.write_ios >> write_merges >>
      st.write_sectors >> write_ticks >> st.in_flight;
  return st;
}

// One value of /sys/block/rdmablkN/rdmablk/ (kmod/sysfs.c), 0 if unreadable.
uint64_t sysfs_value(uint32_t index, const char* name) {
  std::ifstream in(fmt::format("/sys/block/rdmablk{}/rdmablk/{}", index, name));
  uint64_t v = 0;
  in >> v;
  return v;
}

std::vector<std::string> feature_names(uint32_t features) {
  static constexpr std::pair<uint32_t, const char*> kNames[] = {
      {RDMABLK_FEAT_INLINE_WRITE, "inline-write"}, {RDMABLK_FEAT_REMOTE_INV, "remote-invalidate"},
      {RDMABLK_FEAT_DIRECT, "direct"},             {RDMABLK_FEAT_FLUSH, "flush"},
      {RDMABLK_FEAT_FUA, "fua"},                   {RDMABLK_FEAT_DISCARD, "discard"},
      {RDMABLK_FEAT_WRITE_ZEROES, "write-zeroes"}};
  std::vector<std::string> names;
  for (auto [bit, name] : kNames)
    if (features & bit) names.emplace_back(name);
  return names;
}

const char* mode_str(const rdmablk_ctl_info& i) { return i.mode == RDMABLK_CTL_MODE_DIRECT ? "direct" : "command"; }

nlohmann::ordered_json info_json(const rdmablk_ctl_info& i) {
  BlockStat st = block_stat(i.index);
  return {{"device", fmt::format("/dev/rdmablk{}", i.index)},
          {"state", state_str(i.state)},
          {"target", addr_str(i.family, i.addr, i.port)},
          {"export", field_str(i.export_name, sizeof i.export_name)},
          {"host_id", field_str(i.host_id, sizeof i.host_id)},
          {"size", i.size},
          {"mode", mode_str(i)},
          {"queues", i.nr_queues},
          {"queue_depth", i.queue_depth},
          {"max_io_size", i.max_io_size},
          {"max_inline", i.max_inline},
          {"block_size", i.logical_block_size},
          {"read_only",
           ((i.flags & RDMABLK_CTL_F_READ_ONLY) || (i.export_flags & RDMABLK_EXPORT_F_READ_ONLY)) != 0},
          {"features", feature_names(i.features)},
          {"session_id", i.session_id},
          {"counters",
           {{"read_ios", st.read_ios},
            {"read_bytes", st.read_sectors * 512},
            {"write_ios", st.write_ios},
            {"write_bytes", st.write_sectors * 512},
            {"in_flight", st.in_flight},
            {"inline_writes", sysfs_value(i.index, "inline_writes")},
            {"io_errors", i.io_errors},
            {"timeouts", i.timeouts},
            {"reconnects", i.reconnects}}}};
}

int run_list(bool json) {
  ControlFd ctl;
  auto infos = list_devices(ctl);
  if (json) {
    auto list = nlohmann::ordered_json::array();
    for (const auto& i : infos) list.push_back(info_json(i));
    fmt::print("{}\n", nlohmann::ordered_json{{"devices", list}}.dump(2));
    return 0;
  }
  if (infos.empty()) {
    fmt::print("no devices\n");
    return 0;
  }
  constexpr auto row = "{:<16} {:<12} {:<22} {:<20} {:>10} {:<7} {:>6} {:>4} {:>6} {:>6}\n";
  fmt::print(row, "DEVICE", "STATE", "TARGET", "EXPORT", "SIZE", "MODE", "QUEUES", "QD", "RECONN", "ERRORS");
  for (const auto& i : infos)
    fmt::print(row, fmt::format("/dev/rdmablk{}", i.index), state_str(i.state), addr_str(i.family, i.addr, i.port),
               field_str(i.export_name, sizeof i.export_name), format_size(i.size), mode_str(i), i.nr_queues,
               i.queue_depth, i.reconnects, i.io_errors);
  return 0;
}

struct StatusArgs {
  std::string device;
  bool json = false;
};

int run_status(const StatusArgs& a) {
  uint32_t index = device_index(a.device);
  ControlFd ctl;
  rdmablk_ctl_status s{};
  s.version = RDMABLK_CTL_VERSION;
  s.index = index;
  if (ioctl(ctl.get(), RDMABLK_CTL_STATUS, &s) < 0) {
    int err = errno;
    if (err == ENODEV) throw Failure(fmt::format("/dev/rdmablk{}: no such device", index));
    throw Failure(fmt::format("/dev/rdmablk{}: status: {}", index, std::strerror(err)));
  }
  nlohmann::ordered_json j = info_json(s.info);
  if (a.json) {
    fmt::print("{}\n", j.dump(2));
    return 0;
  }
  // "key: value" lines, counters last, in the order info_json() gives them.
  for (const auto& [key, value] : j.items()) {
    if (key == "counters") continue;
    fmt::print("{:<15} {}\n", key + ":", value.is_string() ? value.get<std::string>() : value.dump());
  }
  for (const auto& [key, value] : j["counters"].items()) fmt::print("{:<15} {}\n", key + ":", value.dump());
  return 0;
}

}  // namespace

// ---- for map --all and udev-id (devices.hpp) ----

std::string map_device(const MapArgs& a) { return run_map(a); }
std::vector<rdmablk_ctl_info> mapped_devices() { return list_devices(ControlFd{}); }
uint32_t device_number(const std::string& arg) { return device_index(arg); }
std::string device_target(const rdmablk_ctl_info& i) { return addr_str(i.family, i.addr, i.port); }
std::string device_export(const rdmablk_ctl_info& i) { return field_str(i.export_name, sizeof i.export_name); }
bool maps_export(const rdmablk_ctl_info& i, uint16_t family, const uint8_t* addr, uint16_t port,
                 const std::string& name) {
  return i.family == family && i.port == port && std::memcmp(i.addr, addr, sizeof i.addr) == 0 &&
         device_export(i) == name;
}
std::string device_host_id(const rdmablk_ctl_info& i) { return field_str(i.host_id, sizeof i.host_id); }
const char* device_state(const rdmablk_ctl_info& i) { return state_str(i.state); }

Command register_map(CLI::App& parent) {
  auto a = std::make_shared<MapArgs>();
  auto* app = parent.add_subcommand("map", "Map an export as a kernel block device /dev/rdmablkN (needs rdmablk.ko)");
  app->add_option("URL", a->url, "rdma://host[:port]/export");
  app->add_option("--queues", a->queues, "I/O queues (default: one per CPU)");
  app->add_option("--qd", a->qd, "Queue depth per queue (default 128)");
  app->add_option("--poll-queues", a->poll_queues,
                  "Extra I/O queues for polled I/O (io_uring hipri / RWF_HIPRI); default 0");
  app->add_option("--mode", a->mode, "command (any export) or direct (RAM/mapped exports)");
  app->add_option("--host-id", a->host_id, "Host id sent at login (default: /etc/machine-id)");
  app->add_option("--secret-file", a->secret_file, "File holding the export's secret (mode 0600)");
  app->add_option("--reconnect-delay", a->reconnect_delay, "Seconds between reconnect attempts (default 10)");
  app->add_option("--ctrl-loss-tmo", a->ctrl_loss_tmo, "Seconds to retry before failing I/O, -1 forever (default 600)");
  app->add_option("--fast-io-fail-tmo", a->fast_io_fail_tmo,
                  "Seconds after a lost connection from which I/O fails while reconnecting goes on, "
                  "so dm-multipath uses another path; -1 off (default: I/O waits)");
  app->add_option("--io-timeout", a->io_timeout,
                  "Seconds a request may go unanswered before the connection is re-established (default 30)");
  app->add_flag("--read-only", a->read_only, "Expose the device read-only");
  auto all = add_map_all_options(app);
  return {app, [a, all] {
            if (all->all) return run_map_all(*all);
            fmt::print("{}\n", run_map(*a));
            return 0;
          }};
}

Command register_unmap(CLI::App& parent) {
  auto a = std::make_shared<UnmapArgs>();
  auto* app = parent.add_subcommand("unmap", "Remove a kernel block device (outstanding I/O finishes first)");
  app->add_option("DEVICE", a->device, "/dev/rdmablkN");
  app->add_flag("--all", a->all, "Remove every rdmablk device");
  return {app, [a] { return run_unmap(*a); }};
}

Command register_status(CLI::App& parent) {
  auto a = std::make_shared<StatusArgs>();
  auto* app = parent.add_subcommand("status", "Show one kernel block device: state, session, limits, counters");
  app->add_option("DEVICE", a->device, "/dev/rdmablkN")->required();
  app->add_flag("--json", a->json, "Print one JSON object");
  return {app, [a] { return run_status(*a); }};
}

Command register_list(CLI::App& parent) {
  auto json = std::make_shared<bool>(false);
  auto* app = parent.add_subcommand("list", "List the kernel block devices");
  app->add_flag("--json", *json, "Print one JSON object");
  return {app, [json] { return run_list(*json); }};
}

}  // namespace rdmablk::cli
