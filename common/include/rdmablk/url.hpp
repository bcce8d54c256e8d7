#pragma once
// Export URLs: nbd://host[:port]/export (libnbd's convention) and
// rdma://host[:port]/export, with optional ?key=value&... options.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace rdmablk {

enum class Transport { nbd, rdma };

struct Url {
  Transport transport = Transport::nbd;
  std::string host;          // name or address; IPv6 without brackets
  uint16_t port = 0;         // filled with the transport's default if absent
  std::string export_name;   // percent-decoded; may be empty (default export)
  std::map<std::string, std::string> options;  // ?queues=2&qd=32 ...

  std::string to_string() const;
};

// Parses a URL; throws std::invalid_argument with a one-line reason.
Url parse_url(std::string_view text);
// Same, but the export part is optional and ignored (for `discover`).
Url parse_host_url(std::string_view text);

uint16_t default_port(Transport t);
std::string_view transport_name(Transport t);

}  // namespace rdmablk
