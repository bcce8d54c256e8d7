#include "client_options.hpp"

#include <charconv>

#include <fmt/format.h>

namespace rdmablk {

namespace {

// Limits that keep a typo from allocating gigabytes of request slots.
constexpr unsigned kMaxQueues = 256;
constexpr unsigned kMaxQueueDepth = 4096;

[[noreturn]] void bad(const std::string& key, const std::string& value, std::string_view want) {
  throw Error(std::errc::invalid_argument,
              fmt::format("bad URL option {}={} (want {})", key, value, want));
}

unsigned parse_uint(const std::string& key, const std::string& value, unsigned lo, unsigned hi) {
  unsigned v = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
  if (ec != std::errc() || end != value.data() + value.size() || v < lo || v > hi)
    bad(key, value, fmt::format("an integer in {}..{}", lo, hi));
  return v;
}

}  // namespace

ClientOptions apply_url_options(ClientOptions opts, const std::map<std::string, std::string>& url_options) {
  for (const auto& [key, value] : url_options) {
    if (key == "queues") {
      opts.queues = parse_uint(key, value, 1, kMaxQueues);
    } else if (key == "qd" || key == "queue_depth") {
      opts.queue_depth = parse_uint(key, value, 1, kMaxQueueDepth);
    } else if (key == "timeout") {
      opts.timeout = std::chrono::milliseconds(parse_uint(key, value, 1, 24 * 3600 * 1000));
    } else if (key == "mode") {
      if (value == "command")
        opts.mode = RdmaMode::command;
      else if (value == "direct")
        opts.mode = RdmaMode::direct;
      else
        bad(key, value, "command or direct");
    } else if (key == "poll") {
      if (value == "1" || value == "yes" || value == "true")
        opts.poll = true;
      else if (value == "0" || value == "no" || value == "false")
        opts.poll = false;
      else
        bad(key, value, "1 or 0");
    } else if (key == "host_id") {
      opts.host_id = value;
    } else if (key == "secret_file") {
      opts.secret_file = value;
    } else {
      throw Error(std::errc::invalid_argument,
                  fmt::format("unknown URL option '{}' (known: queues, qd, timeout, mode, poll, host_id, secret_file)", key));
    }
  }
  if (opts.queues < 1 || opts.queues > kMaxQueues)
    throw Error(std::errc::invalid_argument, fmt::format("queues must be in 1..{}", kMaxQueues));
  if (opts.queue_depth < 1 || opts.queue_depth > kMaxQueueDepth)
    throw Error(std::errc::invalid_argument, fmt::format("queue depth must be in 1..{}", kMaxQueueDepth));
  if (opts.timeout.count() <= 0) throw Error(std::errc::invalid_argument, "timeout must be positive");
  return opts;
}

}  // namespace rdmablk
