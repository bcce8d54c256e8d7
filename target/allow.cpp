#include "allow.hpp"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "config.hpp"

namespace rdmablk::target {

namespace ip = boost::asio::ip;

namespace {

constexpr std::string_view kHostPrefix = "host:";

// Clears every bit after the first `prefix` bits of a network-order byte array.
template <size_t N>
std::array<unsigned char, N> mask_bytes(std::array<unsigned char, N> bytes, unsigned prefix) {
  for (size_t i = 0; i < N; ++i) {
    unsigned keep = prefix >= 8 * (i + 1) ? 8 : (prefix > 8 * i ? prefix - 8 * i : 0);
    bytes[i] &= static_cast<unsigned char>(0xff00u >> keep);
  }
  return bytes;
}

ip::address masked(const ip::address& a, unsigned prefix) {
  if (a.is_v4()) return ip::address_v4(mask_bytes(a.to_v4().to_bytes(), prefix));
  return ip::address_v6(mask_bytes(a.to_v6().to_bytes(), prefix));
}

}  // namespace

ip::address unmap_v4(const ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) return ip::make_address_v4(ip::v4_mapped, a.to_v6());
  return a;
}

AllowRule AllowRule::parse(std::string_view text) {
  AllowRule rule;
  if (text.starts_with(kHostPrefix)) {
    rule.kind_ = Kind::host_id;
    rule.host_id_ = std::string(text.substr(kHostPrefix.size()));
    if (rule.host_id_.empty() || rule.host_id_.size() > 64 ||
        rule.host_id_.find('\0') != std::string::npos)
      throw ConfigError(fmt::format("bad allow entry '{}': host id must be 1..64 bytes", text));
    return rule;
  }
  auto slash = text.find('/');
  std::string addr_text(text.substr(0, slash));
  boost::system::error_code ec;
  ip::address addr = ip::make_address(addr_text, ec);
  if (ec) throw ConfigError(fmt::format("bad allow entry '{}': not an IP address, CIDR or host:ID", text));
  unsigned max_prefix = addr.is_v4() ? 32 : 128;
  unsigned prefix = max_prefix;
  if (slash != std::string_view::npos) {
    auto p = text.substr(slash + 1);
    auto [end, err] = std::from_chars(p.data(), p.data() + p.size(), prefix);
    if (p.empty() || err != std::errc() || end != p.data() + p.size() || prefix > max_prefix)
      throw ConfigError(fmt::format("bad allow entry '{}': prefix length must be 0..{}", text, max_prefix));
  }
  addr = unmap_v4(addr);
  if (addr.is_v4() && max_prefix == 128) prefix = prefix >= 96 ? prefix - 96 : 0;
  rule.prefix_ = prefix;
  rule.network_ = masked(addr, prefix);
  return rule;
}

bool AllowRule::matches(const ip::address& peer, std::optional<std::string_view> host_id) const {
  if (kind_ == Kind::host_id) return host_id && *host_id == host_id_;
  ip::address p = unmap_v4(peer);
  if (p.is_v4() != network_.is_v4()) return false;
  return masked(p, prefix_) == network_;
}

std::string AllowRule::to_string() const {
  if (kind_ == Kind::host_id) return fmt::format("{}{}", kHostPrefix, host_id_);
  return fmt::format("{}/{}", network_.to_string(), prefix_);
}

AllowList::AllowList(const std::vector<std::string>& entries) {
  rules_.reserve(entries.size());
  for (const auto& e : entries) rules_.push_back(AllowRule::parse(e));
}

bool AllowList::allows(const ip::address& peer, std::optional<std::string_view> host_id) const {
  if (rules_.empty()) return true;
  return std::any_of(rules_.begin(), rules_.end(),
                     [&](const AllowRule& r) { return r.matches(peer, host_id); });
}

}  // namespace rdmablk::target
