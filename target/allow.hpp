#pragma once
// Export allow lists. An entry is an IP address or CIDR network the peer's
// address must fall in, or "host:ID" naming an initiator host id (the RDMA
// login carries one; NBD clients have none). A peer may open an export when
// the list is empty or when any entry matches it.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/address.hpp>

namespace rdmablk::target {

class AllowRule {
 public:
  // Throws ConfigError naming the bad entry.
  static AllowRule parse(std::string_view text);

  bool matches(const boost::asio::ip::address& peer,
               std::optional<std::string_view> host_id) const;
  std::string to_string() const;

 private:
  enum class Kind { network, host_id };
  Kind kind_ = Kind::network;
  boost::asio::ip::address network_;  // host bits cleared
  unsigned prefix_ = 0;
  std::string host_id_;
};

class AllowList {
 public:
  AllowList() = default;
  explicit AllowList(const std::vector<std::string>& entries);

  bool allows(const boost::asio::ip::address& peer,
              std::optional<std::string_view> host_id = std::nullopt) const;
  bool empty() const { return rules_.empty(); }

 private:
  std::vector<AllowRule> rules_;
};

// IPv4 peers of a dual-stack socket arrive as ::ffff:a.b.c.d; rules and logs
// want the plain IPv4 address.
boost::asio::ip::address unmap_v4(const boost::asio::ip::address& a);

}  // namespace rdmablk::target
