// rdmablk map --all [--config FILE]: maps every device of maps.conf that is
// not mapped yet (rdmablk.service runs it at boot). Running it again maps
// nothing twice: an entry whose target address, port and export are already
// mapped is skipped. A failing entry is one line on stderr; the others still
// map, and the exit status says that something failed. --json prints one
// object instead: {"devices": [{name, url, result, device | error}]}.
#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <cstring>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli.hpp"
#include "devices.hpp"
#include "rdmablk/url.hpp"

namespace rdmablk::cli {

namespace {

// The target as the kernel reports it (rdmablk_ctl_info): family, address
// bytes, port. The URL's host is resolved the way `map` resolves it.
struct Peer {
  uint16_t family = 0;
  uint8_t addr[16] = {};
  uint16_t port = 0;
};

Peer resolve(const Url& url) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = getaddrinfo(url.host.c_str(), nullptr, &hints, &res); rc != 0)
    throw Failure(fmt::format("{}: cannot resolve host: {}", url.host, gai_strerror(rc)));
  Peer p;
  p.port = url.port;
  if (res->ai_family == AF_INET) {
    p.family = AF_INET;
    std::memcpy(p.addr, &reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr, 4);
  } else if (res->ai_family == AF_INET6) {
    p.family = AF_INET6;
    std::memcpy(p.addr, &reinterpret_cast<sockaddr_in6*>(res->ai_addr)->sin6_addr, 16);
  }
  freeaddrinfo(res);
  return p;
}

std::optional<rdmablk_ctl_info> find_mapped(const std::vector<rdmablk_ctl_info>& devices, const Url& url) {
  Peer p = resolve(url);
  for (const auto& d : devices)
    if (maps_export(d, p.family, p.addr, p.port, url.export_name)) return d;
  return std::nullopt;
}

}  // namespace

std::shared_ptr<MapAllArgs> add_map_all_options(CLI::App* map) {
  auto a = std::make_shared<MapAllArgs>();
  auto* all = map->add_flag("--all", a->all, "Map every device of the config file that is not mapped yet");
  // A device's settings come from its table in the file, never from flags.
  for (auto* opt : map->get_options())
    if (opt != all && opt != map->get_help_ptr()) opt->excludes(all);
  map->add_option("--config", a->config, fmt::format("Config file for --all (default {})", kMapsConfigPath))
      ->needs(all);
  map->add_flag("--json", a->json, "With --all: print one JSON object with every entry's outcome")->needs(all);
  return a;
}

int run_map_all(const MapAllArgs& a) {
  std::vector<MapEntry> entries;
  try {
    entries = load_maps_config(a.config);
  } catch (const MapsConfigError& e) {
    throw Failure(e.what());
  }
  auto results = nlohmann::ordered_json::array();
  auto done = [&](int status) {
    if (a.json) fmt::print("{}\n", nlohmann::ordered_json{{"config", a.config}, {"devices", results}}.dump(2));
    return status;
  };
  if (entries.empty()) {
    if (!a.json) fmt::print("{}: no devices\n", a.config);
    return done(0);
  }
  auto devices = mapped_devices();  // also fails at once when the module is missing
  int failed = 0;
  for (const auto& e : entries) {
    try {
      Url url = parse_url(e.args.url);  // checked by the parser
      if (auto d = find_mapped(devices, url)) {
        const std::string dev = fmt::format("/dev/rdmablk{}", d->index);
        if (a.json)
          results.push_back({{"name", e.name}, {"url", e.args.url}, {"result", "skipped"}, {"device", dev}});
        else
          fmt::print("{}: {} already mapped as {}, skipped\n", e.name, e.args.url, dev);
        continue;
      }
      std::string dev = map_device(e.args);
      if (a.json)
        results.push_back({{"name", e.name}, {"url", e.args.url}, {"result", "mapped"}, {"device", dev}});
      else
        fmt::print("{}: {} mapped as {}\n", e.name, e.args.url, dev);
      devices = mapped_devices();  // a second entry for the same export is then skipped
    } catch (const std::exception& ex) {
      fmt::print(stderr, "rdmablk: {} ({}): {}\n", e.name, e.where, ex.what());
      if (a.json)
        results.push_back({{"name", e.name}, {"url", e.args.url}, {"result", "failed"}, {"error", ex.what()}});
      ++failed;
    }
  }
  int status = done(failed ? 1 : 0);
  std::fflush(stdout);
  return status;
}

}  // namespace rdmablk::cli
