#include "rdmablk/latency_histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace rdmablk {

namespace {

constexpr uint64_t kSub = uint64_t{1} << LatencyHistogram::kSubBits;
// Exact buckets below kSub, then kSub per power of two up to 2^63.
constexpr size_t kBuckets = (65 - LatencyHistogram::kSubBits) * kSub;

}  // namespace

LatencyHistogram::LatencyHistogram() : counts_(kBuckets) {}

size_t LatencyHistogram::bucket_of(uint64_t value) {
  if (value < kSub) return value;
  unsigned shift = static_cast<unsigned>(std::bit_width(value)) - 1 - kSubBits;
  return shift * kSub + (value >> shift);  // value >> shift lies in [kSub, 2 kSub)
}

uint64_t LatencyHistogram::bucket_top(size_t bucket) {
  if (bucket < kSub) return bucket;
  unsigned shift = static_cast<unsigned>(bucket / kSub - 1);
  uint64_t top_bits = bucket - shift * kSub;
  return (top_bits << shift) + ((uint64_t{1} << shift) - 1);
}

void LatencyHistogram::record(uint64_t value) {
  ++counts_[bucket_of(value)];
  ++count_;
  sum_ += value;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  for (size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

void LatencyHistogram::reset() { *this = LatencyHistogram(); }

uint64_t LatencyHistogram::percentile(double percent) const {
  if (count_ == 0) return 0;
  // Multiply first and forgive rounding noise: 99.9% of 1000 is rank 999, not 1000.
  double exact_rank = std::clamp(percent, 0.0, 100.0) * static_cast<double>(count_) / 100.0;
  auto rank = static_cast<uint64_t>(std::ceil(exact_rank * (1 - 1e-12)));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::clamp(bucket_top(i), min_, max_);
  }
  return max_;
}

}  // namespace rdmablk
