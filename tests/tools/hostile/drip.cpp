// rdmablk-rdma-hostile drip: a client that takes one response at a time,
// slowly, and keeps its queue full of READs of a file export.
#include <endian.h>

#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

#include "hostile.hpp"
#include "rdmablk/proto_check.h"

namespace hostile {

// ---- a client that takes its responses slowly ----
// Like the client that stops reading, but it reposts one receive buffer
// every --drip-interval (2 s): its send queue keeps completing something,
// so the target's stall check (5 s without a completion) never fires, and
// each response it takes makes room for one more READ of the file export,
// which it sends at once. So it keeps the target's requests for its queue
// all in use, each wanting a bounce buffer of the pool the worker shares
// with every file-export session on the same device. The calling case
// measures what that costs well-behaved sessions meanwhile; the target
// bounds what one queue may hold to its share of the pool.
void run_drip(const Target& t, const DripOptions& o) {
  Conn s(t.host, t.port);
  uint32_t ts = 0;
  Login l = login(s, o.file, ts);
  check(l.ok, fmt::format("LOGIN to file export '{}' for the slow drip", o.file));
  if (!l.ok) return;
  const uint64_t size = l.grant.size;
  uint64_t next = 0;
  auto read = [&] {
    uint64_t off = next++ * 65536 % (size - 65536) / 4096 * 4096;
    return s.send(buf_cmd(s, RDMABLK_OP_READ, ts, off, 65536));
  };
  s.set_reading(false);
  int sent = 0;
  while (sent < 48 && read()) ++sent;  // 2 x depth requests and depth receive buffers' worth
  s.pump(std::chrono::milliseconds(500));
  size_t seen = s.inbox_size();
  const size_t initial = seen;
  fmt::print("drip: {} READs sent, {} answered; from now on one response taken every {} ms\n", sent, seen,
             o.interval_ms);
  std::fflush(stdout);  // the case starts its measurement on this line
  const auto start = Clock::now(), until = start + std::chrono::seconds(o.seconds);
  unsigned drips = 0, more = 0;
  bool stuck = false;
  while (Clock::now() < until && !s.gone() && (o.stop.empty() || access(o.stop.c_str(), F_OK) != 0)) {
    s.pump(std::chrono::milliseconds(o.interval_ms));
    // Every response taken freed a request on the target: fill it again.
    for (; seen < s.inbox_size(); ++seen) {
      if (!read()) {
        stuck = true;
        break;
      }
      ++more;
    }
    if (stuck) break;
    if (s.repost_one()) ++drips;
  }
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  const size_t answered = s.inbox_size();
  const bool connected = !s.gone();
  fmt::print("drip: {:.0f} s, {} receive buffers reposted one by one, {} responses in all, {} more READs sent\n", secs,
             drips, answered, more);
  check(connected && !stuck && drips > 0 && answered > initial,
        fmt::format("the slow-drip client stays connected and keeps its queue full for {:.0f} s (the stall check "
                    "does not fire): {} responses taken one every {} ms",
                    secs, answered, o.interval_ms));
  s.set_reading(true);
  s.pump(std::chrono::milliseconds(500));
}
}  // namespace hostile
