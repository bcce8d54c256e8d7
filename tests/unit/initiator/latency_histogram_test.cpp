#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "rdmablk/latency_histogram.hpp"

namespace rdmablk {
namespace {

// Within the histogram's promised relative error of the exact value.
void expect_close(uint64_t got, uint64_t exact) {
  double tolerance = static_cast<double>(exact) / (1u << LatencyHistogram::kSubBits) + 1;
  EXPECT_NEAR(static_cast<double>(got), static_cast<double>(exact), tolerance) << "exact " << exact;
}

TEST(LatencyHistogram, EmptyReportsZero) {
  LatencyHistogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.mean(), 0.0);
  EXPECT_EQ(h.percentile(50), 0u);
}

TEST(LatencyHistogram, SmallValuesAreExact) {
  LatencyHistogram h;
  for (uint64_t v = 1; v <= 100; ++v) h.record(v);
  EXPECT_EQ(h.count(), 100u);
  EXPECT_EQ(h.min(), 1u);
  EXPECT_EQ(h.max(), 100u);
  EXPECT_DOUBLE_EQ(h.mean(), 50.5);
  EXPECT_EQ(h.percentile(50), 50u);
  EXPECT_EQ(h.percentile(99), 99u);
  EXPECT_EQ(h.percentile(99.9), 100u);
  EXPECT_EQ(h.percentile(100), 100u);
  EXPECT_EQ(h.percentile(0), 1u);
}

TEST(LatencyHistogram, NearestRankOnAThousandValues) {
  LatencyHistogram h;
  for (uint64_t v = 1; v <= 1000; ++v) h.record(v * 1000);  // 1 us .. 1 ms in ns
  expect_close(h.percentile(50), 500'000);
  expect_close(h.percentile(99), 990'000);
  expect_close(h.percentile(99.9), 999'000);
  EXPECT_EQ(h.percentile(100), 1'000'000u);  // clamped to the recorded maximum
}

TEST(LatencyHistogram, MatchesSortedSampleOverWideRange) {
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> dist(12.0, 2.0);  // ns: ~160 us median, long tail
  LatencyHistogram h;
  std::vector<uint64_t> sample;
  for (int i = 0; i < 100000; ++i) {
    auto v = static_cast<uint64_t>(dist(rng)) + 1;
    sample.push_back(v);
    h.record(v);
  }
  std::sort(sample.begin(), sample.end());
  for (double p : {1.0, 10.0, 50.0, 90.0, 99.0, 99.9, 99.99}) {
    auto rank = static_cast<size_t>(std::ceil(p / 100 * static_cast<double>(sample.size())));
    expect_close(h.percentile(p), sample[rank - 1]);
  }
  EXPECT_EQ(h.min(), sample.front());
  EXPECT_EQ(h.max(), sample.back());
}

TEST(LatencyHistogram, HugeValuesDoNotOverflow) {
  LatencyHistogram h;
  h.record(UINT64_MAX);
  h.record(uint64_t{1} << 63);
  EXPECT_EQ(h.max(), UINT64_MAX);
  expect_close(h.percentile(50), uint64_t{1} << 63);
  EXPECT_EQ(h.percentile(100), UINT64_MAX);
}

TEST(LatencyHistogram, MergeEqualsRecordingEverything) {
  LatencyHistogram a, b, all;
  for (uint64_t v = 1; v <= 5000; ++v) {
    (v % 3 ? a : b).record(v * 37);
    all.record(v * 37);
  }
  a.merge(b);
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.min(), all.min());
  EXPECT_EQ(a.max(), all.max());
  EXPECT_DOUBLE_EQ(a.mean(), all.mean());
  for (double p : {50.0, 99.0, 99.9}) EXPECT_EQ(a.percentile(p), all.percentile(p));
  a.reset();
  EXPECT_EQ(a.count(), 0u);
}

}  // namespace
}  // namespace rdmablk
