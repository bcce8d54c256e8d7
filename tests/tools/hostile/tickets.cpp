// rdmablk-rdma-hostile tickets: another session's ticket, a stale one, one
// used from another address, queue joins past the limits.
#include <endian.h>

#include <memory>
#include <thread>

#include <fmt/format.h>

#include "hostile.hpp"
#include "rdmablk/proto_check.h"

namespace hostile {

// ---- tickets: another session's, a stale one, one used from another address ----
void run_tickets(const Target& t, const std::string& alt_host) {
  auto a = std::make_unique<Conn>(t.host, t.port);
  Conn b(t.host, t.port);
  uint32_t ta = 0, tb = 0;
  Login la = login(*a, t.rw, ta), lb = login(b, t.rw, tb);
  check(la.ok && lb.ok, "two sessions log in");
  if (!la.ok || !lb.ok) return;
  const uint64_t ida = la.grant.session_id, idb = lb.grant.session_id;
  {
    auto r = cm_req(1, 16, ida, lb.grant.ticket.data());
    Conn j(t.host, t.port);
    expect(j.connect(&r, sizeof(r)), RDMABLK_S_BAD_TICKET, "join session A with session B's ticket");
  }
  {
    auto r = cm_req(0, 16, ida, la.grant.ticket.data());
    Conn j(t.host, t.port);
    expect(j.connect(&r, sizeof(r)), RDMABLK_S_BAD_MESSAGE, "queue 0 carrying a session id and ticket");
  }
  Conn q1(t.host, t.port);
  uint32_t t1 = 0;
  {
    auto r = cm_req(1, 16, ida, la.grant.ticket.data());
    expect(q1.connect(&r, sizeof(r)), RDMABLK_S_SUCCESS, "join session A as queue 1 with its ticket");
    expect(q1.status_of(buf_cmd(q1, RDMABLK_OP_READ, t1, 0, 4096)), RDMABLK_S_SUCCESS, "READ on the joined queue");
    Conn again(t.host, t.port);
    expect(again.connect(&r, sizeof(r)), RDMABLK_S_QUEUE_LIMIT, "join queue 1 a second time while it is connected");
  }
  if (!alt_host.empty()) {
    auto r = cm_req(1, 16, idb, lb.grant.ticket.data());
    Conn x(alt_host, t.port);
    expect(x.connect(&r, sizeof(r)), RDMABLK_S_BAD_TICKET,
           fmt::format("session B's ticket used from another address (via {})", alt_host));
    // The real owner still joins.
    Conn y(t.host, t.port);
    expect(y.connect(&r, sizeof(r)), RDMABLK_S_SUCCESS, "session B's own host joins with it afterwards");
  }
  a.reset();  // queue 0 of session A leaves: the session ends
  check(q1.wait_disconnect(), "the target closes session A's queue 1 when its queue 0 leaves");
  {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    auto r = cm_req(1, 16, ida, la.grant.ticket.data());
    Conn j(t.host, t.port);
    expect(j.connect(&r, sizeof(r)), RDMABLK_S_BAD_TICKET, "a stale ticket (session A ended)");
  }
}
}  // namespace hostile
