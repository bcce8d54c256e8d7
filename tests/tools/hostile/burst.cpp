// rdmablk-rdma-hostile burst: N queue-0 connects at once that never log in:
// all answered within a bound, another session still served.
#include <endian.h>

#include <map>
#include <vector>

#include <fmt/format.h>

#include "hostile.hpp"
#include "rdmablk/proto_check.h"

namespace hostile {

void run_burst(const Target& t, unsigned n, const std::string& alt_host) {
  enum St { kResolving, kConnecting, kUp, kRejected, kFailed, kDown };
  std::vector<St> v(n, kResolving);
  const auto req = cm_req(0, RDMABLK_MAX_QUEUE_DEPTH);  // as much as the target grants
  unsigned settled = 0, up = 0, rejected = 0, failed = 0;
  std::map<int, unsigned> reasons;
  auto settle = [&](St& b, St st) {
    if (b == kUp || b == kRejected || b == kFailed) return;
    b = st;
    ++settled;
    if (st == kUp) ++up;
    if (st == kRejected) ++rejected;
    if (st == kFailed) ++failed;
  };
  const auto t0 = Clock::now();
  {
    Bulk bulk(t, n);
    for (unsigned i = 0; i < n; ++i)
      if (!bulk.start(i, nullptr)) settle(v[i], kFailed);
    const auto deadline = t0 + std::chrono::seconds(120);
    while (settled < n && Clock::now() < deadline) {
      for (rdma_cm_event* ev = bulk.next(100); ev; ev = bulk.next_now()) {
        const size_t i = Bulk::index(*ev);
        St& b = v[i];
        switch (ev->event) {
          case RDMA_CM_EVENT_ADDR_RESOLVED:
            if (rdma_resolve_route(bulk.id(i), 5000)) settle(b, kFailed);
            break;
          case RDMA_CM_EVENT_ROUTE_RESOLVED:
            if (bulk.connect(bulk.id(i), req))
              b = kConnecting;
            else
              settle(b, kFailed);
            break;
          case RDMA_CM_EVENT_ESTABLISHED:
            settle(b, kUp);
            break;
          case RDMA_CM_EVENT_REJECTED:
            ++reasons[reject_status(*ev)];
            settle(b, kRejected);
            break;
          case RDMA_CM_EVENT_DISCONNECTED:
            if (b == kUp) b = kDown;
            break;
          default:  // ADDR/ROUTE_ERROR, UNREACHABLE, CONNECT_ERROR
            settle(b, kFailed);
            break;
        }
        rdma_ack_cm_event(ev);
      }
    }
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    const std::string why = reject_summary(reasons);
    check(settled == n, fmt::format("burst of {} queue-0 connects: {} established, {} rejected{}, {} failed; "
                                    "all settled: {} ({:.1f} s)",
                                    n, up, rejected, why.empty() ? "" : " (" + why.substr(1) + ")", failed,
                                    settled == n ? "yes" : "NO", secs));
    check(up > 0, "the burst got connections");
    {
      // Another host is not locked out (the target caps connections that
      // have not logged in per source address).
      const std::string& other = alt_host.empty() ? t.host : alt_host;
      Conn f(other, t.port);
      uint32_t tag = 0;
      bool ok = login(f, t.rw, tag).ok && f.status_of(buf_cmd(f, RDMABLK_OP_READ, tag, 0, 4096)) == RDMABLK_S_SUCCESS;
      check(ok, fmt::format("a new session (via {}) logs in and reads while {} burst connections are held", other, up));
    }
    for (unsigned i = 0; i < n; ++i)
      if (bulk.id(i) && (v[i] == kUp || v[i] == kDown)) rdma_disconnect(bulk.id(i));
    bulk.drain(std::chrono::seconds(5));
  }
  fmt::print("burst: {} connections closed after {:.1f} s\n", up,
             std::chrono::duration<double>(Clock::now() - t0).count());
}

}  // namespace hostile
