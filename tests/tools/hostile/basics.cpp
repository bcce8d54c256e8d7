// rdmablk-rdma-hostile basics: what a correct initiator never sends on
// connect and on queue 0 -- bad private data (version, magic, depth, an
// unknown session, a wrong ticket, a queue past the session's), commands
// before login, a second LOGIN, unknown opcodes, out-of-range, oversized
// and reserved-bit requests, short inline writes, a write to a read-only
// export, a bogus rkey, a truncated capsule -- each answered with the
// status docs/protocol.md prescribes, the connection still carrying good
// I/O after the errors and the target a fresh login after all of it.
#include <endian.h>

#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "hostile.hpp"
#include "rdmablk/proto_check.h"

namespace hostile {

bool run_basics(const Target& t) {
  // ---- connection requests ----
  {
    auto r = cm_req(0, 16);
    r.version = htole16(99);
    Conn c(t.host, t.port);
    expect(c.connect(&r, sizeof(r)), RDMABLK_S_VERSION, "connect with protocol version 99");
  }
  {
    auto r = cm_req(0, 16);
    r.magic = htole32(0x12345678);
    Conn c(t.host, t.port);
    expect(c.connect(&r, sizeof(r)), RDMABLK_S_BAD_MESSAGE, "connect with a bad magic");
  }
  {
    auto r = cm_req(0, 0);
    Conn c(t.host, t.port);
    expect(c.connect(&r, sizeof(r)), RDMABLK_S_QUEUE_LIMIT, "connect with queue depth 0");
  }
  {
    uint8_t ticket[RDMABLK_TICKET_LEN] = {1, 2, 3};
    auto r = cm_req(1, 16, 0x1234567890ull, ticket);
    Conn c(t.host, t.port);
    expect(c.connect(&r, sizeof(r)), RDMABLK_S_BAD_TICKET, "join an unknown session");
  }

  // ---- commands on a read-write export ----
  Conn c(t.host, t.port);
  uint32_t tag = 0;
  {
    auto r = cm_req(0, 16);
    check(c.connect(&r, sizeof(r)) == 0, "queue 0 connects");
  }
  expect(c.status_of(cmd(RDMABLK_OP_READ, ++tag, 0, 4096)), RDMABLK_S_NOT_LOGGED_IN, "READ before login");
  expect(c.status_of(cmd(RDMABLK_OP_KEEPALIVE, ++tag)), RDMABLK_S_SUCCESS, "KEEPALIVE before login");
  const rdmablk_login_req lr = login_request(t.rw, false);
  Login L = send_login(c, lr, tag);
  expect(L.status, RDMABLK_S_SUCCESS, fmt::format("LOGIN to '{}'", t.rw));
  if (L.status == RDMABLK_S_SUCCESS && !L.ok) check(false, "the login response is well-formed");
  if (!L.ok) return false;
  const uint64_t size = L.grant.size;
  const uint32_t max_io = L.grant.max_io_size, max_inline = L.grant.max_inline;
  fmt::print("logged in: size {}, max_io_size {}, max_inline {}\n", size, max_io, max_inline);

  {
    uint8_t wrong[RDMABLK_TICKET_LEN] = {9, 9, 9};
    auto r = cm_req(1, 16, L.grant.session_id, wrong);
    Conn j(t.host, t.port);
    expect(j.connect(&r, sizeof(r)), RDMABLK_S_BAD_TICKET, "join a live session with a wrong ticket");
    auto r2 = cm_req(7, 16, L.grant.session_id, L.grant.ticket.data());
    Conn k(t.host, t.port);
    expect(k.connect(&r2, sizeof(r2)), RDMABLK_S_QUEUE_LIMIT, "join as queue 7 of a 1-queue session");
  }

  expect(c.status_of(cmd(0x7f, ++tag)), RDMABLK_S_INVALID_OPCODE, "unknown opcode 0x7f");
  expect(c.status_of(cmd(RDMABLK_OP_LOGIN, ++tag, 0, sizeof(lr)), &lr, sizeof(lr)), RDMABLK_S_INVALID_OPCODE,
         "second LOGIN");
  auto rd = [&](uint64_t off, uint32_t len) {
    auto k = cmd(RDMABLK_OP_READ, ++tag, off, len);
    k.addr = htole64(c.data_addr());
    k.rkey = htole32(c.data_rkey());
    return k;
  };
  expect(c.status_of(rd(size, 4096)), RDMABLK_S_OUT_OF_RANGE, "READ at the export's end");
  expect(c.status_of(rd(~0ull - 4095, 8192)), RDMABLK_S_OUT_OF_RANGE, "READ whose end overflows 64 bits");
  expect(c.status_of(rd(0, max_io + 4096)), RDMABLK_S_TOO_LARGE, "READ over max_io_size");
  expect(c.status_of(rd(0, 100)), RDMABLK_S_INVALID_FIELD, "READ of 100 bytes");
  {
    auto k = rd(0, 4096);
    k.rsvd1[5] = 1;
    expect(c.status_of(k), RDMABLK_S_INVALID_FIELD, "READ with a reserved byte set");
    auto f = rd(0, 4096);
    f.flags = 0x80;
    expect(c.status_of(f), RDMABLK_S_INVALID_FIELD, "READ with an unknown flag");
    auto fl = cmd(RDMABLK_OP_FLUSH, ++tag, 4096, 0);
    expect(c.status_of(fl), RDMABLK_S_INVALID_FIELD, "FLUSH with an offset");
  }

  // The last block before and after a write that would run past the end.
  std::vector<std::byte> pattern(4096);
  for (size_t i = 0; i < pattern.size(); ++i) pattern[i] = static_cast<std::byte>(i * 13 + 5);
  if (max_inline >= 1024) {
    expect(c.status_of(rd(size - 512, 512)), RDMABLK_S_SUCCESS, "READ of the last block");
    std::vector<std::byte> before(c.data(), c.data() + 512);
    expect(c.status_of(cmd(RDMABLK_OP_WRITE, ++tag, size - 512, 1024, RDMABLK_CMD_F_INLINE), pattern.data(), 1024),
           RDMABLK_S_OUT_OF_RANGE, "inline WRITE running past the end");
    expect(c.status_of(rd(size - 512, 512)), RDMABLK_S_SUCCESS, "READ of the last block again");
    check(std::memcmp(before.data(), c.data(), 512) == 0, "the last block is untouched");
    expect(c.status_of(cmd(RDMABLK_OP_WRITE, ++tag, 0, 1024, RDMABLK_CMD_F_INLINE), pattern.data(), 512),
           RDMABLK_S_INVALID_FIELD, "inline WRITE with fewer bytes than its length");
    // The connection still carries good I/O after all of the above.
    expect(c.status_of(cmd(RDMABLK_OP_WRITE, ++tag, 0, 1024, RDMABLK_CMD_F_INLINE), pattern.data(), 1024),
           RDMABLK_S_SUCCESS, "good inline WRITE after the errors");
    std::memset(c.data(), 0, 1024);
    expect(c.status_of(rd(0, 1024)), RDMABLK_S_SUCCESS, "good READ after the errors");
    check(std::memcmp(c.data(), pattern.data(), 1024) == 0, "READ returns what the inline WRITE wrote");
  } else {
    check(false, fmt::format("target grants max_inline {} < 1024", max_inline));
  }

  // ---- a read-only export ----
  {
    Conn r(t.host, t.port);
    uint32_t tr = 0;
    Login l = login(r, t.ro, tr);
    check(l.ok, fmt::format("LOGIN to read-only '{}'", t.ro));
    check((l.grant.export_flags & RDMABLK_EXPORT_F_READ_ONLY) != 0, "login answer says read-only");
    if (l.ok)
      expect(r.status_of(cmd(RDMABLK_OP_WRITE, ++tr, 0, 512, RDMABLK_CMD_F_INLINE), pattern.data(), 512),
             RDMABLK_S_READ_ONLY, "inline WRITE to a read-only export");
  }

  // ---- a bogus rkey: the target's RDMA WRITE fails, its QP breaks ----
  {
    Conn b(t.host, t.port);
    uint32_t tb = 0;
    Login l = login(b, t.rw, tb);
    check(l.ok, "LOGIN for the bogus-rkey check");
    auto k = cmd(RDMABLK_OP_READ, ++tb, 0, 4096);
    k.addr = htole64(b.data_addr());
    k.rkey = htole32(b.data_rkey() ^ 0x5a5a00);
    b.send(k);
    auto ans = b.recv();
    bool ok = (!ans && (b.broken() || b.wait_disconnect())) ||
              (ans && le16toh(ans->rsp.status) == RDMABLK_S_TRANSPORT);
    check(ok, "READ into a bogus rkey: the target reports TRANSPORT or ends the connection");
  }

  // ---- a truncated capsule: no tag to answer, the target disconnects ----
  {
    auto k = cmd(RDMABLK_OP_KEEPALIVE, ++tag);
    c.send(k, nullptr, 0, 10);
    check(c.wait_disconnect(), "a 10-byte capsule ends the connection");
  }

  // ---- and the target still serves a fresh login ----
  {
    Conn f(t.host, t.port);
    uint32_t tf = 0;
    check(login(f, t.rw, tf).ok, "a fresh LOGIN after all of the above");
  }
  return true;
}

}  // namespace hostile
