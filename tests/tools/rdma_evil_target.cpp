// rdmablk-rdma-evil-target: a hostile rdmablk target. It speaks just enough
// of the protocol (raw librdmacm and verbs, proto.h, no rdmablk-target code)
// to accept an initiator, log it in and serve I/O from a RAM export whose
// bytes follow a fixed pattern — and then misbehaves in the way --mode says:
// absurd login answers, responses with wrong tags, opcodes, statuses or
// lengths, duplicates, silence, RDMA WRITEs past the initiator's key,
// disconnects, refused reconnects. It is the counterpart of
// rdmablk-rdma-hostile (a hostile initiator) and is driven by
// tests/vm/cases/kmod-hostile-target.sh against the kernel driver and
// librdmablk.
//
// usage: rdmablk-rdma-evil-target --mode MODE [OPTIONS]
//        rdmablk-rdma-evil-target --pattern OFFSET LENGTH  (the export's
//                                  expected bytes, to stdout)
//        rdmablk-rdma-evil-target --list-modes
//   --listen ADDR    address to listen on (default 192.0.2.1)
//   --port N         rdma_cm port (default 7479)
//   --size BYTES     export size (default 32 MiB)
//   --trigger OFF    I/O modes: misbehave on READs that cover byte OFF
//                    (default 8 MiB), so the kernel's partition scan is served
//   --times N        I/O modes: misbehave this many times, then serve
//                    correctly (default 1; 0: always)
//   --lifetime S     exit after S seconds whatever happens (default 600)
// Login modes misbehave on every connection. The export is "evil"; its byte
// at offset o is byte (o % 8) of the little-endian u64 (o & ~7) * K + 1 with
// K = 0x9e3779b97f4a7c15, which --pattern prints. Writes are stored.
// Each misbehaviour is logged to stdout as "evil: ...".
#include <endian.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "rdmablk/proto.h"
#include "rdmablk/proto_check.h"
#include "rdmablk/verbs.hpp"

