#include "config.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <boost/asio/ip/address.hpp>
#include <toml++/toml.h>

#include "allow.hpp"
#include "rdmablk/proto_check.h"
#include "rdmablk/units.hpp"

namespace rdmablk::target {

namespace {

constexpr std::string_view kRamPrefix = "ram:";

// 1..max characters of A-Z a-z 0-9 . _ - : (export names and serials
// alike; proto_check.h's rule, which the driver applies to serials too).
bool valid_token(std::string_view s, size_t max) {
  return !s.empty() && s.size() <= max && std::all_of(s.begin(), s.end(), [](char c) {
    return rdmablk_export_id_char_ok(static_cast<__u8>(c));
  });
}

void check_name(std::string_view name) {
  if (!valid_token(name, RDMABLK_EXPORT_NAME_MAX))
    throw ConfigError(fmt::format(
        "bad export name '{}': use 1..{} characters from A-Z a-z 0-9 . _ - :", name,
        RDMABLK_EXPORT_NAME_MAX));
}

}  // namespace

void check_serial(std::string_view serial, std::string_view export_name) {
  if (!valid_token(serial, RDMABLK_EXPORT_ID_MAX))
    throw ConfigError(fmt::format(
        "export '{}': bad serial '{}': use 1..{} characters from A-Z a-z 0-9 . _ - :", export_name,
        serial, RDMABLK_EXPORT_ID_MAX));
}

namespace {

uint64_t parse_ram_size(std::string_view text, std::string_view name) {
  try {
    uint64_t size = parse_size(text);
    if (size == 0) throw std::invalid_argument("zero size");
    return size;
  } catch (const std::invalid_argument& e) {
    throw ConfigError(fmt::format("export '{}': bad RAM size '{}' ({})", name, text, e.what()));
  }
}

void set_backend(ExportConfig& e, std::string_view backend) {
  e.rbd = {};
  if (backend.starts_with(kRamPrefix)) {
    e.ram_size = parse_ram_size(backend.substr(kRamPrefix.size()), e.name);
    e.path.clear();
  } else if (backend.starts_with(kRbdPrefix)) {
    e.rbd = parse_rbd_location(backend.substr(kRbdPrefix.size()), e.name);
    e.path.clear();
    e.ram_size = 0;
  } else {
    if (backend.empty()) throw ConfigError(fmt::format("export '{}': empty backend", e.name));
    e.path = std::string(backend);
    e.ram_size = 0;
  }
}

// The value of `key` in `t` as a T; the key must be present.
template <typename T>
T required(const toml::table& t, std::string_view key, std::string_view where) {
  const toml::node* node = t.get(key);
  std::optional<T> v;
  if constexpr (std::is_same_v<T, bool>) {
    if (node && node->is_boolean()) v = node->value<bool>();
  } else if constexpr (std::is_same_v<T, int64_t>) {
    if (node && node->is_integer()) v = node->value<int64_t>();
  } else {
    if (node && node->is_string()) v = node->value<T>();
  }
  if (!v) throw ConfigError(fmt::format("{}: '{}' has the wrong type", where, key));
  return *v;
}

int parse_port(const toml::table& t, std::string_view key, std::string_view where) {
  auto port = required<int64_t>(t, key, where);
  if (port < kPortDisabled || port > 65535)
    throw ConfigError(fmt::format("{}: '{}' must be -1 (disabled) or 0..65535", where, key));
  return static_cast<int>(port);
}

void reject_unknown_keys(const toml::table& t, std::initializer_list<std::string_view> known,
                         std::string_view where) {
  for (const auto& [key, value] : t) {
    if (std::find(known.begin(), known.end(), key.str()) == known.end())
      throw ConfigError(fmt::format("{}: unknown key '{}'", where, key.str()));
  }
}

ExportConfig parse_export_table(const toml::table& t, std::string_view origin, size_t index) {
  std::string where = fmt::format("{}: [[export]] #{}", origin, index + 1);
  reject_unknown_keys(t,
                      {"name", "path", "ram", "read_only", "block_size", "allow", "secret_file",
                       "description", "mmap", "rbd", "conf", "id", "keyring", "timeout", "serial"},
                      where);
  ExportConfig e;
  if (!t.contains("name")) throw ConfigError(where + ": missing 'name'");
  e.name = required<std::string>(t, "name", where);
  check_name(e.name);
  where = fmt::format("{}: export '{}'", origin, e.name);
  bool has_path = t.contains("path"), has_ram = t.contains("ram"), has_rbd = t.contains("rbd");
  if (has_path + has_ram + has_rbd != 1)
    throw ConfigError(where + ": give exactly one of 'path', 'ram' or 'rbd'");
  if (has_rbd) {
    e.rbd = parse_rbd_location(required<std::string>(t, "rbd", where), e.name);
    for (std::string_view key : {"conf", "id", "keyring"})
      if (t.contains(key)) apply_rbd_option(e.rbd, key, required<std::string>(t, key, where), e.name);
    if (t.contains("timeout"))
      apply_rbd_option(e.rbd, "timeout", std::to_string(required<int64_t>(t, "timeout", where)), e.name);
  } else {
    for (std::string_view key : {"conf", "id", "keyring", "timeout"})
      if (t.contains(key))
        throw ConfigError(fmt::format("{}: '{}' belongs to rbd exports only", where, key));
  }
  if (has_path) {
    e.path = required<std::string>(t, "path", where);
    if (e.path.empty()) throw ConfigError(where + ": empty 'path'");
  }
  if (has_ram) {
    // ram = "1G" or ram = 1073741824
    if (t.get("ram")->is_integer()) {
      auto n = required<int64_t>(t, "ram", where);
      if (n <= 0) throw ConfigError(where + ": 'ram' must be positive");
      e.ram_size = static_cast<uint64_t>(n);
    } else {
      e.ram_size = parse_ram_size(required<std::string>(t, "ram", where), e.name);
    }
  }
  if (t.contains("read_only")) e.read_only = required<bool>(t, "read_only", where);
  if (t.contains("block_size"))
    e.block_size = parse_block_size(std::to_string(required<int64_t>(t, "block_size", where)));
  if (t.contains("allow")) {
    const toml::array* arr = t["allow"].as_array();
    if (!arr) throw ConfigError(where + ": 'allow' must be an array of strings");
    for (const auto& item : *arr) {
      auto s = item.value<std::string>();
      if (!s) throw ConfigError(where + ": 'allow' must be an array of strings");
      e.allow.push_back(*s);
    }
  }
  if (t.contains("secret_file")) e.secret_file = required<std::string>(t, "secret_file", where);
  if (t.contains("description")) e.description = required<std::string>(t, "description", where);
  if (t.contains("mmap")) e.mmap = required<bool>(t, "mmap", where);
  if (t.contains("serial")) {
    e.serial = required<std::string>(t, "serial", where);
    check_serial(e.serial, e.name);
  }
  return e;
}

}  // namespace

MetricsEndpoint parse_metrics_endpoint(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return ConfigError(fmt::format(
        "bad metrics address '{}': {} (expected ADDR:PORT, e.g. 127.0.0.1:9100, [::1]:9100 or :9100)", text, why));
  };
  std::string_view host, port;
  if (text.starts_with('[')) {
    auto close = text.find(']');
    if (close == std::string_view::npos) throw bad("no ']' after the IPv6 address");
    host = text.substr(1, close - 1);
    if (close + 1 >= text.size() || text[close + 1] != ':') throw bad("no ':PORT' after ']'");
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) throw bad("no ':PORT'");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) throw bad("put an IPv6 address in brackets");
  }
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value > 65535)
    throw bad("the port must be 0..65535");
  MetricsEndpoint ep;
  ep.address = host.empty() ? "::" : std::string(host);
  boost::system::error_code aec;
  boost::asio::ip::make_address(ep.address, aec);
  if (aec) throw bad(fmt::format("'{}' is not an IP address", host));
  ep.port = static_cast<uint16_t>(value);
  return ep;
}

