#include "maps_config.hpp"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "rdmablk/ctl.h"
#include "rdmablk/proto.h"
#include "rdmablk/proto_check.h"
#include "rdmablk/url.hpp"

namespace rdmablk::cli {

namespace {

// "FILE:LINE" of a node; toml++ keeps the source region of every node.
std::string where(std::string_view origin, const toml::node& node) {
  return fmt::format("{}:{}", origin, node.source().begin.line);
}

[[noreturn]] void bad(std::string_view origin, const toml::node& node, std::string_view what) {
  throw MapsConfigError(fmt::format("{}: {}", where(origin, node), what));
}

// A name the protocol accepts: 1..max printable ASCII bytes, no spaces.
bool valid_name(const std::string& name, size_t max) {
  if (name.empty() || name.size() > max) return false;
  std::vector<uint8_t> field(max, 0);
  std::memcpy(field.data(), name.data(), name.size());
  return rdmablk_check_name(field.data(), field.size()) == RDMABLK_S_SUCCESS;
}

class EntryParser {
 public:
  EntryParser(std::string_view origin, std::string_view table) : origin_(origin), table_(table) {}

  std::string string(const toml::node& v, std::string_view key) {
    auto s = v.value<std::string>();
    if (!v.is_string() || !s) bad(origin_, v, fmt::format("[{}] {} must be a string", table_, key));
    return *s;
  }

  int64_t integer(const toml::node& v, std::string_view key, int64_t min, int64_t max) {
    auto n = v.value<int64_t>();
    if (!v.is_integer() || !n || *n < min || *n > max)
      bad(origin_, v, fmt::format("[{}] {} must be an integer {}..{}", table_, key, min, max));
    return *n;
  }

  bool boolean(const toml::node& v, std::string_view key) {
    if (!v.is_boolean()) bad(origin_, v, fmt::format("[{}] {} must be true or false", table_, key));
    return *v.value<bool>();
  }

  void url(const toml::node& v, MapArgs& a) {
    a.url = string(v, "url");
    Url u;
    try {
      u = parse_url(a.url);
    } catch (const std::invalid_argument& e) {
      bad(origin_, v, fmt::format("[{}] url: {}", table_, e.what()));
    }
    if (u.transport != Transport::rdma) bad(origin_, v, fmt::format("[{}] url must be rdma://", table_));
    if (!valid_name(u.export_name, RDMABLK_EXPORT_NAME_MAX))
      bad(origin_, v, fmt::format("[{}] url needs an export name: rdma://host[:port]/export", table_));
    if (!u.options.empty())
      bad(origin_, v, fmt::format("[{}] url takes no ?options: give them as keys of the table", table_));
  }

 private:
  std::string_view origin_, table_;
};

MapEntry parse_entry(std::string_view origin, std::string_view name, const toml::table& t) {
  MapEntry e{std::string(name), where(origin, t), {}};
  EntryParser p(origin, name);
  MapArgs& a = e.args;
  for (const auto& [key, v] : t) {
    std::string_view k = key.str();
    if (k == "url") {
      p.url(v, a);
    } else if (k == "mode") {
      a.mode = p.string(v, k);
      if (a.mode != "command" && a.mode != "direct")
        bad(origin, v, fmt::format("[{}] mode must be \"command\" or \"direct\"", name));
    } else if (k == "queues") {
      a.queues = static_cast<unsigned>(p.integer(v, k, 1, RDMABLK_MAX_QUEUES - 1));
    } else if (k == "qd") {
      a.qd = static_cast<unsigned>(p.integer(v, k, 1, RDMABLK_MAX_QUEUE_DEPTH - 1));
    } else if (k == "poll_queues") {
      a.poll_queues = static_cast<unsigned>(p.integer(v, k, 0, RDMABLK_CTL_MAX_POLL_QUEUES));
    } else if (k == "host_id") {
      a.host_id = p.string(v, k);
      if (!valid_name(a.host_id, RDMABLK_HOST_ID_MAX))
        bad(origin, v,
            fmt::format("[{}] host_id must be 1..{} printable ASCII characters without spaces", name,
                        RDMABLK_HOST_ID_MAX));
    } else if (k == "secret_file") {
      a.secret_file = p.string(v, k);
      // The service runs from /, so a relative path would mean nothing there.
      if (!a.secret_file.starts_with('/')) bad(origin, v, fmt::format("[{}] secret_file must be an absolute path", name));
    } else if (k == "reconnect_delay") {
      a.reconnect_delay = static_cast<unsigned>(p.integer(v, k, 1, 3600));
    } else if (k == "ctrl_loss_tmo") {
      a.ctrl_loss_tmo = static_cast<int>(p.integer(v, k, -1, INT32_MAX));
      if (a.ctrl_loss_tmo == 0) bad(origin, v, fmt::format("[{}] ctrl_loss_tmo must be -1 (forever) or seconds > 0", name));
    } else if (k == "fast_io_fail_tmo") {
      a.fast_io_fail_tmo = static_cast<int>(p.integer(v, k, -1, RDMABLK_CTL_MAX_FAST_IO_FAIL_TMO));
    } else if (k == "io_timeout") {
      a.io_timeout = static_cast<unsigned>(p.integer(v, k, 1, RDMABLK_CTL_MAX_IO_TIMEOUT));
    } else if (k == "read_only") {
      a.read_only = p.boolean(v, k);
    } else {
      bad(origin, v,
          fmt::format("[{}] unknown key '{}' (known: url, mode, queues, qd, poll_queues, host_id, "
                      "secret_file, "
                      "reconnect_delay, ctrl_loss_tmo, fast_io_fail_tmo, io_timeout, read_only)",
                      name, k));
    }
  }
  if (a.url.empty()) bad(origin, t, fmt::format("[{}] has no url", name));
  return e;
}

}  // namespace

std::vector<MapEntry> parse_maps_config(std::string_view text, std::string_view origin) {
  toml::table root;
  try {
    root = toml::parse(text, origin);
  } catch (const toml::parse_error& err) {
    throw MapsConfigError(fmt::format("{}:{}:{}: {}", origin, err.source().begin.line, err.source().begin.column,
                                      err.description()));
  }
  // toml++ keeps keys sorted; map in the order of the file.
  std::vector<std::pair<toml::source_index, MapEntry>> by_line;
  for (const auto& [key, v] : root) {
    const toml::table* t = v.as_table();
    if (!t)
      bad(origin, v, fmt::format("'{}' is not a table: give each device its own [name] table", key.str()));
    by_line.emplace_back(t->source().begin.line, parse_entry(origin, key.str(), *t));
  }
  std::stable_sort(by_line.begin(), by_line.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  std::vector<MapEntry> entries;
  for (auto& [line, e] : by_line) entries.push_back(std::move(e));
  return entries;
}

std::vector<MapEntry> load_maps_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw MapsConfigError(fmt::format("{}: cannot read: {}", path, std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  return parse_maps_config(text.str(), path);
}

}  // namespace rdmablk::cli