namespace {

using Clock = std::chrono::steady_clock;
constexpr uint64_t kPatternK = 0x9e3779b97f4a7c15ull;
constexpr uint32_t kMaxInline = 4096;
constexpr uint32_t kRecvSize = sizeof(rdmablk_cmd) + kMaxInline;
constexpr uint16_t kMaxDepth = 128;
constexpr uint32_t kSendSlots = 4 * kMaxDepth;
constexpr uint32_t kSendSize = 8192;  // room for an oversized message
constexpr uint32_t kBlock = 512;

struct Mode {
  const char* name;
  const char* what;
};

// Every mode, in the order --list-modes prints them.
const Mode kModes[] = {
    {"good", "a correct target (baseline)"},
    // connection setup
    {"rep-bad-magic", "accept with a wrong magic in rdmablk_cm_rep"},
    {"rep-bad-version", "accept with protocol version 2"},
    {"rep-depth-over", "accept with a queue depth above the one asked"},
    {"rep-no-nonce", "accept queue 0 without a nonce"},
    {"reject-garbage", "reject with private data that is no rdmablk reject"},
    {"reject-busy", "reject with NO_RESOURCES"},
    // login
    {"login-size-unaligned", "export size not a multiple of the block size"},
    {"login-size-zero", "export size 0 (allowed by the protocol)"},
    {"login-max-io-huge", "max_io_size 64 MiB, above what was asked"},
    {"login-max-io-small", "max_io_size 512, below a page"},
    {"login-max-io-zero", "max_io_size 0"},
    {"login-queues-over", "more I/O queues than asked"},
    {"login-depth-over", "a queue depth above the one asked"},
    {"login-depth-zero", "queue depth 0"},
    {"login-bs-npot", "logical block size 1536"},
    {"login-bs-huge", "logical block size 8192"},
    {"login-pbs-small", "physical block size below the logical one"},
    {"login-feature-unasked", "grants a feature that was not asked (DIRECT in command mode)"},
    {"login-session-zero", "session id 0"},
    {"login-rsvd", "nonzero reserved bytes"},
    {"login-flags-unknown", "an unknown export flag"},
    {"login-export-id-bad", "grants EXPORT_ID with the identity \"disk/7 x\" (a slash and a space)"},
    {"login-truncated", "LOGIN answer cut to 16 + 64 bytes"},
    {"login-oversized", "LOGIN answer of 16 + 128 + 512 bytes, more than a receive buffer"},
    {"login-status-undefined", "status 999"},
    {"login-wrong-opcode", "answer to LOGIN with opcode READ"},
    {"login-wrong-tag", "answer to LOGIN with another tag"},
    {"login-length-lie", "SUCCESS with rsp.length 0 and a full payload"},
    {"login-refused", "a well-formed refusal: UNKNOWN_EXPORT"},
    {"login-never", "never answers LOGIN"},
    {"login-disconnect", "disconnects on LOGIN"},
    {"direct-bad-key", "grants DIRECT with a region key that does not exist"},
    // I/O, on READs covering --trigger
    {"io-unknown-tag", "answers with a tag no command ever had"},
    {"io-stale-tag", "answers with a tag that is not in flight"},
    {"io-dup", "answers correctly, then again with the same tag"},
    {"io-wrong-opcode", "answers a READ as a WRITE"},
    {"io-bad-status", "status 999"},
    {"io-short", "an 8-byte response"},
    {"io-long", "a 32-byte response"},
    {"io-oversized", "a 4096-byte response, more than a receive buffer"},
    {"io-length-short", "SUCCESS naming fewer bytes than asked"},
    {"io-rkey-field", "rsp.rkey naming a key the command did not offer"},
    {"io-inv-wrong-key", "SEND_WITH_INV of a key that is not the command's"},
    {"io-never", "never answers"},
    {"io-write-past-key", "the data by RDMA WRITE past the end of the initiator's key"},
    {"io-write-bad-key", "the data by RDMA WRITE with a key the initiator never gave"},
    {"io-error-status", "a well-formed IO_ERROR"},
    {"io-disconnect", "disconnects"},
    {"io-reject-reconnect", "disconnects, then rejects every new connection"},
    {"io-reconnect-changed", "disconnects, then the export has another size"},
    {"io-reconnect-other-id", "disconnects, then the export has another identity"},
    {"ka-bad", "answers KEEPALIVE with status 999"},
};

struct Options {
  std::string mode = "good";
  std::string listen = "192.0.2.1";
  std::string port = "7479";
  uint64_t size = 32ull << 20;
  uint64_t trigger = 8ull << 20;
  int times = 1;
  int lifetime = 600;
};

Options opt;
int misbehaved = 0;       // I/O misbehaviours so far
bool reject_all = false;  // io-reject-reconnect: after the first one
int sessions = 0;
std::vector<uint8_t> store;
volatile sig_atomic_t stop = 0;

bool mode_is(const char* m) { return opt.mode == m; }
bool mode_starts(const char* p) { return opt.mode.rfind(p, 0) == 0; }

void evil(const std::string& what) {
  fmt::print("evil: {}\n", what);
  std::fflush(stdout);
}

uint8_t pattern_byte(uint64_t o) {
  uint64_t w = (o & ~7ull) * kPatternK + 1;
  return static_cast<uint8_t>(w >> (8 * (o & 7)));
}

struct Session {
  uint64_t id;
  uint8_t ticket[RDMABLK_TICKET_LEN];
  uint16_t nr_queues;
  uint16_t depth;
};
std::map<uint64_t, Session> session_table;

// A response waiting for our RDMA READ of a WRITE's data.
struct Pending {
  rdmablk_cmd cmd;
};

// One accepted queue: PD, CQ, QP, buffers, the export registered. Members
// in creation order, so they die MRs, QP, CQ, PD, id (the buffers after
// their MRs).
struct Conn {
  rdmablk::verbs::CmId id;
  uint16_t qid = 0;
  uint16_t depth = 0;
  rdmablk::verbs::Pd pd;
  rdmablk::verbs::Cq cq;
  rdmablk::verbs::Qp qp;
  std::vector<uint8_t> recv;
  std::vector<uint8_t> send;
  rdmablk::verbs::Mr recv_mr, send_mr, store_mr;
  uint32_t next_send = 0;
  bool established = false;
  bool broken = false;  // disconnected by us or the peer
  bool logged_in = false;
  uint64_t session = 0;
  std::map<uint64_t, Pending> pending;  // wr_id of the RDMA READ
  uint32_t next_wr = 0;  // index of the next RDMA READ's wr_id

  bool setup(uint16_t want_depth) {
    depth = std::min<uint16_t>(want_depth, kMaxDepth);
    pd.reset(ibv_alloc_pd(id->verbs));
    if (pd) cq.reset(ibv_create_cq(id->verbs, 2 * kSendSlots + depth + 8, nullptr, nullptr, 0));
    if (!cq) return false;
    ibv_qp_init_attr qa{};
    qa.send_cq = qa.recv_cq = cq.get();
    qa.qp_type = IBV_QPT_RC;
    qa.cap.max_send_wr = kSendSlots;
    qa.cap.max_recv_wr = depth + 1;
    qa.cap.max_send_sge = qa.cap.max_recv_sge = 1;
    if (rdma_create_qp(id.get(), pd.get(), &qa)) return false;
    qp = rdmablk::verbs::Qp(id.get());
    recv.assign(size_t{depth + 1u} * kRecvSize, 0);
    send.assign(size_t{kSendSlots} * kSendSize, 0);
    recv_mr.reset(ibv_reg_mr(pd.get(), recv.data(), recv.size(), IBV_ACCESS_LOCAL_WRITE));
    send_mr.reset(ibv_reg_mr(pd.get(), send.data(), send.size(), IBV_ACCESS_LOCAL_WRITE));
    store_mr.reset(ibv_reg_mr(pd.get(), store.data(), store.size(), IBV_ACCESS_LOCAL_WRITE));
    if (!recv_mr || !send_mr || !store_mr) return false;
    for (uint32_t i = 0; i <= depth; ++i)
      if (!post_recv(i)) return false;
    return true;
  }