uint32_t parse_block_size(std::string_view text) {
  uint32_t bs = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), bs);
  if (ec != std::errc() || end != text.data() + text.size() || bs < kMinBlockSize ||
      bs > kMaxBlockSize || (bs & (bs - 1)) != 0)
    throw ConfigError(fmt::format("bad block size '{}': must be a power of two in {}..{}", text,
                                  kMinBlockSize, kMaxBlockSize));
  return bs;
}

ExportConfig parse_export_spec(std::string_view spec) {
  auto eq = spec.find('=');
  if (eq == std::string_view::npos)
    throw ConfigError(fmt::format("bad export '{}': expected NAME=BACKEND[,opt...]", spec));
  ExportConfig e;
  e.name = std::string(spec.substr(0, eq));
  check_name(e.name);
  std::string_view rest = spec.substr(eq + 1);
  auto comma = rest.find(',');
  set_backend(e, rest.substr(0, comma));
  rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
  while (!rest.empty()) {
    std::string_view opt;
    // desc= takes the rest of the spec, so descriptions may contain commas.
    if (rest.starts_with("desc=")) {
      opt = rest;
      rest = {};
    } else {
      comma = rest.find(',');
      opt = rest.substr(0, comma);
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    }
    auto oeq = opt.find('=');
    std::string_view key = opt.substr(0, oeq);
    std::string_view value = oeq == std::string_view::npos ? std::string_view{} : opt.substr(oeq + 1);
    bool has_value = oeq != std::string_view::npos;
    if (key == "ro" && !has_value) {
      e.read_only = true;
    } else if (key == "bs" && has_value) {
      e.block_size = parse_block_size(value);
    } else if (key == "allow" && has_value) {
      AllowRule::parse(value);  // fail early with the entry in the message
      e.allow.emplace_back(value);
    } else if (key == "secret" && has_value && !value.empty()) {
      e.secret_file = std::string(value);
    } else if (key == "mmap" && !has_value) {
      e.mmap = true;
    } else if (key == "desc" && has_value) {
      e.description = std::string(value);
    } else if (key == "serial" && has_value) {
      check_serial(value, e.name);
      e.serial = std::string(value);
    } else if (e.is_rbd() && has_value && apply_rbd_option(e.rbd, key, value, e.name)) {
      // conf=, id=, keyring=, timeout=
    } else {
      throw ConfigError(fmt::format(
          "export '{}': bad option '{}' (known: ro, bs=N, allow=ADDR|CIDR|host:ID, secret=FILE, "
          "mmap, serial=ID, desc=TEXT; for rbd: conf=FILE, id=USER, keyring=FILE, timeout=SECONDS)",
          e.name, opt));
    }
  }
  return e;
}

