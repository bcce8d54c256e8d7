// The shared verbs layer (rdmablk/verbs.hpp, rdmablk/wr_id.hpp) where it can
// be checked without an RDMA device: null handling, move and self-move of
// every wrapper, and the wr_id encoding both sides of the wire use.
#include <gtest/gtest.h>

#include <utility>

#include "rdmablk/verbs.hpp"

namespace rdmablk::verbs {
namespace {

// Moves `x` into itself without the compiler seeing (and warning about) it.
template <typename T>
void self_move(T& x) {
  T& alias = x;
  x = std::move(alias);
}

int destroyed = 0;
void count_destroy(int*) { ++destroyed; }

TEST(VerbsDeleter, CallsTheDestroyFunctionOnlyForAHandle) {
  destroyed = 0;
  int handle = 0;
  {
    std::unique_ptr<int, Deleter<count_destroy>> none;
    std::unique_ptr<int, Deleter<count_destroy>> one(&handle);
    self_move(one);
    EXPECT_EQ(one.get(), &handle);
    auto moved = std::move(one);
    EXPECT_EQ(one.get(), nullptr);
  }
  EXPECT_EQ(destroyed, 1);
}

TEST(VerbsQp, MovesTheQpOfItsIdAndSurvivesSelfMove) {
  rdma_cm_id id{};
  id.qp = reinterpret_cast<ibv_qp*>(0x1000);  // never dereferenced
  Qp a(&id);
  EXPECT_TRUE(a);
  EXPECT_EQ(a.get(), id.qp);
  Qp b(std::move(a));
  EXPECT_FALSE(a);
  EXPECT_EQ(a.get(), nullptr);
  EXPECT_EQ(b.get(), id.qp);
  self_move(b);
  EXPECT_EQ(b.get(), id.qp);
  Qp c;
  c = std::move(b);
  EXPECT_EQ(c.get(), id.qp);
  EXPECT_EQ(b.get(), nullptr);
  id.qp = nullptr;  // the QP is gone: reset must not call rdma_destroy_qp
  c.reset();
  EXPECT_FALSE(c);
}

TEST(VerbsQp, NullAndIdWithoutQpOwnNothing) {
  Qp none;
  EXPECT_FALSE(none);
  none.reset();
  self_move(none);
  rdma_cm_id id{};
  Qp no_qp(&id);
  EXPECT_FALSE(no_qp);
  EXPECT_EQ(no_qp.get(), nullptr);
}

TEST(VerbsCq, CountsUnackedEventsAcrossMovesAndAcksInBatches) {
  Cq cq;
  EXPECT_FALSE(cq);
  for (int i = 0; i < 31; ++i) cq.event_received();
  EXPECT_EQ(cq.unacked(), 31u);
  cq.event_received();  // the 32nd: a batch ack
  EXPECT_EQ(cq.unacked(), 0u);
  cq.event_received();
  Cq moved(std::move(cq));
  EXPECT_EQ(moved.unacked(), 1u);
  EXPECT_EQ(cq.unacked(), 0u);
  self_move(moved);
  EXPECT_EQ(moved.unacked(), 1u);
  moved.ack_all();
  EXPECT_EQ(moved.unacked(), 0u);
  moved.reset();
  EXPECT_EQ(moved.get(), nullptr);
}

TEST(VerbsRegisteredBuffer, DefaultIsEmptyAndMovesAreSafe) {
  RegisteredBuffer b;
  EXPECT_FALSE(b);
  EXPECT_EQ(b.data(), nullptr);
  EXPECT_EQ(b.size(), 0u);
  self_move(b);
  RegisteredBuffer c(std::move(b));
  EXPECT_FALSE(c);
  c = RegisteredBuffer();
  EXPECT_EQ(c.mr(), nullptr);
}

TEST(WrId, RoundTripsKindIndexAndGeneration) {
  for (WrKind k : {WrKind::recv, WrKind::send, WrKind::rdma}) {
    for (uint32_t index : {0u, 1u, 4095u, 0xffffffffu}) {
      for (uint16_t gen : {uint16_t{0}, uint16_t{7}, uint16_t{0xffff}}) {
        uint64_t id = wr_id(k, index, gen);
        EXPECT_EQ(wr_kind(id), k);
        EXPECT_EQ(wr_index(id), index);
        EXPECT_EQ(wr_generation(id), gen);
      }
    }
  }
}

TEST(WrId, KindsAndGenerationsNeverCollide) {
  EXPECT_NE(wr_id(WrKind::recv, 5), wr_id(WrKind::send, 5));
  EXPECT_NE(wr_id(WrKind::send, 5), wr_id(WrKind::rdma, 5));
  EXPECT_NE(wr_id(WrKind::send, 5, 1), wr_id(WrKind::send, 5, 2));  // a stale completion does not match
  static_assert(wr_id(WrKind::recv, 3) == 3, "a receive's id is its buffer index");
}

}  // namespace
}  // namespace rdmablk::verbs