  bool post_recv(uint32_t i) {
    ibv_sge sge{reinterpret_cast<uintptr_t>(recv.data() + size_t{i} * kRecvSize), kRecvSize, recv_mr->lkey};
    ibv_recv_wr wr{}, *bad = nullptr;
    wr.wr_id = rdmablk::verbs::wr_id(rdmablk::verbs::WrKind::recv, i);
    wr.sg_list = &sge;
    wr.num_sge = 1;
    return ibv_post_recv(id->qp, &wr, &bad) == 0;
  }

  // SENDs `len` bytes of `msg` (SEND_WITH_INV of `inv` when nonzero).
  // Sends the first `len` bytes of `msg` (all of them are read).
  void send_msg(const void* msg, size_t len, uint32_t inv = 0) {
    uint8_t* slot = send.data() + size_t{next_send} * kSendSize;
    next_send = (next_send + 1) % kSendSlots;
    std::memset(slot, 0, kSendSize);
    std::memcpy(slot, msg, std::min<size_t>(len, kSendSize));
    ibv_sge sge{reinterpret_cast<uintptr_t>(slot), static_cast<uint32_t>(len), send_mr->lkey};
    ibv_send_wr wr{}, *bad = nullptr;
    wr.wr_id = rdmablk::verbs::wr_id(rdmablk::verbs::WrKind::send, 0);
    wr.sg_list = &sge;
    wr.num_sge = 1;
    wr.opcode = inv ? IBV_WR_SEND_WITH_INV : IBV_WR_SEND;
    wr.invalidate_rkey = inv;
    wr.send_flags = IBV_SEND_SIGNALED;
    if (ibv_post_send(id->qp, &wr, &bad)) drop("cannot post SEND");
  }

  void send_rsp(const rdmablk_cmd& cmd, uint16_t status, uint32_t length, bool inv_ok) {
    rdmablk_rsp rsp{};
    rsp.tag = cmd.tag;
    rsp.status = htole16(status);
    rsp.opcode = cmd.opcode;
    rsp.length = htole32(length);
    uint32_t inv = 0;
    if (inv_ok && (cmd.flags & RDMABLK_CMD_F_INVALIDATE)) {
      inv = le32toh(cmd.rkey);
      rsp.rkey = cmd.rkey;
    }
    send_msg(&rsp, sizeof rsp, inv);
  }

  // RDMA op between the export at `off` and the initiator's (addr, rkey).
  bool rdma(ibv_wr_opcode op, uint64_t off, uint32_t len, uint64_t addr, uint32_t rkey, uint64_t wr_id,
            bool signaled) {
    ibv_sge sge{reinterpret_cast<uintptr_t>(store.data() + off), len, store_mr->lkey};
    ibv_send_wr wr{}, *bad = nullptr;
    wr.wr_id = wr_id;
    wr.sg_list = &sge;
    wr.num_sge = 1;
    wr.opcode = op;
    wr.send_flags = signaled ? IBV_SEND_SIGNALED : 0;
    wr.wr.rdma.remote_addr = addr;
    wr.wr.rdma.rkey = rkey;
    return ibv_post_send(id->qp, &wr, &bad) == 0;
  }

  void drop(const std::string& why) {
    if (broken) return;
    evil(fmt::format("queue {}: disconnecting: {}", qid, why));
    broken = true;
    rdma_disconnect(id.get());
  }

