// rdmablk-rdma-hostile forged: command mode, the target's RDMA READ/WRITE
// against forged keys and addresses: refused or the connection ended.
#include <endian.h>

#include <cstdint>

#include <fmt/format.h>

#include "hostile.hpp"
#include "rdmablk/proto_check.h"

namespace hostile {

// ---- command mode: the target's RDMA READ/WRITE against forged keys and addresses ----
void run_forged(const Target& t) {
  struct Case {
    const char* what;
    uint8_t op;
    int64_t addr_delta;  // from the start of the initiator's 1 MiB buffer
    uint32_t rkey_xor;
  };
  const Case cases[] = {
      {"READ into a buffer named past the end of its key", RDMABLK_OP_READ, (1 << 20) - 2048, 0},
      {"READ into a buffer named before the start of its key", RDMABLK_OP_READ, -4096, 0},
      {"WRITE from a forged rkey", RDMABLK_OP_WRITE, 0, 0x5a5a00},
      {"WRITE from a buffer named past the end of its key", RDMABLK_OP_WRITE, (1 << 20) - 2048, 0},
      {"WRITE from rkey 0, address 0", RDMABLK_OP_WRITE, INT64_MIN, 0},
  };
  for (const auto& cs : cases) {
    Conn c(t.host, t.port);
    uint32_t tag = 0;
    if (!login(c, t.rw, tag).ok) {
      check(false, fmt::format("LOGIN for: {}", cs.what));
      continue;
    }
    uint64_t addr = cs.addr_delta == INT64_MIN ? 0 : c.data_addr() + cs.addr_delta;
    uint32_t rkey = cs.addr_delta == INT64_MIN ? 0 : c.data_rkey() ^ cs.rkey_xor;
    auto k = cmd(cs.op, ++tag, 64 * 1024, 4096);  // inside the first MiB
    k.addr = htole64(addr);
    k.rkey = htole32(rkey);
    expect_transfer_refused(c, k, cs.what);
  }
}
}  // namespace hostile
