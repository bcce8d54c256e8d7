#include "rbd_config.hpp"

#include <algorithm>
#include <charconv>
#include <vector>

#include <fmt/format.h>

#include "config.hpp"

namespace rdmablk::target {

namespace {

// Ceph refuses '/' and '@' inside pool and image names and control
// characters anywhere; '@' would select a snapshot, which this backend does
// not serve.
bool valid_component(std::string_view s) {
  return !s.empty() && std::none_of(s.begin(), s.end(), [](char c) {
    return c == '/' || c == '@' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
  });
}

}  // namespace

std::string RbdConfig::location() const {
  return pool_namespace.empty() ? fmt::format("{}/{}", pool, image)
                                : fmt::format("{}/{}/{}", pool, pool_namespace, image);
}

RbdConfig parse_rbd_location(std::string_view text, std::string_view name) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t slash = text.find('/', start);
    parts.push_back(text.substr(start, slash == std::string_view::npos ? slash : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  bool ok = (parts.size() == 2 || parts.size() == 3) &&
            std::all_of(parts.begin(), parts.end(), valid_component);
  if (!ok)
    throw ConfigError(fmt::format(
        "export '{}': bad RBD image '{}': expected POOL/IMAGE or POOL/NAMESPACE/IMAGE (no '@', "
        "snapshots are not served)",
        name, text));
  RbdConfig rbd;
  rbd.pool = std::string(parts.front());
  rbd.image = std::string(parts.back());
  if (parts.size() == 3) rbd.pool_namespace = std::string(parts[1]);
  return rbd;
}

bool apply_rbd_option(RbdConfig& rbd, std::string_view key, std::string_view value,
                      std::string_view name) {
  auto nonempty = [&](std::string& field) {
    if (value.empty()) throw ConfigError(fmt::format("export '{}': empty '{}'", name, key));
    field = std::string(value);
    return true;
  };
  if (key == "conf") return nonempty(rbd.conf);
  if (key == "keyring") return nonempty(rbd.keyring);
  if (key == "id") {
    // librados wants the bare id; "client.x" is a common slip.
    if (value.starts_with("client.")) value.remove_prefix(7);
    return nonempty(rbd.id);
  }
  if (key == "timeout") {
    unsigned t = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), t);
    if (ec != std::errc() || end != value.data() + value.size() || t < 1 || t > kRbdMaxTimeout)
      throw ConfigError(fmt::format("export '{}': bad timeout '{}': seconds, 1..{}", name, value,
                                    kRbdMaxTimeout));
    rbd.timeout = t;
    return true;
  }
  return false;
}

}  // namespace rdmablk::target
