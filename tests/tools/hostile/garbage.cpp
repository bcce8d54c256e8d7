// rdmablk-rdma-hostile garbage: every unknown opcode, random capsules, and
// lengths past every limit; the connection still serves good I/O after.
#include <endian.h>

#include <cstring>
#include <random>
#include <vector>

#include <fmt/format.h>

#include "hostile.hpp"
#include "rdmablk/proto_check.h"

namespace hostile {

namespace {

bool valid_opcode(int op) {
  switch (op) {
    case RDMABLK_OP_READ:
    case RDMABLK_OP_WRITE:
    case RDMABLK_OP_FLUSH:
    case RDMABLK_OP_DISCARD:
    case RDMABLK_OP_WRITE_ZEROES:
    case RDMABLK_OP_KEEPALIVE:
    case RDMABLK_OP_LOGIN:
    case RDMABLK_OP_DISCOVER:
      return true;
    default:
      return false;
  }
}

}  // namespace

// ---- every unknown opcode, random capsules, lengths past every limit ----
void run_garbage(const Target& t) {
  Conn c(t.host, t.port);
  uint32_t tag = 0;
  Login l = login(c, t.rw, tag);
  check(l.ok, "LOGIN for the garbage checks");
  if (!l.ok) return;
  const uint64_t size = l.grant.size;
  const uint32_t max_io = l.grant.max_io_size, max_inline = l.grant.max_inline;
  const uint32_t feat = l.grant.features;
  int n = 0, bad = 0;
  for (int op = 0; op < 256; ++op) {
    if (valid_opcode(op)) continue;
    ++n;
    if (c.status_of(cmd(static_cast<uint8_t>(op), ++tag)) != RDMABLK_S_INVALID_OPCODE) ++bad;
  }
  check(bad == 0, fmt::format("{} unknown opcodes: each answered INVALID_OPCODE ({} not)", n, bad));

  std::mt19937_64 rng(0x6a7ba6e);
  n = 0, bad = 0;
  int no_answer = 0;
  std::vector<std::byte> payload(256);
  for (int i = 0; i < 1000 && !c.broken(); ++i) {
    rdmablk_cmd k;
    auto* p = reinterpret_cast<uint8_t*>(&k);
    for (size_t j = 0; j < sizeof(k); ++j) p[j] = static_cast<uint8_t>(rng());
    if (i % 2) k.opcode = static_cast<uint8_t>(rng() % 0x22);  // mostly real opcodes
    k.tag = htole32(++tag);
    for (auto& b : payload) b = static_cast<std::byte>(rng());
    size_t extra = rng() % 3 == 0 ? rng() % payload.size() : 0;
    int s = c.status_of(k, payload.data(), extra);
    ++n;
    if (s < 0) ++no_answer;
    else if (s == RDMABLK_S_SUCCESS) ++bad;
  }
  check(n == 1000 && bad == 0 && no_answer == 0,
        fmt::format("{} random capsules (random opcode, flags, fields, payload): {} refused, {} succeeded, {} unanswered",
                    n, n - bad - no_answer, bad, no_answer));

  auto k = cmd(RDMABLK_OP_DISCARD, ++tag, 0, (1u << 30) + 4096);
  expect(c.status_of(k), feat & RDMABLK_FEAT_DISCARD ? RDMABLK_S_TOO_LARGE : RDMABLK_S_UNSUPPORTED,
         "DISCARD of 1 GiB + 4 KiB");
  k = cmd(RDMABLK_OP_WRITE_ZEROES, ++tag, size - 4096, 8192);
  expect(c.status_of(k), feat & RDMABLK_FEAT_WRITE_ZEROES ? RDMABLK_S_OUT_OF_RANGE : RDMABLK_S_UNSUPPORTED,
         "WRITE_ZEROES running past the end");
  expect(c.status_of(buf_cmd(c, RDMABLK_OP_WRITE, tag, size - 4096, 8192)), RDMABLK_S_OUT_OF_RANGE,
         "WRITE (RDMA READ of the data) running past the end");
  expect(c.status_of(buf_cmd(c, RDMABLK_OP_WRITE, tag, 0, max_io + 4096)), RDMABLK_S_TOO_LARGE,
         "WRITE over max_io_size");
  expect(c.status_of(buf_cmd(c, RDMABLK_OP_READ, tag, 0, RDMABLK_MAX_IO_SIZE + 4096)), RDMABLK_S_TOO_LARGE,
         "READ over the protocol's 8 MiB");
  expect(c.status_of(buf_cmd(c, RDMABLK_OP_READ, tag, 0, 0)), RDMABLK_S_INVALID_FIELD, "READ of 0 bytes");
  expect(c.status_of(buf_cmd(c, RDMABLK_OP_READ, tag, 100, 4096)), RDMABLK_S_INVALID_FIELD, "READ at offset 100");
  expect(c.status_of(buf_cmd(c, RDMABLK_OP_READ, tag, size, 0xfffff000u)), RDMABLK_S_TOO_LARGE,
         "READ of 4 GiB - 4 KiB at the end");
  std::vector<std::byte> pat(512, std::byte{0x5a});
  k = cmd(RDMABLK_OP_WRITE, ++tag, 0, max_inline + 512, RDMABLK_CMD_F_INLINE);
  expect(c.status_of(k, pat.data(), pat.size()), RDMABLK_S_INVALID_FIELD, "inline WRITE claiming more than max_inline");
  expect(c.status_of(buf_cmd(c, RDMABLK_OP_DISCOVER, tag, 0, 1u << 20)), RDMABLK_S_INVALID_OPCODE,
         "DISCOVER after login");
  // Still serving this very connection.
  k = cmd(RDMABLK_OP_WRITE, ++tag, 8192, 512, RDMABLK_CMD_F_INLINE);
  expect(c.status_of(k, pat.data(), pat.size()), RDMABLK_S_SUCCESS, "good inline WRITE after the garbage");
  std::memset(c.data(), 0, 512);
  expect(c.status_of(buf_cmd(c, RDMABLK_OP_READ, tag, 8192, 512)), RDMABLK_S_SUCCESS, "good READ after the garbage");
  check(std::memcmp(c.data(), pat.data(), 512) == 0, "it returns what was written");
}
}  // namespace hostile