TargetConfig parse_config_toml(std::string_view text, std::string_view origin) {
  toml::table root;
  try {
    root = toml::parse(text, origin);
  } catch (const toml::parse_error& err) {
    const auto& where = err.source().begin;
    throw ConfigError(fmt::format("{}:{}:{}: {}", origin, where.line, where.column,
                                  err.description()));
  }
  reject_unknown_keys(root, {"target", "export"}, origin);
  TargetConfig config;
  if (auto* target = root["target"].as_table()) {
    std::string where = fmt::format("{}: [target]", origin);
    reject_unknown_keys(*target, {"listen", "nbd_port", "rdma_port", "threads", "metrics"}, where);
    if (target->contains("metrics")) {
      try {
        config.metrics = parse_metrics_endpoint(required<std::string>(*target, "metrics", where));
      } catch (const ConfigError& e) {
        throw ConfigError(fmt::format("{}: {}", where, e.what()));
      }
    }
    if (target->contains("listen")) config.listen = required<std::string>(*target, "listen", where);
    if (target->contains("nbd_port")) config.nbd_port = parse_port(*target, "nbd_port", where);
    if (target->contains("rdma_port")) config.rdma_port = parse_port(*target, "rdma_port", where);
    if (target->contains("threads")) {
      auto n = required<int64_t>(*target, "threads", where);
      if (n < 1 || n > 64) throw ConfigError(where + ": threads must be 1..64");
      config.threads = static_cast<unsigned>(n);
    }
  } else if (root.contains("target")) {
    throw ConfigError(fmt::format("{}: 'target' must be a table", origin));
  }
  if (root.contains("export")) {
    const toml::array* exports = root["export"].as_array();
    if (!exports) throw ConfigError(fmt::format("{}: use [[export]] tables for exports", origin));
    for (size_t i = 0; i < exports->size(); ++i) {
      const toml::table* t = (*exports)[i].as_table();
      if (!t) throw ConfigError(fmt::format("{}: use [[export]] tables for exports", origin));
      ExportConfig e = parse_export_table(*t, origin, i);
      for (const auto& other : config.exports)
        if (other.name == e.name)
          throw ConfigError(fmt::format("{}: export '{}' defined twice", origin, e.name));
      config.exports.push_back(std::move(e));
    }
  }
  return config;
}

