// URL options (?queues=&qd=&timeout=&mode=) on top of ClientOptions, seen
// through the public API.
#include <gtest/gtest.h>

#include "fake_nbd_server.hpp"
#include "rdmablk/client.hpp"

namespace rdmablk::test {
namespace {

std::error_code open_error(const std::string& url) {
  try {
    Client::open(url);
  } catch (const Error& e) {
    return e.code();
  }
  return {};
}

TEST(ClientOptions, UrlOverridesCallerOptions) {
  FakeNbdServer server({});
  ClientOptions opts;
  opts.queue_depth = 16;
  opts.timeout = std::chrono::milliseconds(9000);
  auto c = Client::open(server.url("disk", "qd=7&timeout=1234&poll=1"), opts);
  EXPECT_EQ(c->options().queue_depth, 7u);
  EXPECT_TRUE(c->options().poll);
  EXPECT_EQ(c->options().timeout, std::chrono::milliseconds(1234));
  EXPECT_EQ(c->options().queues, 1u);
  auto d = Client::open(server.url(), opts);
  EXPECT_EQ(d->options().queue_depth, 16u);
  EXPECT_EQ(d->options().timeout, std::chrono::milliseconds(9000));
  EXPECT_FALSE(d->options().poll);
}

TEST(ClientOptions, BadOptionsAreEinvalBeforeConnecting) {
  // Port 9 (discard) on loopback is never an NBD server; EINVAL must come first.
  for (const char* url : {"nbd://127.0.0.1:9/x?qd=0", "nbd://127.0.0.1:9/x?qd=many", "nbd://127.0.0.1:9/x?queues=0",
                          "nbd://127.0.0.1:9/x?queues=100000", "nbd://127.0.0.1:9/x?timeout=-5",
                          "nbd://127.0.0.1:9/x?mode=fast", "nbd://127.0.0.1:9/x?poll=2", "nbd://127.0.0.1:9/x?colour=blue",
                          "nbd://127.0.0.1:9/x?qd", "http://127.0.0.1/x", "nbd:///x", "nbd://h:0/x"})
    EXPECT_EQ(open_error(url), std::make_error_code(std::errc::invalid_argument)) << url;
}

TEST(ClientOptions, BadCallerOptionsAreEinval) {
  ClientOptions opts;
  opts.queue_depth = 0;
  try {
    Client::open("nbd://127.0.0.1:9/x", opts);
    ADD_FAILURE() << "accepted queue_depth 0";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), std::make_error_code(std::errc::invalid_argument));
  }
}

}  // namespace
}  // namespace rdmablk::test
