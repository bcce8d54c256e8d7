// Unit tests of the per-source token buckets of RDMA admission
// (target/connect_rate.cpp): burst, refill rate, independence of sources,
// disabled limiter, bounded memory. Time is passed in, never read.
#include "connect_rate.hpp"

#include <gtest/gtest.h>

namespace rdmablk::target {
namespace {

using namespace std::chrono_literals;
const auto kA = boost::asio::ip::make_address("198.51.100.17");
const auto kB = boost::asio::ip::make_address("198.51.100.1");

// Takes tokens from `who` at `now` while there are any; returns how many.
int drain(ConnectRate& r, const boost::asio::ip::address& who, ConnectRate::Clock::time_point now) {
  int n = 0;
  while (n < 100000 && r.ready(who, now)) {
    r.take(who);
    ++n;
  }
  return n;
}

TEST(ConnectRate, BurstThenRate) {
  ConnectRate r(8, 16);
  const ConnectRate::Clock::time_point t0{};
  EXPECT_EQ(drain(r, kA, t0), 16);
  EXPECT_FALSE(r.ready(kA, t0 + 100ms));   // 0.8 token
  EXPECT_NEAR(r.wait_seconds(kA), 0.025, 1e-9);
  EXPECT_EQ(drain(r, kA, t0 + 125ms), 1);  // 1.0 token
  EXPECT_EQ(drain(r, kA, t0 + 1125ms), 8); // 8 per second
  EXPECT_EQ(drain(r, kA, t0 + 1h), 16);    // never more than the burst
}

TEST(ConnectRate, SourcesAreIndependent) {
  ConnectRate r(1, 4);
  const ConnectRate::Clock::time_point t0{};
  EXPECT_EQ(drain(r, kA, t0), 4);
  EXPECT_FALSE(r.ready(kA, t0));
  EXPECT_EQ(drain(r, kB, t0), 4);  // a flood from A costs B nothing
}

TEST(ConnectRate, ReadyAloneTakesNothing) {
  ConnectRate r(1, 2);
  const ConnectRate::Clock::time_point t0{};
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(r.ready(kA, t0));  // refused elsewhere: no token spent
  EXPECT_EQ(drain(r, kA, t0), 2);
}

TEST(ConnectRate, DisabledAdmitsEverything) {
  ConnectRate r(0, 16);
  EXPECT_FALSE(r.enabled());
  EXPECT_EQ(drain(r, kA, {}), 100000);
  EXPECT_EQ(r.tracked(), 0u);
}

TEST(ConnectRate, ClockGoingBackAddsNothing) {
  ConnectRate r(10, 2);
  const ConnectRate::Clock::time_point t0 = ConnectRate::Clock::time_point{} + 10s;
  EXPECT_EQ(drain(r, kA, t0), 2);
  EXPECT_FALSE(r.ready(kA, t0 - 5s));
}

TEST(ConnectRate, FullBucketsAreForgotten) {
  ConnectRate r(1, 2, 4);
  const ConnectRate::Clock::time_point t0{};
  for (int i = 1; i <= 4; ++i) {
    auto a = boost::asio::ip::make_address_v4(0xC0000200u + i);  // 192.0.2.i
    ASSERT_TRUE(r.ready(a, t0));
    r.take(a);
  }
  EXPECT_EQ(r.tracked(), 4u);
  // 1 s later all four are full again: a fifth source makes room.
  ASSERT_TRUE(r.ready(kA, t0 + 1s));
  r.take(kA);
  EXPECT_EQ(r.tracked(), 1u);
  // Partly drained buckets are kept (and the new one is added anyway).
  for (int i = 1; i <= 4; ++i) {
    auto a = boost::asio::ip::make_address_v4(0xC0000200u + i);
    ASSERT_TRUE(r.ready(a, t0 + 1s));
    r.take(a);
  }
  EXPECT_TRUE(r.ready(kB, t0 + 1s));
  EXPECT_EQ(r.tracked(), 6u);
}

}  // namespace
}  // namespace rdmablk::target
