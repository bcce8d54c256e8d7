// rdmablk-rdma-hostile stall: a client that stops reading its responses
// costs the target only that queue.
#include <endian.h>

#include <fmt/format.h>

#include "hostile.hpp"
#include "rdmablk/proto_check.h"

namespace hostile {

// ---- a client that stops reading its responses ----
// It sends READs (more than its queue depth) but reposts no receive buffer,
// so the target's answers wait (RNR, retried forever) in its send queue,
// and the data of every later READ, in bounce buffers of the worker's
// shared pool, waits behind them. That must cost the target only that
// queue: another session of the same file export (whose READs need those
// bounce buffers) is served meanwhile, at worst after the target has
// given up on the stalled queue (5 s without a send completion).
void run_stall(const Target& t, const std::string& file) {
  Conn s(t.host, t.port);
  uint32_t ts = 0;
  Login l = login(s, file, ts);
  check(l.ok, fmt::format("LOGIN to file export '{}'", file));
  if (!l.ok) return;
  const uint64_t size = l.grant.size;
  s.set_reading(false);
  const int n = 48;
  int sent = 0;
  for (int i = 0; i < n; ++i) {
    uint64_t off = (uint64_t(i) * 65536) % (size - 65536) / 4096 * 4096;
    if (!s.send(buf_cmd(s, RDMABLK_OP_READ, ts, off, 65536))) break;
    ++sent;
  }
  const auto stalled = Clock::now();
  s.pump(std::chrono::milliseconds(500));
  fmt::print("stalled client: {} READs sent, {} answers received, then it stopped reading\n", sent, s.inbox_size());
  {
    Conn g(t.host, t.port);
    uint32_t tg = 0;
    check(login(g, file, tg).ok, "another session logs in to the same file export meanwhile");
    int good = 0;
    double first = -1;
    auto start = Clock::now();
    for (int i = 0; i < 64; ++i) {
      if (g.status_of(buf_cmd(g, RDMABLK_OP_READ, tg, uint64_t(i) * 65536 % (size - 65536) / 4096 * 4096, 65536)) !=
          RDMABLK_S_SUCCESS)
        break;
      if (first < 0) first = std::chrono::duration<double>(Clock::now() - start).count();
      ++good;
    }
    double secs = std::chrono::duration<double>(Clock::now() - start).count();
    check(good == 64 && secs < 10,
          fmt::format("it gets all of 64 READs of 64 KiB answered meanwhile ({} in {:.2f} s, the first after {:.2f} s)",
                      good, secs, first));
  }
  bool gone = s.broken() || s.wait_disconnect();
  double after = std::chrono::duration<double>(Clock::now() - stalled).count();
  check(gone, fmt::format("the target disconnects the client that stopped reading ({:.1f} s after it stopped)", after));
}
}  // namespace hostile