TargetConfig load_config_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(fmt::format("cannot read config file '{}'", path));
  std::ostringstream text;
  text << in.rdbuf();
  return parse_config_toml(text.str(), path);
}

void add_or_replace_export(TargetConfig& config, ExportConfig spec) {
  auto it = std::find_if(config.exports.begin(), config.exports.end(),
                         [&](const ExportConfig& e) { return e.name == spec.name; });
  if (it != config.exports.end())
    *it = std::move(spec);
  else
    config.exports.push_back(std::move(spec));
}

void validate(const TargetConfig& config) {
  if (config.exports.empty()) throw ConfigError("no exports: give --export NAME=BACKEND or a config file");
  if (config.threads < 1 || config.threads > 64) throw ConfigError("threads must be 1..64");
  for (int port : {config.nbd_port, config.rdma_port})
    if (port < kPortDisabled || port > 65535) throw ConfigError("ports must be -1 (disabled) or 0..65535");
  if (config.nbd_port == kPortDisabled && config.rdma_port == kPortDisabled)
    throw ConfigError("both NBD and RDMA listeners are disabled");
  if (config.listen.empty()) throw ConfigError("empty listen address");
  std::set<std::string> names;
  for (const auto& e : config.exports) {
    check_name(e.name);
    if (!names.insert(e.name).second) throw ConfigError(fmt::format("export '{}' given twice", e.name));
    if (e.is_ram() + !e.path.empty() + e.is_rbd() != 1)
      throw ConfigError(
          fmt::format("export '{}': give exactly one of a path, ram:SIZE or rbd:POOL/IMAGE", e.name));
    if (e.block_size != 0) parse_block_size(std::to_string(e.block_size));
    if (e.is_ram()) {
      uint32_t bs = e.block_size ? e.block_size : kMinBlockSize;
      if (e.ram_size % bs != 0)
        throw ConfigError(fmt::format("export '{}': RAM size {} is not a multiple of the block size {}",
                                      e.name, e.ram_size, bs));
    }
    if (e.mmap && (e.is_ram() || e.is_rbd() || !e.read_only))
      throw ConfigError(fmt::format(
          "export '{}': mmap needs a read-only file export (add ro): RDMA writes into a mapped file "
          "escape the page cache's dirty tracking, so FLUSH could not make them durable",
          e.name));
    if (!e.serial.empty()) check_serial(e.serial, e.name);
    AllowList{e.allow};  // throws on a bad entry
  }
}

}  // namespace rdmablk::target
