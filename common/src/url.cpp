#include "rdmablk/url.hpp"

#include <cctype>
#include <charconv>
#include <stdexcept>

#include <fmt/format.h>

#include "rdmablk/proto.h"

namespace rdmablk {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size())
      throw std::invalid_argument("truncated %-escape in URL");
    int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
    if (hi < 0 || lo < 0) throw std::invalid_argument("bad %-escape in URL");
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

// Escapes all but RFC 3986 unreserved characters and those in `keep`.
std::string percent_encode(std::string_view s, std::string_view keep = {}) {
  std::string out;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '.' || c == '_' || c == '~' || keep.find(c) != keep.npos)
      out.push_back(c);
    else
      out += fmt::format("%{:02X}", u);
  }
  return out;
}

Url parse(std::string_view text, bool need_export) {
  Url url;
  auto scheme_end = text.find("://");
  if (scheme_end == std::string_view::npos)
    throw std::invalid_argument(fmt::format("'{}' is not a URL (want nbd://host[:port]/export or rdma://...)", text));
  auto scheme = text.substr(0, scheme_end);
  if (scheme == "nbd")
    url.transport = Transport::nbd;
  else if (scheme == "rdma")
    url.transport = Transport::rdma;
  else
    throw std::invalid_argument(fmt::format("unknown URL scheme '{}' (want nbd or rdma)", scheme));
  auto rest = text.substr(scheme_end + 3);

  auto query_pos = rest.find('?');
  std::string_view query;
  if (query_pos != std::string_view::npos) {
    query = rest.substr(query_pos + 1);
    rest = rest.substr(0, query_pos);
  }
  auto slash = rest.find('/');
  auto authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);

  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {  // [IPv6]:port
    auto close = authority.find(']');
    if (close == std::string_view::npos) throw std::invalid_argument("unterminated [IPv6] host in URL");
    url.host = percent_decode(authority.substr(1, close - 1));  // zone: [fe80::1%25eth0]
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') throw std::invalid_argument("junk after [IPv6] host in URL");
      port_text = after.substr(1);
    }
  } else {
    auto colon = authority.find(':');
    if (colon != std::string_view::npos && authority.find(':', colon + 1) != std::string_view::npos)
      throw std::invalid_argument(fmt::format("IPv6 address needs brackets in URL '{}'", text));
    if (colon != std::string_view::npos) {
      url.host = std::string(authority.substr(0, colon));
      port_text = authority.substr(colon + 1);
    } else {
      url.host = std::string(authority);
    }
  }
  if (url.host.empty()) throw std::invalid_argument(fmt::format("no host in URL '{}'", text));

  url.port = default_port(url.transport);
  if (!port_text.empty()) {
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 || port > 65535)
      throw std::invalid_argument(fmt::format("bad port '{}' in URL", port_text));
    url.port = static_cast<uint16_t>(port);
  }

  url.export_name = percent_decode(path);
  if (need_export && url.export_name.size() > RDMABLK_EXPORT_NAME_MAX)
    throw std::invalid_argument(fmt::format("export name longer than {} bytes", RDMABLK_EXPORT_NAME_MAX));
  if (url.export_name.find('\0') != std::string::npos)
    throw std::invalid_argument("export name contains a NUL byte");

  while (!query.empty()) {
    auto amp = query.find('&');
    auto item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (item.empty()) continue;
    auto eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0)
      throw std::invalid_argument(fmt::format("bad URL option '{}' (want key=value)", item));
    url.options[percent_decode(item.substr(0, eq))] = percent_decode(item.substr(eq + 1));
  }
  return url;
}

}  // namespace

uint16_t default_port(Transport t) {
  return t == Transport::nbd ? RDMABLK_DEFAULT_NBD_PORT : RDMABLK_DEFAULT_RDMA_PORT;
}

std::string_view transport_name(Transport t) { return t == Transport::nbd ? "nbd" : "rdma"; }

// Escapes what parse() decodes, so that parse_url(url.to_string()) == url.
std::string Url::to_string() const {
  // Only a bracketed host is decoded, so any host with more than unreserved
  // characters goes in brackets: IPv6 and zone ids, but also a bracketed
  // host that decoded to '/', '?' or '%' (found by tests/fuzz/url.cpp).
  bool bracket = percent_encode(host) != host;
  auto out = fmt::format("{}://{}{}{}:{}/{}", transport_name(transport), bracket ? "[" : "",
                         bracket ? percent_encode(host, ":") : host, bracket ? "]" : "", port,
                         percent_encode(export_name, "/"));
  char sep = '?';
  for (const auto& [key, value] : options) {
    out += fmt::format("{}{}={}", sep, percent_encode(key), percent_encode(value));
    sep = '&';
  }
  return out;
}

Url parse_url(std::string_view text) { return parse(text, true); }
Url parse_host_url(std::string_view text) { return parse(text, false); }

}  // namespace rdmablk