  void on_login(const rdmablk_cmd& cmd, const uint8_t* payload, size_t n);
  void on_io(const rdmablk_cmd& cmd, const uint8_t* payload, size_t n);
  void on_recv(uint32_t i, uint32_t len);
  void poll_cq();
};

void Conn::on_login(const rdmablk_cmd& cmd, const uint8_t* payload, size_t n) {
  rdmablk_login_req req{};
  if (n < sizeof req) {
    send_rsp(cmd, RDMABLK_S_INVALID_FIELD, 0, false);
    return;
  }
  std::memcpy(&req, payload, sizeof req);
  if (mode_is("login-never")) {
    evil("LOGIN left unanswered");
    return;
  }
  if (mode_is("login-disconnect")) {
    drop("LOGIN answered with a disconnect");
    return;
  }
  if (mode_is("login-refused")) {
    evil("LOGIN refused with UNKNOWN_EXPORT");
    send_rsp(cmd, RDMABLK_S_UNKNOWN_EXPORT, 0, false);
    return;
  }
  uint32_t asked = le32toh(req.features);
  uint16_t want_q = le16toh(req.nr_queues), want_qd = le16toh(req.queue_depth);
  uint32_t want_io = le32toh(req.max_io_size);
  Session s{};
  s.id = 1000 + ++sessions;
  std::mt19937_64 rng(std::random_device{}());
  for (auto& b : s.ticket) b = static_cast<uint8_t>(rng());
  s.nr_queues = std::min<uint16_t>(want_q, 2);
  s.depth = std::min<uint16_t>(want_qd, kMaxDepth);

  rdmablk_login_rsp lr{};
  uint32_t features = asked & (RDMABLK_FEAT_INLINE_WRITE | RDMABLK_FEAT_REMOTE_INV);
  uint64_t size = opt.size;
  if (mode_is("io-reconnect-changed") && sessions > 1) {
    size -= 1 << 20;
    evil("a reconnect finds the export 1 MiB smaller");
  }
  lr.features = htole32(features);
  lr.session_id = htole64(s.id);
  std::memcpy(lr.ticket, s.ticket, sizeof lr.ticket);
  lr.size = htole64(size);
  lr.nr_queues = htole16(s.nr_queues);
  lr.queue_depth = htole16(s.depth);
  lr.max_io_size = htole32(std::min<uint32_t>(want_io, 1u << 20));
  lr.max_inline = htole32(features & RDMABLK_FEAT_INLINE_WRITE ? kMaxInline : 0);
  lr.logical_block_size = htole32(kBlock);
  lr.physical_block_size = htole32(4096);
  lr.optimal_io_size = 0;
  // An identity when asked, as rdmablk-target gives one for a serial=.
  if (asked & RDMABLK_FEAT_EXPORT_ID) {
    const char* id = "evil-disk";
    if (mode_is("io-reconnect-other-id") && sessions > 1) {
      id = "evil-disk-2";
      evil("a reconnect finds another disk behind the export");
    }
    lr.features = htole32(le32toh(lr.features) | RDMABLK_FEAT_EXPORT_ID);
    std::memcpy(lr.export_id, id, std::strlen(id));
  }

  uint16_t status = RDMABLK_S_SUCCESS;
  uint32_t rsp_length = sizeof lr;
  size_t send_len = sizeof(rdmablk_rsp) + sizeof lr;
  rdmablk_cmd answer = cmd;
  const std::string& m = opt.mode;
  if (m == "login-size-unaligned") lr.size = htole64(size + 100);
  else if (m == "login-size-zero") lr.size = 0;
  else if (m == "login-max-io-huge") lr.max_io_size = htole32(64u << 20);
  else if (m == "login-max-io-small") lr.max_io_size = htole32(512);
  else if (m == "login-max-io-zero") lr.max_io_size = 0;
  else if (m == "login-queues-over") lr.nr_queues = htole16(want_q + 1);
  else if (m == "login-depth-over") lr.queue_depth = htole16(want_qd + 1);
  else if (m == "login-depth-zero") lr.queue_depth = 0;
  else if (m == "login-bs-npot") lr.logical_block_size = htole32(1536);
  else if (m == "login-bs-huge") lr.logical_block_size = lr.physical_block_size = htole32(8192);
  else if (m == "login-pbs-small") {
    lr.logical_block_size = htole32(4096);
    lr.physical_block_size = htole32(512);
  } else if (m == "login-feature-unasked") lr.features = htole32(features | (RDMABLK_FEAT_ALL & ~asked));
  else if (m == "login-session-zero") lr.session_id = 0;
  else if (m == "login-rsvd") lr.rsvd1[7] = 1;
  else if (m == "login-flags-unknown") lr.export_flags = htole32(1u << 20);
  else if (m == "login-export-id-bad") {
    lr.features = htole32(le32toh(lr.features) | RDMABLK_FEAT_EXPORT_ID);
    std::memset(lr.export_id, 0, sizeof lr.export_id);
    std::memcpy(lr.export_id, "disk/7 x", 8);
  }
  else if (m == "login-truncated") send_len = sizeof(rdmablk_rsp) + 64;
  else if (m == "login-oversized") send_len = sizeof(rdmablk_rsp) + sizeof lr + 512;
  else if (m == "login-status-undefined") status = 999;
  else if (m == "login-wrong-opcode") answer.opcode = RDMABLK_OP_READ;
  else if (m == "login-wrong-tag") answer.tag = htole32(7);
  else if (m == "login-length-lie") rsp_length = 0;
  else if (m == "direct-bad-key") {
    if (asked & RDMABLK_FEAT_DIRECT) {
      lr.features = htole32((asked & RDMABLK_FEAT_DIRECT) | (features & ~RDMABLK_FEAT_INLINE_WRITE));
      lr.max_inline = 0;
      lr.region_addr = htole64(0x10000);
      lr.region_rkey = htole32(0x00dead00);
      lr.region_size = lr.size;
    }
  }
  if (mode_starts("login-") || mode_is("direct-bad-key")) evil(fmt::format("LOGIN answered in mode {}", m));
  if (status == RDMABLK_S_SUCCESS && m != "login-status-undefined") {
    session_table[s.id] = s;
    session = s.id;
    logged_in = true;
  }
  uint8_t msg[sizeof(rdmablk_rsp) + sizeof lr + 512] = {};
  rdmablk_rsp rsp{};
  rsp.tag = answer.tag;
  rsp.status = htole16(status);
  rsp.opcode = answer.opcode;
  rsp.length = htole32(status == RDMABLK_S_SUCCESS || m == "login-status-undefined" ? rsp_length : 0);
  std::memcpy(msg, &rsp, sizeof rsp);
  std::memcpy(msg + sizeof rsp, &lr, sizeof lr);
  send_msg(msg, send_len);
}

bool covers_trigger(const rdmablk_cmd& cmd) {
  uint64_t off = le64toh(cmd.offset);
  return cmd.opcode == RDMABLK_OP_READ && off <= opt.trigger && opt.trigger < off + le32toh(cmd.length);
}

void Conn::on_io(const rdmablk_cmd& cmd, const uint8_t* payload, size_t n) {
  uint64_t off = le64toh(cmd.offset);
  uint32_t len = le32toh(cmd.length);
  uint64_t addr = le64toh(cmd.addr);
  uint32_t rkey = le32toh(cmd.rkey);
  if (cmd.opcode == RDMABLK_OP_KEEPALIVE) {
    if (mode_is("ka-bad")) {
      evil("KEEPALIVE answered with status 999");
      send_rsp(cmd, 999, 0, false);
      return;
    }
    send_rsp(cmd, RDMABLK_S_SUCCESS, 0, false);
    return;
  }
  if (cmd.opcode != RDMABLK_OP_READ && cmd.opcode != RDMABLK_OP_WRITE) {
    send_rsp(cmd, cmd.opcode == RDMABLK_OP_DISCOVER ? RDMABLK_S_INVALID_OPCODE : RDMABLK_S_UNSUPPORTED, 0, false);
    return;
  }
  if (!logged_in && qid == 0) {
    send_rsp(cmd, RDMABLK_S_NOT_LOGGED_IN, 0, false);
    return;
  }
  if (!len || (off | len) % kBlock || len > (1u << 20) || off > store.size() || len > store.size() - off) {
    send_rsp(cmd, RDMABLK_S_OUT_OF_RANGE, 0, true);
    return;
  }
  if (cmd.opcode == RDMABLK_OP_WRITE) {
    if (cmd.flags & RDMABLK_CMD_F_INLINE) {
      if (n != len) {
        send_rsp(cmd, RDMABLK_S_INVALID_FIELD, 0, false);
        return;
      }
      std::memcpy(store.data() + off, payload, len);
      send_rsp(cmd, RDMABLK_S_SUCCESS, len, false);
      return;
    }
    uint64_t wr = rdmablk::verbs::wr_id(rdmablk::verbs::WrKind::rdma, next_wr++);
    pending[wr] = Pending{cmd};
    if (!rdma(IBV_WR_RDMA_READ, off, len, addr, rkey, wr, true)) drop("cannot post RDMA READ");
    return;
  }
  // READ
  bool act = covers_trigger(cmd) && !opt.mode.empty() &&
             (mode_starts("io-") && (opt.times == 0 || misbehaved < opt.times));
  if (!act) {
    rdma(IBV_WR_RDMA_WRITE, off, len, addr, rkey, 0, false);
    send_rsp(cmd, RDMABLK_S_SUCCESS, len, true);
    return;
  }
  ++misbehaved;
  const std::string& m = opt.mode;
  uint32_t tag = le32toh(cmd.tag);
  evil(fmt::format("queue {}: {} on READ tag {:#x} offset {} length {} (#{})", qid, m, tag, off, len, misbehaved));
  rdmablk_rsp rsp{};
  rsp.tag = cmd.tag;
  rsp.opcode = cmd.opcode;
  rsp.length = htole32(len);
  if (m == "io-unknown-tag") {
    rdma(IBV_WR_RDMA_WRITE, off, len, addr, rkey, 0, false);
    rsp.tag = htole32(0xdead0000u | (tag & 0xffff));
    send_msg(&rsp, sizeof rsp);
  } else if (m == "io-stale-tag") {
    rdma(IBV_WR_RDMA_WRITE, off, len, addr, rkey, 0, false);
    rsp.tag = htole32(tag ^ 1);
    send_msg(&rsp, sizeof rsp);
  } else if (m == "io-dup") {
    rdma(IBV_WR_RDMA_WRITE, off, len, addr, rkey, 0, false);
    send_rsp(cmd, RDMABLK_S_SUCCESS, len, true);
    send_rsp(cmd, RDMABLK_S_SUCCESS, len, false);
  } else if (m == "io-wrong-opcode") {
    rdma(IBV_WR_RDMA_WRITE, off, len, addr, rkey, 0, false);
    rsp.opcode = RDMABLK_OP_WRITE;
    send_msg(&rsp, sizeof rsp);
  } else if (m == "io-bad-status") {
    rsp.status = htole16(999);
    send_msg(&rsp, sizeof rsp);
  } else if (m == "io-short") {
    send_msg(&rsp, 8);
  } else if (m == "io-long" || m == "io-oversized") {
    rdma(IBV_WR_RDMA_WRITE, off, len, addr, rkey, 0, false);
    // The response, then zeros: send_msg reads every byte it sends.
    std::array<uint8_t, 4096> big{};
    std::memcpy(big.data(), &rsp, sizeof rsp);
    send_msg(big.data(), m == "io-long" ? 32 : big.size());
  } else if (m == "io-length-short") {
    rdma(IBV_WR_RDMA_WRITE, off, len - kBlock, addr, rkey, 0, false);
    rsp.length = htole32(len - kBlock);
    send_msg(&rsp, sizeof rsp);
  } else if (m == "io-rkey-field") {
    rdma(IBV_WR_RDMA_WRITE, off, len, addr, rkey, 0, false);
    rsp.rkey = htole32(rkey + 1);
    send_msg(&rsp, sizeof rsp);
  } else if (m == "io-inv-wrong-key") {
    rdma(IBV_WR_RDMA_WRITE, off, len, addr, rkey, 0, false);
    send_msg(&rsp, sizeof rsp, rkey ^ 0x100);
  } else if (m == "io-never") {
    // nothing
  } else if (m == "io-write-past-key") {
    rdma(IBV_WR_RDMA_WRITE, off, len, addr + kBlock, rkey, 0, true);
    send_rsp(cmd, RDMABLK_S_SUCCESS, len, true);
  } else if (m == "io-write-bad-key") {
    rdma(IBV_WR_RDMA_WRITE, off, len, addr, rkey ^ 0x1000, 0, true);
    send_rsp(cmd, RDMABLK_S_SUCCESS, len, true);
  } else if (m == "io-error-status") {
    send_rsp(cmd, RDMABLK_S_IO_ERROR, 0, true);
  } else if (m == "io-disconnect" || m == "io-reject-reconnect" || m == "io-reconnect-changed" ||
             m == "io-reconnect-other-id") {
    if (m == "io-reject-reconnect") reject_all = true;
    drop("disconnect under I/O");
  } else {
    rdma(IBV_WR_RDMA_WRITE, off, len, addr, rkey, 0, false);
    send_rsp(cmd, RDMABLK_S_SUCCESS, len, true);
  }
}

void Conn::on_recv(uint32_t i, uint32_t len) {
  std::vector<uint8_t> msg(recv.data() + size_t{i} * kRecvSize, recv.data() + size_t{i} * kRecvSize + len);
  if (!post_recv(i)) drop("cannot repost a receive");
  if (len < sizeof(rdmablk_cmd)) {
    drop("short capsule");
    return;
  }
  rdmablk_cmd cmd;
  std::memcpy(&cmd, msg.data(), sizeof cmd);
  const uint8_t* payload = msg.data() + sizeof cmd;
  size_t n = len - sizeof cmd;
  if (cmd.opcode == RDMABLK_OP_LOGIN) {
    if (qid != 0 || logged_in) {
      send_rsp(cmd, RDMABLK_S_INVALID_OPCODE, 0, false);
      return;
    }
    on_login(cmd, payload, n);
    return;
  }
  on_io(cmd, payload, n);
}

void Conn::poll_cq() {
  ibv_wc wc[16];
  int n;
  while (!broken && (n = ibv_poll_cq(cq.get(), 16, wc)) > 0) {
    for (int k = 0; k < n; ++k) {
      const ibv_wc& c = wc[k];
      if (c.status != IBV_WC_SUCCESS) {
        drop(fmt::format("work completion failed: {}", ibv_wc_status_str(c.status)));
        return;
      }
      if (c.opcode == IBV_WC_RECV) {
        on_recv(rdmablk::verbs::wr_index(c.wr_id), c.byte_len);
      } else if (c.opcode == IBV_WC_RDMA_READ) {
        auto it = pending.find(c.wr_id);
        if (it == pending.end()) continue;
        rdmablk_cmd cmd = it->second.cmd;
        pending.erase(it);
        send_rsp(cmd, RDMABLK_S_SUCCESS, le32toh(cmd.length), true);
      }
    }
  }
}

std::map<rdma_cm_id*, std::unique_ptr<Conn>> conns;

void reject(rdma_cm_id* id, uint16_t status) {
  rdmablk_cm_rej rej{};
  rej.magic = htole32(RDMABLK_MAGIC);
  rej.version = htole16(RDMABLK_PROTO_VERSION);
  rej.status = htole16(status);
  rdma_reject(id, &rej, sizeof rej);
}

// Answers a connect request; false when `ev->id` is to be destroyed (after
// the event is acknowledged: rdma_destroy_id waits for that).
bool on_connect_request(rdma_cm_event* ev) {
  rdma_cm_id* id = ev->id;
  const void* data = ev->param.conn.private_data;
  uint8_t len = data ? ev->param.conn.private_data_len : 0;
  if (rdmablk_check_cm_req(data, len) != RDMABLK_S_SUCCESS) {
    reject(id, RDMABLK_S_BAD_MESSAGE);
    return false;
  }
  rdmablk_cm_req req;
  std::memcpy(&req, data, sizeof req);
  uint16_t qid = le16toh(req.qid);
  uint16_t want = le16toh(req.queue_depth);
  if (mode_is("reject-garbage")) {
    evil("connect rejected with garbage private data");
    uint8_t junk[16];
    std::memset(junk, 0xa5, sizeof junk);
    rdma_reject(id, junk, sizeof junk);
    return false;
  }
  if (mode_is("reject-busy") || reject_all) {
    evil(fmt::format("queue {}: connect rejected with NO_RESOURCES", qid));
    reject(id, RDMABLK_S_NO_RESOURCES);
    return false;
  }
  if (qid > 0) {
    auto it = session_table.find(le64toh(req.session_id));
    if (it == session_table.end() || std::memcmp(it->second.ticket, req.ticket, RDMABLK_TICKET_LEN)) {
      reject(id, RDMABLK_S_BAD_TICKET);
      return false;
    }
    if (qid > it->second.nr_queues) {
      reject(id, RDMABLK_S_QUEUE_LIMIT);
      return false;
    }
  }
  auto c = std::make_unique<Conn>();
  c->id.reset(id);
  c->qid = qid;
  if (!c->setup(want)) {
    evil("cannot set up a queue");
    c->id.release();  // the caller destroys it (its QP goes with c)
    reject(id, RDMABLK_S_NO_RESOURCES);
    return false;
  }
  if (qid > 0) c->session = le64toh(req.session_id), c->logged_in = true;
  rdmablk_cm_rep rep{};
  rep.magic = htole32(RDMABLK_MAGIC);
  rep.version = htole16(RDMABLK_PROTO_VERSION);
  rep.qid = req.qid;
  rep.queue_depth = htole16(c->depth);
  rep.max_inline = htole32(kMaxInline);
  if (qid == 0) {
    std::mt19937 rng(std::random_device{}());
    for (auto& b : rep.nonce) b = static_cast<uint8_t>(rng() | 1);
  }
  if (mode_is("rep-bad-magic")) rep.magic = htole32(0x12345678);
  if (mode_is("rep-bad-version")) rep.version = htole16(2);
  if (mode_is("rep-depth-over")) rep.queue_depth = htole16(want + 1);
  if (mode_is("rep-no-nonce")) std::memset(rep.nonce, 0, sizeof rep.nonce);
  if (mode_starts("rep-")) evil(fmt::format("queue {}: accepted in mode {}", qid, opt.mode));
  rdma_conn_param cp{};
  cp.private_data = &rep;
  cp.private_data_len = sizeof rep;
  cp.responder_resources = std::min<uint8_t>(ev->param.conn.initiator_depth, 16);
  cp.initiator_depth = std::min<uint8_t>(ev->param.conn.responder_resources, 16);
  cp.rnr_retry_count = 7;
  if (rdma_accept(id, &cp)) {
    evil("rdma_accept failed");
    c->id.release();  // the caller destroys it (its QP goes with c)
    return false;
  }
  conns[id] = std::move(c);
  return true;
}

int run() {
  store.resize(opt.size + 4096);
  for (uint64_t o = 0; o < store.size(); ++o) store[o] = pattern_byte(o);
  rdmablk::verbs::EventChannel ch(rdma_create_event_channel());
  rdma_cm_id* raw_listen = nullptr;
  if (!ch || rdma_create_id(ch.get(), &raw_listen, nullptr, RDMA_PS_TCP)) {
    std::perror("rdma_create_id");
    return 1;
  }
  rdmablk::verbs::CmId listen_id(raw_listen);
  fcntl(ch->fd, F_SETFL, fcntl(ch->fd, F_GETFL) | O_NONBLOCK);
  rdma_addrinfo hints{}, *res = nullptr;
  hints.ai_flags = RAI_PASSIVE;
  hints.ai_port_space = RDMA_PS_TCP;
  if (rdma_getaddrinfo(opt.listen.c_str(), opt.port.c_str(), &hints, &res) ||
      rdma_bind_addr(listen_id.get(), res->ai_src_addr) || rdma_listen(listen_id.get(), 64)) {
    std::perror("listen");
    return 1;
  }
  rdma_freeaddrinfo(res);
  fmt::print("listening on {}:{} mode {}\n", opt.listen, opt.port, opt.mode);
  std::fflush(stdout);
  auto end = Clock::now() + std::chrono::seconds(opt.lifetime);
  while (!stop && Clock::now() < end) {
    bool busy = false;
    rdma_cm_event* ev = nullptr;
    while (rdma_get_cm_event(ch.get(), &ev) == 0) {
      busy = true;
      switch (ev->event) {
        case RDMA_CM_EVENT_CONNECT_REQUEST:
          if (!on_connect_request(ev)) {
            rdma_cm_id* id = ev->id;
            rdma_ack_cm_event(ev);
            ev = nullptr;
            rdma_destroy_id(id);
          }
          break;
        case RDMA_CM_EVENT_ESTABLISHED:
          if (auto it = conns.find(ev->id); it != conns.end()) it->second->established = true;
          break;
        case RDMA_CM_EVENT_DISCONNECTED:
        case RDMA_CM_EVENT_TIMEWAIT_EXIT:
        case RDMA_CM_EVENT_CONNECT_ERROR:
        case RDMA_CM_EVENT_UNREACHABLE:
        case RDMA_CM_EVENT_REJECTED:
          if (auto it = conns.find(ev->id); it != conns.end()) {
            if (!it->second->broken && ev->event == RDMA_CM_EVENT_DISCONNECTED) rdma_disconnect(ev->id);
            it->second->broken = true;
            rdma_ack_cm_event(ev);
            ev = nullptr;
            conns.erase(it);
          }
          break;
        default:
          break;
      }
      if (ev) rdma_ack_cm_event(ev);
    }
    for (auto& [id, c] : conns)
      if (!c->broken) c->poll_cq();
    if (!busy) std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  conns.clear();
  return 0;
}

void usage(FILE* f) {
  std::fputs(
      "usage: rdmablk-rdma-evil-target --mode MODE [--listen ADDR] [--port N] [--size BYTES]\n"
      "                                [--trigger OFFSET] [--times N] [--lifetime SECONDS]\n"
      "       rdmablk-rdma-evil-target --pattern OFFSET LENGTH\n"
      "       rdmablk-rdma-evil-target --list-modes\n"
      "A hostile rdmablk target for tests: logs initiators in, serves a patterned RAM\n"
      "export and misbehaves as MODE says (see --list-modes).\n",
      f);
}

uint64_t number(const char* s) {
  char* end = nullptr;
  unsigned long long v = std::strtoull(s, &end, 0);
  uint64_t mul = 1;
  if (*end == 'k' || *end == 'K') mul = 1ull << 10;
  else if (*end == 'M') mul = 1ull << 20;
  else if (*end == 'G') mul = 1ull << 30;
  return v * mul;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&]() -> const char* {
      if (i + 1 >= argc) {
        usage(stderr);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      usage(stdout);
      return 0;
    } else if (a == "--list-modes") {
      for (const Mode& m : kModes) fmt::print("{:24} {}\n", m.name, m.what);
      return 0;
    } else if (a == "--pattern") {
      uint64_t off = number(val()), len = number(val());
      std::vector<uint8_t> out(len);
      for (uint64_t k = 0; k < len; ++k) out[k] = pattern_byte(off + k);
      return std::fwrite(out.data(), 1, out.size(), stdout) == out.size() ? 0 : 1;
    } else if (a == "--mode") {
      opt.mode = val();
    } else if (a == "--listen") {
      opt.listen = val();
    } else if (a == "--port") {
      opt.port = val();
    } else if (a == "--size") {
      opt.size = number(val());
    } else if (a == "--trigger") {
      opt.trigger = number(val());
    } else if (a == "--times") {
      opt.times = static_cast<int>(number(val()));
    } else if (a == "--lifetime") {
      opt.lifetime = static_cast<int>(number(val()));
    } else {
      usage(stderr);
      return 2;
    }
  }
  bool known = false;
  for (const Mode& m : kModes) known = known || opt.mode == m.name;
  if (!known) {
    std::fprintf(stderr, "rdmablk-rdma-evil-target: unknown mode %s (--list-modes)\n", opt.mode.c_str());
    return 2;
  }
  if (opt.size < (16u << 20) || opt.size % 4096 || opt.trigger >= opt.size) {
    std::fprintf(stderr, "rdmablk-rdma-evil-target: --size must be >= 16M, a multiple of 4k, above --trigger\n");
    return 2;
  }
  signal(SIGTERM, [](int) { stop = 1; });
  signal(SIGINT, [](int) { stop = 1; });
  return run();
}
