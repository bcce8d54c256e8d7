// Per-source token buckets for the RDMA target's connection admission: a
// source address may open queue-0 connections at `burst` at once and then
// `rate` per second. The count cap (connections not logged in per address)
// bounds what an address holds; this bounds how fast it can replace them,
// so a flood from one address cannot keep every place of --rdma-max-pending
// younger than the eviction age and lock newcomers out. Pure: the caller
// passes the time, the unit tests drive it without a clock.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>

#include <boost/asio/ip/address.hpp>

namespace rdmablk::target {

class ConnectRate {
 public:
  using Clock = std::chrono::steady_clock;
  // rate: tokens per second (0: no limit); burst: the bucket's size (at
  // least 1). max_tracked: buckets kept before full ones are forgotten (a
  // full bucket is the same as none), so spoofed sources cost bounded memory.
  ConnectRate(double rate, double burst, size_t max_tracked = 4096);

  bool enabled() const { return rate_ > 0; }
  // Whether `source` has a token at `now` (after refilling its bucket).
  bool ready(const boost::asio::ip::address& source, Clock::time_point now);
  // Takes the token ready() saw; call only after ready() returned true.
  void take(const boost::asio::ip::address& source);
  // Seconds until `source` has a token again (0 if it has one), for the log.
  double wait_seconds(const boost::asio::ip::address& source) const;
  size_t tracked() const { return buckets_.size(); }

 private:
  struct Bucket {
    double tokens;
    Clock::time_point last;  // when `tokens` was computed
  };
  void refill(Bucket& b, Clock::time_point now) const;
  void forget_full(Clock::time_point now);

  double rate_, burst_;
  size_t max_tracked_;
  std::map<boost::asio::ip::address, Bucket> buckets_;
};

}  // namespace rdmablk::target
