// rdmablk-rdma-hostile flood: queue-0 connects from many source addresses
// that never log in: the cap fills, later ones evict the oldest, the rest
// are closed at the login deadline, a good client gets in at once.
#include <endian.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "hostile.hpp"
#include "rdmablk/proto_check.h"

namespace hostile {

// ---- a connect flood from many source addresses ----
// --per queue-0 connects from each --src address, none of which ever logs
// in. Each address stays under the per-address cap (64), so only the
// target's global cap of connections that have not logged in (--cap)
// bounds them. First --cap of them, which fill it; once
// the youngest had the target's 1 s to log in, the rest: each must come in
// by evicting the oldest, and a well-behaved client from yet another
// address then gets in at the first try the same way. The connections not
// evicted are closed at the login deadline (--login-timeout, long enough
// for both phases). Right after the flood, one from a flood address logs in
// at the first try.
void run_flood(const Target& t, const FloodOptions& o) {
  const unsigned n = static_cast<unsigned>(o.src.size()) * o.per;
  const unsigned first = std::min(n, o.cap);
  Bulk bulk(t, n);
  enum St { kIdle, kResolving, kConnecting, kUp, kRejected, kFailed, kDown };
  struct F {
    St st = kIdle;
    Clock::time_point asked, up, down;  // asked: rdma_connect sent, before the target accepts
  };
  std::vector<F> v(n);
  const auto req = cm_req(0, 16);
  unsigned settled = 0, up = 0, rejected = 0, failed = 0, down = 0;
  std::map<int, unsigned> reasons;
  auto settle = [&](F& f, St st) {
    if (f.st == kUp || f.st == kRejected || f.st == kFailed || f.st == kDown) return;
    f.st = st;
    ++settled;
    if (st == kUp) ++up;
    if (st == kRejected) ++rejected;
    if (st == kFailed) ++failed;
  };
  auto ask = [&](unsigned from, unsigned to) {
    for (unsigned i = from; i < to; ++i) {
      sockaddr_in src{};
      v[i].st = kResolving;
      if (!ipv4(o.src[i / o.per], src) || !bulk.start(i, reinterpret_cast<sockaddr*>(&src))) settle(v[i], kFailed);
    }
  };
  const auto t0 = Clock::now();
  ask(0, first);

  // The well-behaved client, on its own thread (the flood's events keep
  // being timed meanwhile): from the default source address.
  struct Good {
    std::atomic<bool> start{false};
    int attempts = 0, refused = 0;  // refused: NO_RESOURCES at connect
    bool ok = false;
    double waited = 0;              // from its first attempt to the READ answered
  } good;
  const auto good_limit = std::chrono::seconds(o.login_timeout + 20);
  std::thread good_thread([&] {
    while (!good.start) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const auto first_try = Clock::now();
    while (Clock::now() - first_try < good_limit) {
      ++good.attempts;
      try {
        Conn c(t.host, t.port);
        uint32_t tag = 0;
        Login l = login(c, t.rw, tag);
        const int cs = l.connected;
        if (l.ok && c.status_of(buf_cmd(c, RDMABLK_OP_READ, tag, 0, 4096)) == RDMABLK_S_SUCCESS) {
          good.ok = true;
          good.waited = std::chrono::duration<double>(Clock::now() - first_try).count();
          return;
        }
        if (cs == RDMABLK_S_NO_RESOURCES) ++good.refused;
      } catch (const std::exception&) {
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  });

  // Until every connection settled and every one that came up was closed.
  const auto deadline = t0 + std::chrono::seconds(90 + 2 * o.login_timeout);
  bool second_asked = first == n;
  double first_secs = 0, second_secs = 0;
  Clock::time_point last_up = t0;
  while ((settled < n || down < up) && Clock::now() < deadline) {
    for (rdma_cm_event* ev = bulk.next(50); ev; ev = bulk.next_now()) {
      const size_t i = Bulk::index(*ev);
      F& f = v[i];
      switch (ev->event) {
        case RDMA_CM_EVENT_ADDR_RESOLVED:
          if (rdma_resolve_route(bulk.id(i), 5000)) settle(f, kFailed);
          break;
        case RDMA_CM_EVENT_ROUTE_RESOLVED:
          f.asked = Clock::now();
          if (bulk.connect(bulk.id(i), req))
            f.st = kConnecting;
          else
            settle(f, kFailed);
          break;
        case RDMA_CM_EVENT_ESTABLISHED:
          settle(f, kUp);
          f.up = last_up = Clock::now();
          break;
        case RDMA_CM_EVENT_REJECTED:
          ++reasons[reject_status(*ev)];
          settle(f, kRejected);
          break;
        case RDMA_CM_EVENT_DISCONNECTED:
          if (f.st == kUp) {
            f.st = kDown;
            f.down = Clock::now();
            ++down;
            rdma_disconnect(bulk.id(i));
          }
          break;
        default:  // ADDR/ROUTE_ERROR, UNREACHABLE, CONNECT_ERROR
          settle(f, kFailed);
          break;
      }
      rdma_ack_cm_event(ev);
    }
    // The rest once the first fill the cap and the youngest is past the
    // target's minimum age for eviction (1 s, and some slack).
    if (!second_asked && settled == first && Clock::now() - last_up > std::chrono::milliseconds(1500)) {
      first_secs = std::chrono::duration<double>(Clock::now() - t0).count();
      second_asked = true;
      ask(first, n);
    }
    if (!good.start && settled == n) {
      second_secs = std::chrono::duration<double>(Clock::now() - t0).count() - first_secs;
      good.start = true;
    }
  }
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  good.start = true;
  good_thread.join();

  const std::string why = reject_summary(reasons);
  unsigned up_first = 0;
  for (unsigned i = 0; i < first; ++i) up_first += v[i].st == kUp || v[i].st == kDown;
  check(settled == n && failed == 0 && up_first == first,
        fmt::format("flood of {} queue-0 connects from {} addresses ({} each): the first {} fill the cap ({} "
                    "established in {:.1f} s), then {} more: {} established in all, {} rejected{}, {} failed",
                    n, o.src.size(), o.per, first, up_first, first_secs, n - first, up, rejected,
                    why.empty() ? "" : " (" + why.substr(1) + ")", failed));
  check(up == n && rejected == 0,
        fmt::format("each of the {} beyond the cap comes in by evicting the oldest ({} established, {} rejected, "
                    "{:.1f} s)",
                    n - first, up - up_first, rejected, second_secs));
  // Evicted: closed before the deadline, each after the target's minimum age
  // (1 s). Both only for the first: the younger ones are never the oldest.
  unsigned evicted = 0, evicted_young = 0, evicted_second = 0, at_deadline = 0;
  double lo = 1e9, hi = 0;
  for (unsigned i = 0; i < n; ++i) {
    const F& f = v[i];
    if (f.st != kDown) continue;
    const double from_ask = std::chrono::duration<double>(f.down - f.asked).count();
    const double from_up = std::chrono::duration<double>(f.down - f.up).count();
    if (from_ask < o.login_timeout - 0.1) {
      ++evicted;
      evicted_young += from_ask < 1.0;
      evicted_second += i >= first;
    } else {
      ++at_deadline;
      lo = std::min(lo, from_ask);
      hi = std::max(hi, from_up);
    }
  }
  // Each of the good client's tries evicts one more (a try that failed on
  // this loaded host for another reason may have, too).
  const unsigned tries = static_cast<unsigned>(good.attempts);
  check(down == up && evicted >= n - first + 1 && evicted <= n - first + tries && evicted_young == 0 &&
            evicted_second == 0,
        fmt::format("{} closed early, evicted for a newer connection ({} flood + 1..{} for the good client), "
                    "none younger than 1 s ({}), none of the newer ones ({})",
                    evicted, n - first, tries, evicted_young, evicted_second));
  check(at_deadline > 0 && lo >= o.login_timeout - 0.1 && hi <= o.login_timeout + 10.0,
        fmt::format("the other {} are closed at the login deadline ({} s): held at least {:.1f} s from the connect "
                    "request, at most {:.1f} s from ESTABLISHED ({:.1f} s in all)",
                    at_deadline, o.login_timeout, at_deadline ? lo : 0, hi, secs));
  check(good.ok && good.refused == 0,
        fmt::format("a well-behaved client that starts with the cap full logs in and reads, never refused "
                    "({} attempt(s), {} refused NO_RESOURCES, {:.1f} s)",
                    good.attempts, good.refused, good.waited));
  {
    // Right after the flood, from one of its addresses, at the first try.
    Conn c(t.host, t.port, o.src.front());
    uint32_t tag = 0;
    bool ok = login(c, t.rw, tag).ok && c.status_of(buf_cmd(c, RDMABLK_OP_READ, tag, 0, 4096)) == RDMABLK_S_SUCCESS;
    check(ok, fmt::format("right after the flood, a client from {} (a flood address) logs in and reads at once",
                          o.src.front()));
  }
}

}  // namespace hostile
