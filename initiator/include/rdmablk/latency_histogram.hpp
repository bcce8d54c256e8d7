#pragma once
// A latency histogram with HdrHistogram's log-linear layout, simplified:
// values below 2^kSubBits have a bucket each, every power of two above has
// 2^kSubBits buckets, so a reported value is within 2^-kSubBits (0.8%) of
// the recorded one over the whole 64-bit range. The buckets are allocated
// once; record() is a few instructions and never allocates.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace rdmablk {

class LatencyHistogram {
 public:
  static constexpr unsigned kSubBits = 7;

  LatencyHistogram();

  void record(uint64_t value);
  void merge(const LatencyHistogram& other);
  void reset();

  uint64_t count() const { return count_; }
  uint64_t min() const { return count_ ? min_ : 0; }
  uint64_t max() const { return max_; }
  double mean() const { return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0.0; }
  // The smallest value that `percent` (0..100) of the recorded values do not
  // exceed (nearest rank), as the top of its bucket clamped to [min, max];
  // 0 when empty.
  uint64_t percentile(double percent) const;

 private:
  static size_t bucket_of(uint64_t value);
  static uint64_t bucket_top(size_t bucket);

  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
};

}  // namespace rdmablk
