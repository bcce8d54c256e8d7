// The bounce pool's per-queue shares (bounce_shares.hpp): a queue that holds
// its buffers for long (an initiator taking its responses slowly) keeps at
// most its share, and its further requests wait for its own buffers, not
// ahead of other queues in the FIFO.
#include <gtest/gtest.h>

#include <array>
#include <cstddef>
#include <vector>

#include "bounce_shares.hpp"

namespace rdmablk::target {
namespace {

// A request that records the buffer it was handed.
struct Req final : BounceWaiter {
  void buffer_ready(std::byte* b) override { buf = b; }
  std::byte* buf = nullptr;
};

class BounceSharesTest : public ::testing::Test {
 protected:
  BounceShares pool(unsigned n) {
    std::vector<std::byte*> v;
    for (unsigned i = 0; i < n; ++i) v.push_back(&mem_[i]);
    return BounceShares(std::move(v));
  }
  // Asks for a buffer for each of `reqs`; returns how many got one at once.
  static unsigned take(BounceShares& p, BounceHolder& h, std::vector<Req>& reqs) {
    unsigned got = 0;
    for (auto& r : reqs)
      if ((r.buf = p.get_or_wait(h, r))) ++got;
    return got;
  }

  std::array<std::byte, 64> mem_{};
};

TEST_F(BounceSharesTest, LoneQueueMayUseHalfThePool) {
  auto p = pool(16);
  BounceHolder a;
  std::vector<Req> r(20);
  EXPECT_EQ(take(p, a, r), 8u);
  EXPECT_EQ(a.held(), 8u);
  EXPECT_EQ(a.waiting(), 12u);
  EXPECT_EQ(p.active(), 1u);
  EXPECT_EQ(p.free(), 8u);
  // Its own buffer coming back goes to its own next request.
  p.put(a, r[0].buf);
  EXPECT_NE(r[8].buf, nullptr);
  EXPECT_EQ(a.held(), 8u);
}

TEST_F(BounceSharesTest, ShareIsFairButAtLeastAQuarterAndAtMostHalf) {
  auto p = pool(16);
  BounceHolder h[6];
  Req r[6];
  EXPECT_EQ(p.share(), 8u);
  for (int i = 0; i < 6; ++i) ASSERT_NE(p.get_or_wait(h[i], r[i]), nullptr);
  EXPECT_EQ(p.active(), 6u);
  EXPECT_EQ(p.share(), 4u);  // 16 / 6 = 3, but a quarter of the pool is the floor
  p.put(h[0], r[0].buf);
  p.put(h[1], r[1].buf);
  EXPECT_EQ(p.share(), 4u);  // 4 busy
  p.put(h[2], r[2].buf);
  EXPECT_EQ(p.share(), 6u);  // 3 busy: 16 / 3 rounded up
  p.put(h[3], r[3].buf);
  EXPECT_EQ(p.share(), 8u);
  p.put(h[4], r[4].buf);
  EXPECT_EQ(p.share(), 8u);  // alone: half
  EXPECT_EQ(pool(1).share(), 1u);
  EXPECT_EQ(pool(3).share(), 2u);
}

// The slow-drip client: it holds every buffer it can get and asks for more,
// then gives one back now and then. Another queue still gets buffers at once.
TEST_F(BounceSharesTest, SlowQueueKeepsOnlyItsShare) {
  auto p = pool(16);
  BounceHolder slow, good;
  std::vector<Req> s(32);
  Req g0;
  ASSERT_NE(p.get_or_wait(good, g0), nullptr);  // the other queue is busy too
  unsigned got = take(p, slow, s);
  EXPECT_EQ(got, 8u);  // share with two busy queues: 16 / 2
  EXPECT_EQ(slow.held(), 8u);
  EXPECT_EQ(slow.waiting(), 24u);
  EXPECT_EQ(p.free(), 7u);  // the rest stays for others
  std::vector<Req> g(7);
  EXPECT_EQ(take(p, good, g), 7u);
  // A drip: the slow queue's buffer goes to its own next request.
  p.put(slow, s[0].buf);
  EXPECT_NE(s[8].buf, nullptr);
  EXPECT_EQ(slow.held(), 8u);
  // The good queue's buffer goes to the good queue's next request, not to
  // one of the 23 the slow queue has waiting.
  Req g8;
  EXPECT_EQ(p.get_or_wait(good, g8), nullptr);
  p.put(good, g0.buf);
  EXPECT_EQ(g8.buf, g0.buf);
  EXPECT_EQ(slow.held(), 8u);
}

// Without shares (the bug): the slow queue's 16 waiters stood first in the
// FIFO, so every buffer anyone returned went to it. Now a queue at its share
// cannot queue ahead of others.
TEST_F(BounceSharesTest, WaitersOfAQueueAtItsShareDoNotQueueAheadOfOthers) {
  auto p = pool(4);
  BounceHolder slow, good;
  Req a, b;
  ASSERT_NE(p.get_or_wait(good, a), nullptr);
  ASSERT_NE(p.get_or_wait(good, b), nullptr);
  std::vector<Req> s(10);
  EXPECT_EQ(take(p, slow, s), 2u);  // share 2 of 4
  Req c;
  EXPECT_EQ(p.get_or_wait(good, c), nullptr);
  p.put(good, a.buf);
  EXPECT_EQ(c.buf, a.buf);  // good's own, although slow asked earlier
  EXPECT_EQ(slow.held(), 2u);
}

// A queue above its share (it took much before others became busy) gets
// nothing more until it is below it again; what it gives back meanwhile
// goes to the others.
TEST_F(BounceSharesTest, AboveItsShareAfterOthersBecameBusy) {
  auto p = pool(8);
  BounceHolder h[3];
  std::vector<Req> r0(4), r1(3);
  Req r2, second0, second2;
  EXPECT_EQ(take(p, h[0], r0), 4u);  // alone: half
  EXPECT_EQ(take(p, h[1], r1), 3u);  // share 4 with two busy; one left
  ASSERT_NE(p.get_or_wait(h[2], r2), nullptr);
  EXPECT_EQ(p.share(), 3u);  // three busy: 8 / 3 rounded up
  EXPECT_EQ(p.get_or_wait(h[0], second0), nullptr);
  EXPECT_EQ(p.get_or_wait(h[2], second2), nullptr);
  p.put(h[0], r0[0].buf);  // h[0] still at its share: not its own request's
  EXPECT_EQ(second2.buf, r0[0].buf);
  EXPECT_EQ(second0.buf, nullptr);
  p.put(h[0], r0[1].buf);  // below it now
  EXPECT_EQ(second0.buf, r0[1].buf);
}

TEST_F(BounceSharesTest, CancelAndIdle) {
  auto p = pool(4);
  BounceHolder a, b, c;
  Req a1, a2, a3, b1, b2, b3, c1;
  ASSERT_NE(p.get_or_wait(a, a1), nullptr);
  ASSERT_NE(p.get_or_wait(a, a2), nullptr);
  ASSERT_NE(p.get_or_wait(b, b1), nullptr);
  ASSERT_NE(p.get_or_wait(b, b2), nullptr);
  EXPECT_EQ(p.get_or_wait(a, a3), nullptr);
  EXPECT_EQ(p.get_or_wait(b, b3), nullptr);
  EXPECT_EQ(p.get_or_wait(c, c1), nullptr);
  EXPECT_EQ(p.active(), 3u);
  p.cancel(a, a3);
  EXPECT_EQ(a.waiting(), 0u);
  p.put(a, a1.buf);
  EXPECT_EQ(c1.buf, a1.buf);
  p.put(a, a2.buf);
  EXPECT_EQ(a.held(), 0u);
  EXPECT_EQ(p.active(), 2u);
  EXPECT_EQ(p.free(), 1u);  // b is at its share: its request waits for its own
  EXPECT_EQ(b3.buf, nullptr);
  p.put(b, b1.buf);
  EXPECT_EQ(b3.buf, b1.buf);
  p.put(b, b2.buf);
  p.put(b, b3.buf);
  p.put(c, c1.buf);
  EXPECT_EQ(p.active(), 0u);
  EXPECT_EQ(p.free(), 4u);
}

TEST_F(BounceSharesTest, LeaveLeaksWhatIsHeld) {
  auto p = pool(4);
  BounceHolder gone, other;
  Req g;
  ASSERT_NE(p.get_or_wait(gone, g), nullptr);
  p.leave(gone);
  EXPECT_EQ(p.total(), 3u);
  EXPECT_EQ(p.active(), 0u);
  std::vector<Req> o(4);
  EXPECT_EQ(take(p, other, o), 2u);  // half of the 3 left, rounded up
}

// A waiter that is handed a buffer and at once gives it back (its queue is
// closing) lets the next waiter have it.
TEST_F(BounceSharesTest, ReentrantPut) {
  struct Bouncer final : BounceWaiter {
    BounceShares* pool = nullptr;
    BounceHolder* holder = nullptr;
    void buffer_ready(std::byte* b) override { pool->put(*holder, b); }
  };
  auto p = pool(1);
  BounceHolder a, b, c;
  Req a1, c1;
  ASSERT_NE(p.get_or_wait(a, a1), nullptr);
  Bouncer b1;
  b1.pool = &p;
  b1.holder = &b;
  EXPECT_EQ(p.get_or_wait(b, b1), nullptr);
  EXPECT_EQ(p.get_or_wait(c, c1), nullptr);
  p.put(a, a1.buf);
  EXPECT_EQ(c1.buf, a1.buf);
  EXPECT_EQ(b.held(), 0u);
  EXPECT_EQ(c.held(), 1u);
}

}  // namespace
}  // namespace rdmablk::target
