// rdmablk-rdma-hostile direct: direct mode, the initiator's own RDMA READ
// and WRITE against forged keys, addresses and the other export's memory.
#include <endian.h>

#include <cstring>

#include <fmt/format.h>

#include "hostile.hpp"
#include "rdmablk/proto_check.h"

namespace hostile {

// ---- direct mode: the initiator's own RDMA against forged keys and addresses ----
void run_direct(const Target& t) {
  struct Region {
    uint64_t addr = 0, size = 0;
    uint32_t rkey = 0;
  };
  auto region_of = [&](Conn& c, const std::string& exp) {
    uint32_t tag = 0;
    Region r;
    LoginOptions direct;
    direct.direct = true;
    Login l = login(c, exp, tag, direct);
    if (l.ok && (l.grant.features & RDMABLK_FEAT_DIRECT)) {
      r.addr = l.grant.region_addr;
      r.size = l.grant.region_size;
      r.rkey = l.grant.region_rkey;
    }
    return r;
  };
  Region rw, ro;
  {
    Conn c(t.host, t.port);
    rw = region_of(c, t.rw);
    check(rw.rkey != 0, fmt::format("direct mode on '{}' ({} bytes)", t.rw, rw.size));
    if (rw.rkey) check(c.rdma(IBV_WR_RDMA_READ, rw.addr, rw.rkey, 4096) == IBV_WC_SUCCESS, "a good direct READ");
    Conn d(t.host, t.port);
    ro = region_of(d, t.ro);
    check(ro.rkey != 0, fmt::format("direct mode on read-only '{}' ({} bytes)", t.ro, ro.size));
    if (ro.rkey) check(d.rdma(IBV_WR_RDMA_READ, ro.addr, ro.rkey, 4096) == IBV_WC_SUCCESS, "a good direct READ of it");
  }
  if (!rw.rkey || !ro.rkey) return;
  struct Case {
    std::string what;
    ibv_wr_opcode op;
    bool on_ro;          // log in to the read-only export (else the RW one)
    int64_t delta;       // from the region's start
    uint32_t rkey_xor;
    bool other_key;      // use the other export's rkey
  };
  const Case cases[] = {
      {"direct READ running past the export's end", IBV_WR_RDMA_READ, false, 0, 0, false},
      {"direct WRITE just past the export's end", IBV_WR_RDMA_WRITE, false, 1, 0, false},
      {"direct WRITE just before the export's start", IBV_WR_RDMA_WRITE, false, -4096, 0, false},
      {"direct WRITE with a forged rkey", IBV_WR_RDMA_WRITE, false, 64 * 1024, 0x5a5a00, false},
      {"direct WRITE with the next key index", IBV_WR_RDMA_WRITE, false, 64 * 1024, 0x100, false},
      {"direct WRITE with the previous key index", IBV_WR_RDMA_WRITE, false, 64 * 1024, 0xffffff00, false},
      {"direct WRITE to the read-only export", IBV_WR_RDMA_WRITE, true, 0, 0, false},
      {"direct WRITE to the read-only export's memory with the RW export's key", IBV_WR_RDMA_WRITE, true, 0, 0, true},
      {"direct WRITE to the RW export's memory with the read-only export's key", IBV_WR_RDMA_WRITE, false, 64 * 1024, 0,
       true},
  };
  for (const auto& cs : cases) {
    Conn c(t.host, t.port);
    Region r = region_of(c, cs.on_ro ? t.ro : t.rw);
    if (!r.rkey) {
      check(false, "LOGIN for: " + cs.what);
      continue;
    }
    const Region& other = cs.on_ro ? rw : ro;
    uint64_t addr = r.addr;
    if (cs.delta == 0 && cs.op == IBV_WR_RDMA_READ) addr = r.addr + r.size - 2048;
    else if (cs.delta == 1) addr = r.addr + r.size;
    else addr = r.addr + cs.delta;
    uint32_t rkey = cs.other_key ? other.rkey : r.rkey;
    if (cs.rkey_xor == 0x100) rkey += 0x100;
    else if (cs.rkey_xor == 0xffffff00) rkey -= 0x100;
    else rkey ^= cs.rkey_xor;
    std::memset(c.data(), 0xa5, 4096);
    int st = c.rdma(cs.op, addr, rkey, 4096);
    check(st != IBV_WC_SUCCESS, fmt::format("{}: {}", cs.what, st < 0 ? "no completion" : ibv_wc_status_str(static_cast<ibv_wc_status>(st))));
  }
}
}  // namespace hostile
