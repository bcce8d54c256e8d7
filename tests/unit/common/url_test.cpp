#include "rdmablk/url.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "rdmablk/proto.h"

using rdmablk::parse_host_url;
using rdmablk::parse_url;
using rdmablk::Transport;

namespace {

TEST(Url, NbdWithDefaults) {
  auto u = parse_url("nbd://example.com/vol0");
  EXPECT_EQ(u.transport, Transport::nbd);
  EXPECT_EQ(u.host, "example.com");
  EXPECT_EQ(u.port, RDMABLK_DEFAULT_NBD_PORT);
  EXPECT_EQ(u.export_name, "vol0");
  EXPECT_TRUE(u.options.empty());
}

TEST(Url, RdmaWithPort) {
  auto u = parse_url("rdma://10.0.0.1:4420/scratch");
  EXPECT_EQ(u.transport, Transport::rdma);
  EXPECT_EQ(u.host, "10.0.0.1");
  EXPECT_EQ(u.port, 4420);
  EXPECT_EQ(u.export_name, "scratch");
  EXPECT_EQ(parse_url("rdma://h/x").port, RDMABLK_DEFAULT_RDMA_PORT);
  EXPECT_EQ(parse_url("rdma://h:65535/x").port, 65535);
  EXPECT_EQ(parse_url("rdma://h:1/x").port, 1);
}

TEST(Url, Ipv6) {
  auto u = parse_url("nbd://[::1]:10000/e");
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.port, 10000);
  u = parse_url("rdma://[fe80::1%25eth0]/e");
  EXPECT_EQ(u.host, "fe80::1%eth0") << "zone id is percent-encoded";
  EXPECT_EQ(u.port, RDMABLK_DEFAULT_RDMA_PORT);
}

TEST(Url, ExportName) {
  EXPECT_EQ(parse_url("nbd://h").export_name, "") << "default export";
  EXPECT_EQ(parse_url("nbd://h/").export_name, "");
  EXPECT_EQ(parse_url("nbd://h/a/b").export_name, "a/b");
  EXPECT_EQ(parse_url("nbd://h/my%20disk%2Fx%3f").export_name, "my disk/x?");
  EXPECT_EQ(parse_url("nbd://h/" + std::string(RDMABLK_EXPORT_NAME_MAX, 'x')).export_name.size(),
            size_t{RDMABLK_EXPORT_NAME_MAX});
}

TEST(Url, Options) {
  auto u = parse_url("rdma://h/e?queues=2&qd=32&&name=a%26b");
  EXPECT_EQ(u.export_name, "e");
  ASSERT_EQ(u.options.size(), 3u);
  EXPECT_EQ(u.options["queues"], "2");
  EXPECT_EQ(u.options["qd"], "32");
  EXPECT_EQ(u.options["name"], "a&b");
  EXPECT_EQ(parse_url("nbd://h?x=").options.at("x"), "") << "empty value, no export";
}

TEST(Url, HostUrlIgnoresExportLimits) {
  auto u = parse_host_url("rdma://h:9");
  EXPECT_EQ(u.host, "h");
  EXPECT_EQ(u.port, 9);
  EXPECT_NO_THROW(parse_host_url("rdma://h/" + std::string(RDMABLK_EXPORT_NAME_MAX + 1, 'x')));
}

TEST(Url, Rejects) {
  for (const char* bad : {
           "",
           "example.com/vol0",          // no scheme
           "http://h/e",                // unknown scheme
           "nbd:/h/e",                  // not ://
           "nbd:///e",                  // no host
           "nbd://:10809/e",            // no host
           "nbd://h:0/e",               // port 0
           "nbd://h:65536/e",           // port too big
           "nbd://h:-1/e",              // negative port
           "nbd://h:80x/e",             // junk in port
           "nbd://h:+80/e",             // sign in port
           "nbd://[::1/e",              // unterminated bracket
           "nbd://[]/e",                // empty IPv6 host
           "nbd://[::1]x/e",            // junk after bracket
           "nbd://fe80::1/e",           // IPv6 without brackets
           "nbd://h/e%",                // truncated escape
           "nbd://h/e%4",               // truncated escape
           "nbd://h/e%zz",              // bad escape
           "nbd://h/e%00",              // NUL in export name
           "nbd://h/e?novalue",         // option without '='
           "nbd://h/e?=v",              // option without key
       }) {
    EXPECT_THROW(parse_url(bad), std::invalid_argument) << bad;
  }
  EXPECT_THROW(parse_url("nbd://h/" + std::string(RDMABLK_EXPORT_NAME_MAX + 1, 'x')), std::invalid_argument);
}

TEST(Url, ErrorsSayWhy) {
  try {
    parse_url("ftp://h/e");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("ftp"), std::string::npos) << e.what();
  }
}

TEST(Url, ToStringRoundTrips) {
  for (const char* text : {"nbd://h/e", "rdma://10.0.0.1:4420/scratch", "nbd://[::1]:10000/a/b",
                           "rdma://[fe80::1%25eth0]/e", "nbd://h/my%20disk%3F?k=a%26b&qd=32", "nbd://h",
                           // Hosts that only survive in brackets (fuzzer finds).
                           "rdma://[a%2Fb]/x", "nbd://[h%3Fx]:99/e", "nbd://a%41/e", "rdma://[%5B]/e"}) {
    auto u = parse_url(text);
    auto again = parse_url(u.to_string());
    EXPECT_EQ(again.transport, u.transport) << text;
    EXPECT_EQ(again.host, u.host) << text;
    EXPECT_EQ(again.port, u.port) << text;
    EXPECT_EQ(again.export_name, u.export_name) << text;
    EXPECT_EQ(again.options, u.options) << text;
  }
  EXPECT_EQ(parse_url("nbd://h/e").to_string(), "nbd://h:10809/e");
  EXPECT_EQ(parse_url("rdma://[::1]/e?b=2&a=1").to_string(), "rdma://[::1]:7471/e?a=1&b=2");
}

TEST(Url, TransportNamesAndPorts) {
  EXPECT_EQ(rdmablk::transport_name(Transport::nbd), "nbd");
  EXPECT_EQ(rdmablk::transport_name(Transport::rdma), "rdma");
  EXPECT_EQ(rdmablk::default_port(Transport::nbd), 10809);
  EXPECT_EQ(rdmablk::default_port(Transport::rdma), 7471);
}

}  // namespace
