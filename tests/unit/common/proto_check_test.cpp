// rdmablk_check_*() on valid messages and on one broken field at a time,
// so that each status of each check, and the order between them, is pinned.
// Long because it is a table: one case per field of every message.
#include "rdmablk/proto_check.h"

#include <endian.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string_view>
#include <vector>

namespace {

// Tests run on little-endian hosts, but say what the wire wants anyway.
__le16 le16(uint16_t v) { return htole16(v); }
__le32 le32(uint32_t v) { return htole32(v); }
__le64 le64(uint64_t v) { return htole64(v); }

template <size_t N>
void set_name(__u8 (&field)[N], std::string_view name) {
  std::memset(field, 0, N);
  std::memcpy(field, name.data(), name.size());
}

// --- strings -----------------------------------------------------------------

TEST(ProtoStrings, EveryStatusHasItsOwnName) {
  std::vector<std::string_view> seen;
  for (int s = 0; s < RDMABLK_S_MAX; ++s) {
    std::string_view name = rdmablk_status_str(s);
    EXPECT_NE(name, "unknown status") << s;
    for (auto other : seen) EXPECT_NE(name, other) << s;
    seen.push_back(name);
  }
  EXPECT_STREQ(rdmablk_status_str(RDMABLK_S_SUCCESS), "success");
  EXPECT_STREQ(rdmablk_status_str(RDMABLK_S_OUT_OF_RANGE), "out of range");
  EXPECT_STREQ(rdmablk_status_str(RDMABLK_S_MAX), "unknown status");
  EXPECT_STREQ(rdmablk_status_str(-1), "unknown status");
  EXPECT_STREQ(rdmablk_status_str(65535), "unknown status");
}

TEST(ProtoStrings, Opcodes) {
  EXPECT_STREQ(rdmablk_opcode_str(RDMABLK_OP_READ), "READ");
  EXPECT_STREQ(rdmablk_opcode_str(RDMABLK_OP_WRITE), "WRITE");
  EXPECT_STREQ(rdmablk_opcode_str(RDMABLK_OP_FLUSH), "FLUSH");
  EXPECT_STREQ(rdmablk_opcode_str(RDMABLK_OP_DISCARD), "DISCARD");
  EXPECT_STREQ(rdmablk_opcode_str(RDMABLK_OP_WRITE_ZEROES), "WRITE_ZEROES");
  EXPECT_STREQ(rdmablk_opcode_str(RDMABLK_OP_KEEPALIVE), "KEEPALIVE");
  EXPECT_STREQ(rdmablk_opcode_str(RDMABLK_OP_LOGIN), "LOGIN");
  EXPECT_STREQ(rdmablk_opcode_str(RDMABLK_OP_DISCOVER), "DISCOVER");
  EXPECT_STREQ(rdmablk_opcode_str(0), "unknown opcode");
  EXPECT_STREQ(rdmablk_opcode_str(0x06), "unknown opcode");
  EXPECT_STREQ(rdmablk_opcode_str(0xff), "unknown opcode");
}

TEST(ProtoLayout, FieldOffsets) {
  // The wire layout docs/protocol.md gives; sizes are pinned in proto.h.
  EXPECT_EQ(offsetof(rdmablk_cm_req, session_id), 16u);
  EXPECT_EQ(offsetof(rdmablk_cm_req, ticket), 24u);
  EXPECT_EQ(offsetof(rdmablk_cm_rep, nonce), 16u);
  EXPECT_EQ(offsetof(rdmablk_cmd, offset), 8u);
  EXPECT_EQ(offsetof(rdmablk_cmd, length), 16u);
  EXPECT_EQ(offsetof(rdmablk_cmd, rkey), 20u);
  EXPECT_EQ(offsetof(rdmablk_cmd, addr), 24u);
  EXPECT_EQ(offsetof(rdmablk_rsp, length), 8u);
  EXPECT_EQ(offsetof(rdmablk_login_req, export_name), 16u);
  EXPECT_EQ(offsetof(rdmablk_login_req, host_id), 144u);
  EXPECT_EQ(offsetof(rdmablk_login_req, mac), 208u);
  EXPECT_EQ(offsetof(rdmablk_login_rsp, size), 32u);
  EXPECT_EQ(offsetof(rdmablk_login_rsp, logical_block_size), 52u);
  EXPECT_EQ(offsetof(rdmablk_login_rsp, region_addr), 64u);
  EXPECT_EQ(offsetof(rdmablk_login_rsp, region_size), 80u);
  EXPECT_EQ(offsetof(rdmablk_discover_entry, size), 128u);
  EXPECT_EQ(offsetof(rdmablk_discover_entry, needs_secret), 148u);
  // "RBLK" in byte order.
  uint32_t magic = htole32(RDMABLK_MAGIC);
  EXPECT_EQ(std::memcmp(&magic, "RBLK", 4), 0);
}

// --- names -------------------------------------------------------------------

TEST(CheckName, Valid) {
  __u8 f[8];
  set_name(f, "a");
  EXPECT_EQ(rdmablk_check_name(f, sizeof(f)), RDMABLK_S_SUCCESS);
  set_name(f, "vol-0_x!");  // fills the field: no NUL needed
  EXPECT_EQ(rdmablk_check_name(f, sizeof(f)), RDMABLK_S_SUCCESS);
  set_name(f, "~{}");
  EXPECT_EQ(rdmablk_check_name(f, sizeof(f)), RDMABLK_S_SUCCESS);
}

TEST(CheckName, Invalid) {
  __u8 f[8];
  set_name(f, "");
  EXPECT_EQ(rdmablk_check_name(f, sizeof(f)), RDMABLK_S_INVALID_FIELD) << "empty";
  set_name(f, "ab");
  f[3] = 'c';
  EXPECT_EQ(rdmablk_check_name(f, sizeof(f)), RDMABLK_S_INVALID_FIELD) << "NUL inside";
  f[3] = 0;
  f[7] = 'c';
  EXPECT_EQ(rdmablk_check_name(f, sizeof(f)), RDMABLK_S_INVALID_FIELD) << "junk in padding";
  for (unsigned char bad : {' ', '\t', '\n', '\x7f', '\x80', '\xff'}) {
    set_name(f, "ab");
    f[1] = bad;
    EXPECT_EQ(rdmablk_check_name(f, sizeof(f)), RDMABLK_S_INVALID_FIELD) << int(bad);
    f[0] = bad;
    EXPECT_EQ(rdmablk_check_name(f, sizeof(f)), RDMABLK_S_INVALID_FIELD) << int(bad);
  }
  EXPECT_EQ(rdmablk_check_name(f, 0), RDMABLK_S_INVALID_FIELD);
}

// --- connection private data -------------------------------------------------

rdmablk_cm_req cm_req(uint16_t qid) {
  rdmablk_cm_req r{};
  r.magic = le32(RDMABLK_MAGIC);
  r.version = le16(RDMABLK_PROTO_VERSION);
  r.qid = le16(qid);
  r.queue_depth = le16(128);
  if (qid) {
    r.session_id = le64(0x1234);
    std::memset(r.ticket, 0xab, sizeof(r.ticket));
  }
  return r;
}

int check(const rdmablk_cm_req& r, size_t len = sizeof(rdmablk_cm_req)) {
  return rdmablk_check_cm_req(&r, len);
}

TEST(CheckCmReq, Valid) {
  EXPECT_EQ(check(cm_req(0)), RDMABLK_S_SUCCESS);
  EXPECT_EQ(check(cm_req(1)), RDMABLK_S_SUCCESS);
  EXPECT_EQ(check(cm_req(RDMABLK_MAX_QUEUES - 1)), RDMABLK_S_SUCCESS);
  auto r = cm_req(0);
  r.queue_depth = le16(1);
  EXPECT_EQ(check(r), RDMABLK_S_SUCCESS);
  r.queue_depth = le16(RDMABLK_MAX_QUEUE_DEPTH);
  EXPECT_EQ(check(r), RDMABLK_S_SUCCESS);
}

TEST(CheckCmReq, PaddedAndUnalignedPrivateData) {
  // IB pads REQ private data to 56 bytes; iWARP may hand any alignment.
  alignas(8) unsigned char buf[RDMABLK_CM_PRIVATE_DATA_MAX + 9] = {};
  auto r = cm_req(3);
  std::memcpy(buf + 1, &r, sizeof(r));
  EXPECT_EQ(rdmablk_check_cm_req(buf + 1, sizeof(buf) - 1), RDMABLK_S_SUCCESS);
}

TEST(CheckCmReq, BadMessage) {
  auto r = cm_req(0);
  EXPECT_EQ(check(r, 0), RDMABLK_S_BAD_MESSAGE);
  EXPECT_EQ(check(r, 5), RDMABLK_S_BAD_MESSAGE);
  EXPECT_EQ(check(r, sizeof(r) - 1), RDMABLK_S_BAD_MESSAGE);
  r.magic = le32(RDMABLK_MAGIC ^ 1);
  EXPECT_EQ(check(r), RDMABLK_S_BAD_MESSAGE);

  r = cm_req(0);
  r.flags = le16(1);
  EXPECT_EQ(check(r), RDMABLK_S_BAD_MESSAGE);
  r = cm_req(0);
  r.rsvd0 = le32(1);
  EXPECT_EQ(check(r), RDMABLK_S_BAD_MESSAGE);
  r = cm_req(0);
  r.rsvd1[15] = 1;
  EXPECT_EQ(check(r), RDMABLK_S_BAD_MESSAGE);

  r = cm_req(0);
  r.session_id = le64(1);
  EXPECT_EQ(check(r), RDMABLK_S_BAD_MESSAGE) << "queue 0 with a session";
  r = cm_req(0);
  r.ticket[0] = 1;
  EXPECT_EQ(check(r), RDMABLK_S_BAD_MESSAGE) << "queue 0 with a ticket";
  r = cm_req(2);
  r.session_id = 0;
  EXPECT_EQ(check(r), RDMABLK_S_BAD_MESSAGE) << "I/O queue without a session";
}

TEST(CheckCmReq, Version) {
  auto r = cm_req(0);
  r.version = le16(RDMABLK_PROTO_VERSION + 1);
  EXPECT_EQ(check(r), RDMABLK_S_VERSION);
  // Checked before length and reserved: another version may look different.
  EXPECT_EQ(check(r, 6), RDMABLK_S_VERSION);
  r.rsvd0 = le32(7);
  EXPECT_EQ(check(r), RDMABLK_S_VERSION);
  r.version = 0;
  EXPECT_EQ(check(r), RDMABLK_S_VERSION);
}

TEST(CheckCmReq, QueueLimit) {
  auto r = cm_req(RDMABLK_MAX_QUEUES);
  EXPECT_EQ(check(r), RDMABLK_S_QUEUE_LIMIT);
  r = cm_req(1);
  r.queue_depth = 0;
  EXPECT_EQ(check(r), RDMABLK_S_QUEUE_LIMIT);
  r.queue_depth = le16(RDMABLK_MAX_QUEUE_DEPTH + 1);
  EXPECT_EQ(check(r), RDMABLK_S_QUEUE_LIMIT);
  // Limits come before the session fields.
  r.session_id = 0;
  EXPECT_EQ(check(r), RDMABLK_S_QUEUE_LIMIT);
}

rdmablk_cm_rep cm_rep(uint16_t qid, uint16_t depth) {
  rdmablk_cm_rep r{};
  r.magic = le32(RDMABLK_MAGIC);
  r.version = le16(RDMABLK_PROTO_VERSION);
  r.qid = le16(qid);
  r.queue_depth = le16(depth);
  r.max_inline = le32(4096);
  if (qid == 0) std::memset(r.nonce, 0x5a, sizeof(r.nonce));
  return r;
}

int check(const rdmablk_cm_rep& r, uint16_t qid, uint16_t depth, size_t len = sizeof(rdmablk_cm_rep)) {
  return rdmablk_check_cm_rep(&r, len, qid, depth);
}

TEST(CheckCmRep, Valid) {
  EXPECT_EQ(check(cm_rep(0, 32), 0, 32), RDMABLK_S_SUCCESS);
  EXPECT_EQ(check(cm_rep(0, 16), 0, 32), RDMABLK_S_SUCCESS) << "less depth than asked";
  EXPECT_EQ(check(cm_rep(5, 1), 5, 32), RDMABLK_S_SUCCESS);
  auto r = cm_rep(1, 32);
  r.max_inline = 0;
  EXPECT_EQ(check(r, 1, 32), RDMABLK_S_SUCCESS) << "no inline on I/O queues";
  r.max_inline = le32(RDMABLK_MAX_INLINE_SIZE);
  EXPECT_EQ(check(r, 1, 32), RDMABLK_S_SUCCESS);
  // IB pads REP private data to 196 bytes.
  unsigned char buf[196] = {};
  r = cm_rep(0, 8);
  std::memcpy(buf, &r, sizeof(r));
  EXPECT_EQ(rdmablk_check_cm_rep(buf, sizeof(buf), 0, 8), RDMABLK_S_SUCCESS);
}

TEST(CheckCmRep, Invalid) {
  EXPECT_EQ(check(cm_rep(0, 32), 0, 32, 7), RDMABLK_S_BAD_MESSAGE);
  auto r = cm_rep(0, 32);
  r.magic = 0;
  EXPECT_EQ(check(r, 0, 32), RDMABLK_S_BAD_MESSAGE);
  r = cm_rep(0, 32);
  r.version = le16(RDMABLK_PROTO_VERSION + 1);
  EXPECT_EQ(check(r, 0, 32), RDMABLK_S_VERSION);
  EXPECT_EQ(check(cm_rep(1, 32), 2, 32), RDMABLK_S_BAD_MESSAGE) << "qid echo";
  EXPECT_EQ(check(cm_rep(0, 33), 0, 32), RDMABLK_S_BAD_MESSAGE) << "more depth than asked";
  EXPECT_EQ(check(cm_rep(0, 0), 0, 32), RDMABLK_S_BAD_MESSAGE) << "zero depth";
  r = cm_rep(1, 32);
  r.max_inline = le32(RDMABLK_MAX_INLINE_SIZE + 1);
  EXPECT_EQ(check(r, 1, 32), RDMABLK_S_BAD_MESSAGE);
  r = cm_rep(0, 32);
  r.max_inline = le32(sizeof(rdmablk_login_req) - 1);
  EXPECT_EQ(check(r, 0, 32), RDMABLK_S_BAD_MESSAGE) << "queue 0 cannot take a LOGIN";
  r = cm_rep(0, 32);
  std::memset(r.nonce, 0, sizeof(r.nonce));
  EXPECT_EQ(check(r, 0, 32), RDMABLK_S_BAD_MESSAGE) << "queue 0 without nonce";
  r = cm_rep(1, 32);
  r.nonce[31] = 1;
  EXPECT_EQ(check(r, 1, 32), RDMABLK_S_BAD_MESSAGE) << "nonce on an I/O queue";
  r = cm_rep(0, 32);
  r.rsvd0 = le16(1);
  EXPECT_EQ(check(r, 0, 32), RDMABLK_S_BAD_MESSAGE);
  r = cm_rep(0, 32);
  r.rsvd1[7] = 1;
  EXPECT_EQ(check(r, 0, 32), RDMABLK_S_BAD_MESSAGE);
}

TEST(CheckCmRej, Valid) {
  rdmablk_cm_rej r{};
  r.magic = le32(RDMABLK_MAGIC);
  r.version = le16(RDMABLK_PROTO_VERSION + 3);  // a reject of any version reads
  r.status = le16(RDMABLK_S_VERSION);
  EXPECT_EQ(rdmablk_check_cm_rej(&r, sizeof(r)), RDMABLK_S_SUCCESS);
  r.status = le16(RDMABLK_S_MAX - 1);
  r.rsvd[0] = 9;
  EXPECT_EQ(rdmablk_check_cm_rej(&r, sizeof(r)), RDMABLK_S_SUCCESS);
  unsigned char buf[148] = {};  // IB REJ private data size
  std::memcpy(buf, &r, sizeof(r));
  EXPECT_EQ(rdmablk_check_cm_rej(buf, sizeof(buf)), RDMABLK_S_SUCCESS);
}

TEST(CheckCmRej, NotAnRdmablkReject) {
  rdmablk_cm_rej r{};
  r.magic = le32(RDMABLK_MAGIC);
  r.status = le16(RDMABLK_S_BAD_TICKET);
  EXPECT_EQ(rdmablk_check_cm_rej(&r, 0), RDMABLK_S_BAD_MESSAGE);
  EXPECT_EQ(rdmablk_check_cm_rej(&r, sizeof(r) - 1), RDMABLK_S_BAD_MESSAGE);
  r.status = le16(RDMABLK_S_SUCCESS);
  EXPECT_EQ(rdmablk_check_cm_rej(&r, sizeof(r)), RDMABLK_S_BAD_MESSAGE);
  r.status = le16(RDMABLK_S_MAX);
  EXPECT_EQ(rdmablk_check_cm_rej(&r, sizeof(r)), RDMABLK_S_BAD_MESSAGE);
  r.status = le16(RDMABLK_S_BAD_TICKET);
  r.magic = le32(0x12345678);
  EXPECT_EQ(rdmablk_check_cm_rej(&r, sizeof(r)), RDMABLK_S_BAD_MESSAGE);
}

// --- command capsules --------------------------------------------------------

constexpr uint64_t kSize = 1 << 30;

rdmablk_export_limits limits() {
  rdmablk_export_limits l{};
  l.size = kSize;
  l.logical_block_size = 4096;
  l.max_io_size = 1 << 20;
  l.max_inline = 8192;
  l.features = RDMABLK_FEAT_ALL;
  l.export_flags = 0;
  return l;
}

// A capsule followed by room for inline data, as in a receive buffer.
struct Msg {
  rdmablk_cmd cmd{};
  unsigned char data[RDMABLK_MAX_INLINE_SIZE] = {};
};

Msg io(uint8_t op, uint64_t offset = 0, uint32_t length = 4096) {
  Msg m;
  m.cmd.opcode = op;
  m.cmd.tag = le32(7);
  if (op == RDMABLK_OP_FLUSH || op == RDMABLK_OP_KEEPALIVE) return m;
  m.cmd.offset = le64(offset);
  m.cmd.length = le32(length);
  if (op == RDMABLK_OP_READ || op == RDMABLK_OP_WRITE || op == RDMABLK_OP_DISCOVER) {
    m.cmd.rkey = le32(0x1234);
    m.cmd.addr = le64(0x7f0000001000);
  }
  return m;
}

int check(const Msg& m, size_t payload = 0, const rdmablk_export_limits& lim = limits(), bool logged_in = true) {
  return rdmablk_check_cmd(&m.cmd, sizeof(m.cmd) + payload, &lim, logged_in);
}

// Before login there are no limits yet.
int check_before_login(const Msg& m, size_t payload = 0) {
  return rdmablk_check_cmd(&m.cmd, sizeof(m.cmd) + payload, nullptr, false);
}

Msg inline_write(uint32_t length) {
  Msg m = io(RDMABLK_OP_WRITE, 8192, length);
  m.cmd.flags = RDMABLK_CMD_F_INLINE;
  m.cmd.rkey = 0;
  m.cmd.addr = 0;
  return m;
}

Msg login() { return io(RDMABLK_OP_LOGIN, 0, sizeof(rdmablk_login_req)); }

TEST(CheckCmd, ValidIo) {
  EXPECT_EQ(check(io(RDMABLK_OP_READ)), RDMABLK_S_SUCCESS);
  EXPECT_EQ(check(io(RDMABLK_OP_WRITE)), RDMABLK_S_SUCCESS);
  EXPECT_EQ(check(io(RDMABLK_OP_FLUSH)), RDMABLK_S_SUCCESS);
  EXPECT_EQ(check(io(RDMABLK_OP_DISCARD)), RDMABLK_S_SUCCESS);
  EXPECT_EQ(check(io(RDMABLK_OP_WRITE_ZEROES)), RDMABLK_S_SUCCESS);
  EXPECT_EQ(check(io(RDMABLK_OP_KEEPALIVE)), RDMABLK_S_SUCCESS);
  EXPECT_EQ(check(io(RDMABLK_OP_READ, kSize - (1 << 20), 1 << 20)), RDMABLK_S_SUCCESS) << "last MiB";
  EXPECT_EQ(check(io(RDMABLK_OP_DISCARD, 0, kSize)), RDMABLK_S_SUCCESS) << "whole 1 GiB export";

  auto m = io(RDMABLK_OP_WRITE);
  m.cmd.flags = RDMABLK_CMD_F_FUA | RDMABLK_CMD_F_INVALIDATE;
  EXPECT_EQ(check(m), RDMABLK_S_SUCCESS);
  m = io(RDMABLK_OP_READ);
  m.cmd.flags = RDMABLK_CMD_F_INVALIDATE;
  EXPECT_EQ(check(m), RDMABLK_S_SUCCESS);
  m = io(RDMABLK_OP_WRITE_ZEROES);
  m.cmd.flags = RDMABLK_CMD_F_FUA | RDMABLK_CMD_F_NO_UNMAP;
  EXPECT_EQ(check(m), RDMABLK_S_SUCCESS);
  EXPECT_EQ(check(inline_write(4096), 4096), RDMABLK_S_SUCCESS);
  EXPECT_EQ(check(inline_write(8192), 8192), RDMABLK_S_SUCCESS) << "exactly max_inline";
}

TEST(CheckCmd, ValidBeforeLogin) {
  EXPECT_EQ(check_before_login(login(), sizeof(rdmablk_login_req)), RDMABLK_S_SUCCESS);
  EXPECT_EQ(check_before_login(io(RDMABLK_OP_DISCOVER)), RDMABLK_S_SUCCESS);
  EXPECT_EQ(check_before_login(io(RDMABLK_OP_DISCOVER, 0, 0)), RDMABLK_S_SUCCESS)
      << "zero length asks for the list size";
  EXPECT_EQ(check_before_login(io(RDMABLK_OP_KEEPALIVE)), RDMABLK_S_SUCCESS);
}

TEST(CheckCmd, BadMessage) {
  auto m = io(RDMABLK_OP_READ);
  EXPECT_EQ(rdmablk_check_cmd(&m.cmd, 0, nullptr, true), RDMABLK_S_BAD_MESSAGE);
  EXPECT_EQ(rdmablk_check_cmd(&m.cmd, sizeof(m.cmd) - 1, nullptr, true), RDMABLK_S_BAD_MESSAGE);
}

TEST(CheckCmd, InvalidOpcode) {
  for (int op : {0x00, 0x06, 0x0f, 0x11, 0x22, 0xff}) {
    auto m = io(RDMABLK_OP_READ);
    m.cmd.opcode = static_cast<uint8_t>(op);
    EXPECT_EQ(check(m), RDMABLK_S_INVALID_OPCODE) << op;
    EXPECT_EQ(check(m, 0, limits(), false), RDMABLK_S_INVALID_OPCODE) << op;
  }
  EXPECT_EQ(check(login(), sizeof(rdmablk_login_req)), RDMABLK_S_INVALID_OPCODE) << "second login";
  EXPECT_EQ(check(io(RDMABLK_OP_DISCOVER)), RDMABLK_S_INVALID_OPCODE) << "discover after login";
}

TEST(CheckCmd, NotLoggedIn) {
  for (uint8_t op : {RDMABLK_OP_READ, RDMABLK_OP_WRITE, RDMABLK_OP_FLUSH, RDMABLK_OP_DISCARD,
                     RDMABLK_OP_WRITE_ZEROES}) {
    auto m = io(op);
    EXPECT_EQ(check_before_login(m), RDMABLK_S_NOT_LOGGED_IN) << int(op);
    m.cmd.flags = 0xff;  // state comes before fields
    EXPECT_EQ(check_before_login(m), RDMABLK_S_NOT_LOGGED_IN) << int(op);
  }
}

TEST(CheckCmd, Unsupported) {
  struct Case {
    uint8_t op;
    uint32_t feature;
  };
  for (auto [op, feature] : {Case{RDMABLK_OP_FLUSH, RDMABLK_FEAT_FLUSH}, Case{RDMABLK_OP_DISCARD, RDMABLK_FEAT_DISCARD},
                             Case{RDMABLK_OP_WRITE_ZEROES, RDMABLK_FEAT_WRITE_ZEROES}}) {
    auto lim = limits();
    lim.features &= ~feature;
    EXPECT_EQ(check(io(op), 0, lim), RDMABLK_S_UNSUPPORTED) << int(op);
    lim.export_flags = RDMABLK_EXPORT_F_READ_ONLY;
    EXPECT_EQ(check(io(op), 0, lim), RDMABLK_S_UNSUPPORTED) << "before READ_ONLY: " << int(op);
  }
  // READ and WRITE need no feature.
  auto lim = limits();
  lim.features = 0;
  lim.max_inline = 0;
  EXPECT_EQ(check(io(RDMABLK_OP_READ), 0, lim), RDMABLK_S_SUCCESS);
  EXPECT_EQ(check(io(RDMABLK_OP_WRITE), 0, lim), RDMABLK_S_SUCCESS);
}

TEST(CheckCmd, ReadOnly) {
  auto lim = limits();
  lim.export_flags = RDMABLK_EXPORT_F_READ_ONLY;
  EXPECT_EQ(check(io(RDMABLK_OP_WRITE), 0, lim), RDMABLK_S_READ_ONLY);
  EXPECT_EQ(check(io(RDMABLK_OP_DISCARD), 0, lim), RDMABLK_S_READ_ONLY);
  EXPECT_EQ(check(io(RDMABLK_OP_WRITE_ZEROES), 0, lim), RDMABLK_S_READ_ONLY);
  EXPECT_EQ(check(inline_write(4096), 4096, lim), RDMABLK_S_READ_ONLY);
  EXPECT_EQ(check(io(RDMABLK_OP_WRITE, kSize, 4096), 0, lim), RDMABLK_S_READ_ONLY) << "before OUT_OF_RANGE";
  EXPECT_EQ(check(io(RDMABLK_OP_READ), 0, lim), RDMABLK_S_SUCCESS);
  EXPECT_EQ(check(io(RDMABLK_OP_FLUSH), 0, lim), RDMABLK_S_SUCCESS);
}

TEST(CheckCmd, InvalidFlags) {
  auto bad_flags = [](uint8_t op, uint8_t flags, size_t payload = 0) {
    auto m = op == 0 ? inline_write(4096) : io(op);
    m.cmd.flags |= flags;
    return check(m, payload);
  };
  EXPECT_EQ(bad_flags(RDMABLK_OP_READ, 1u << 4), RDMABLK_S_INVALID_FIELD) << "unknown bit";
  EXPECT_EQ(bad_flags(RDMABLK_OP_WRITE, 0x80), RDMABLK_S_INVALID_FIELD) << "unknown bit";
  EXPECT_EQ(bad_flags(RDMABLK_OP_READ, RDMABLK_CMD_F_FUA), RDMABLK_S_INVALID_FIELD);
  EXPECT_EQ(bad_flags(RDMABLK_OP_DISCARD, RDMABLK_CMD_F_FUA), RDMABLK_S_INVALID_FIELD);
  EXPECT_EQ(bad_flags(RDMABLK_OP_FLUSH, RDMABLK_CMD_F_FUA), RDMABLK_S_INVALID_FIELD);
  EXPECT_EQ(bad_flags(RDMABLK_OP_READ, RDMABLK_CMD_F_INLINE), RDMABLK_S_INVALID_FIELD);
  EXPECT_EQ(bad_flags(RDMABLK_OP_WRITE_ZEROES, RDMABLK_CMD_F_INLINE), RDMABLK_S_INVALID_FIELD);
  EXPECT_EQ(bad_flags(RDMABLK_OP_WRITE, RDMABLK_CMD_F_NO_UNMAP), RDMABLK_S_INVALID_FIELD);
  EXPECT_EQ(bad_flags(RDMABLK_OP_DISCARD, RDMABLK_CMD_F_INVALIDATE), RDMABLK_S_INVALID_FIELD);
  EXPECT_EQ(bad_flags(RDMABLK_OP_KEEPALIVE, RDMABLK_CMD_F_INVALIDATE), RDMABLK_S_INVALID_FIELD);
  EXPECT_EQ(bad_flags(0, RDMABLK_CMD_F_INVALIDATE, 4096), RDMABLK_S_INVALID_FIELD) << "inline has no key";

  // Flags of features not granted.
  struct Case {
    uint8_t op;
    uint8_t flag;
    uint32_t feature;
  };
  for (auto [op, flag, feature] : {Case{RDMABLK_OP_WRITE, RDMABLK_CMD_F_FUA, RDMABLK_FEAT_FUA},
                                   Case{RDMABLK_OP_WRITE_ZEROES, RDMABLK_CMD_F_FUA, RDMABLK_FEAT_FUA},
                                   Case{RDMABLK_OP_READ, RDMABLK_CMD_F_INVALIDATE, RDMABLK_FEAT_REMOTE_INV},
                                   Case{RDMABLK_OP_WRITE, RDMABLK_CMD_F_INVALIDATE, RDMABLK_FEAT_REMOTE_INV}}) {
    auto lim = limits();
    auto m = io(op);
    m.cmd.flags = flag;
    EXPECT_EQ(check(m, 0, lim), RDMABLK_S_SUCCESS);
    lim.features &= ~feature;
    EXPECT_EQ(check(m, 0, lim), RDMABLK_S_INVALID_FIELD) << int(op) << " " << int(flag);
  }
  auto lim = limits();
  lim.features &= ~RDMABLK_FEAT_INLINE_WRITE;
  EXPECT_EQ(check(inline_write(4096), 4096, lim), RDMABLK_S_INVALID_FIELD);

  // Before login no flag is negotiated.
  auto m = io(RDMABLK_OP_DISCOVER);
  m.cmd.flags = RDMABLK_CMD_F_INVALIDATE;
  EXPECT_EQ(check_before_login(m), RDMABLK_S_INVALID_FIELD);
}

TEST(CheckCmd, InvalidFields) {
  auto m = io(RDMABLK_OP_READ);
  m.cmd.rsvd0 = le16(1);
  EXPECT_EQ(check(m), RDMABLK_S_INVALID_FIELD) << "rsvd0";
  m = io(RDMABLK_OP_READ);
  m.cmd.rsvd1[31] = 1;
  EXPECT_EQ(check(m), RDMABLK_S_INVALID_FIELD) << "rsvd1";
  m = io(RDMABLK_OP_KEEPALIVE);
  m.cmd.rsvd1[0] = 1;
  EXPECT_EQ(check_before_login(m), RDMABLK_S_INVALID_FIELD);

  for (uint8_t op : {RDMABLK_OP_READ, RDMABLK_OP_WRITE, RDMABLK_OP_DISCARD, RDMABLK_OP_WRITE_ZEROES}) {
    EXPECT_EQ(check(io(op, 0, 0)), RDMABLK_S_INVALID_FIELD) << "zero length " << int(op);
    EXPECT_EQ(check(io(op, 512, 4096)), RDMABLK_S_INVALID_FIELD) << "offset alignment " << int(op);
    EXPECT_EQ(check(io(op, 0, 4096 + 512)), RDMABLK_S_INVALID_FIELD) << "length alignment " << int(op);
    EXPECT_EQ(check(io(op, 0, 4096), 1), RDMABLK_S_INVALID_FIELD) << "stray payload " << int(op);
  }
  // Misaligned and too large: INVALID_FIELD comes first.
  EXPECT_EQ(check(io(RDMABLK_OP_READ, 0, (2 << 20) + 512)), RDMABLK_S_INVALID_FIELD);
  // Misaligned and out of range: INVALID_FIELD comes first.
  EXPECT_EQ(check(io(RDMABLK_OP_READ, kSize + 512, 4096)), RDMABLK_S_INVALID_FIELD);

  // Operations without a buffer must not name one.
  for (uint8_t op : {RDMABLK_OP_DISCARD, RDMABLK_OP_WRITE_ZEROES, RDMABLK_OP_FLUSH, RDMABLK_OP_KEEPALIVE}) {
    m = io(op);
    m.cmd.rkey = le32(1);
    EXPECT_EQ(check(m), RDMABLK_S_INVALID_FIELD) << "rkey " << int(op);
    m = io(op);
    m.cmd.addr = le64(1);
    EXPECT_EQ(check(m), RDMABLK_S_INVALID_FIELD) << "addr " << int(op);
  }
  for (uint8_t op : {RDMABLK_OP_FLUSH, RDMABLK_OP_KEEPALIVE}) {
    m = io(op);
    m.cmd.offset = le64(4096);
    EXPECT_EQ(check(m), RDMABLK_S_INVALID_FIELD) << "offset " << int(op);
    m = io(op);
    m.cmd.length = le32(4096);
    EXPECT_EQ(check(m), RDMABLK_S_INVALID_FIELD) << "length " << int(op);
  }
}

TEST(CheckCmd, InlineWrite) {
  EXPECT_EQ(check(inline_write(4096), 4095), RDMABLK_S_INVALID_FIELD) << "short payload";
  EXPECT_EQ(check(inline_write(4096), 4097), RDMABLK_S_INVALID_FIELD) << "long payload";
  EXPECT_EQ(check(inline_write(4096), 0), RDMABLK_S_INVALID_FIELD) << "no payload";
  EXPECT_EQ(check(inline_write(12288), 12288), RDMABLK_S_INVALID_FIELD) << "over max_inline";
  auto m = inline_write(4096);
  m.cmd.rkey = le32(5);
  EXPECT_EQ(check(m, 4096), RDMABLK_S_INVALID_FIELD) << "inline with a key";
  m = inline_write(4096);
  m.cmd.addr = le64(5);
  EXPECT_EQ(check(m, 4096), RDMABLK_S_INVALID_FIELD) << "inline with an address";
  auto lim = limits();
  lim.max_inline = 0;
  EXPECT_EQ(check(inline_write(4096), 4096, lim), RDMABLK_S_INVALID_FIELD);
}

TEST(CheckCmd, Login) {
  EXPECT_EQ(check_before_login(login(), sizeof(rdmablk_login_req) - 1), RDMABLK_S_INVALID_FIELD);
  EXPECT_EQ(check_before_login(login(), 0), RDMABLK_S_INVALID_FIELD);
  auto m = login();
  m.cmd.length = le32(sizeof(rdmablk_login_req) + 8);
  EXPECT_EQ(check_before_login(m, sizeof(rdmablk_login_req) + 8), RDMABLK_S_INVALID_FIELD) << "length is fixed";
  m = login();
  m.cmd.offset = le64(1);
  EXPECT_EQ(check_before_login(m, sizeof(rdmablk_login_req)), RDMABLK_S_INVALID_FIELD);
  m = login();
  m.cmd.rkey = le32(1);
  EXPECT_EQ(check_before_login(m, sizeof(rdmablk_login_req)), RDMABLK_S_INVALID_FIELD);
  m = login();
  m.cmd.flags = RDMABLK_CMD_F_INLINE;
  EXPECT_EQ(check_before_login(m, sizeof(rdmablk_login_req)), RDMABLK_S_INVALID_FIELD);

  m = io(RDMABLK_OP_DISCOVER);
  m.cmd.offset = le64(4096);
  EXPECT_EQ(check_before_login(m, 0), RDMABLK_S_INVALID_FIELD);
  EXPECT_EQ(check_before_login(io(RDMABLK_OP_DISCOVER), 8), RDMABLK_S_INVALID_FIELD);
  EXPECT_EQ(check_before_login(io(RDMABLK_OP_DISCOVER, 0, RDMABLK_MAX_IO_SIZE), 0), RDMABLK_S_SUCCESS);
  EXPECT_EQ(check_before_login(io(RDMABLK_OP_DISCOVER, 0, RDMABLK_MAX_IO_SIZE + 1), 0), RDMABLK_S_TOO_LARGE);
}

TEST(CheckCmd, TooLarge) {
  auto lim = limits();
  EXPECT_EQ(check(io(RDMABLK_OP_READ, 0, lim.max_io_size)), RDMABLK_S_SUCCESS);
  EXPECT_EQ(check(io(RDMABLK_OP_READ, 0, lim.max_io_size + 4096)), RDMABLK_S_TOO_LARGE);
  EXPECT_EQ(check(io(RDMABLK_OP_WRITE, 0, lim.max_io_size + 4096)), RDMABLK_S_TOO_LARGE);
  // DISCARD and WRITE_ZEROES may go up to 1 GiB whatever max_io_size is.
  lim.size = uint64_t{1} << 40;
  EXPECT_EQ(check(io(RDMABLK_OP_DISCARD, 0, RDMABLK_MAX_DISCARD_SIZE), 0, lim), RDMABLK_S_SUCCESS);
  EXPECT_EQ(check(io(RDMABLK_OP_DISCARD, 0, RDMABLK_MAX_DISCARD_SIZE + 4096), 0, lim), RDMABLK_S_TOO_LARGE);
  EXPECT_EQ(check(io(RDMABLK_OP_WRITE_ZEROES, 0, RDMABLK_MAX_DISCARD_SIZE + 4096), 0, lim), RDMABLK_S_TOO_LARGE);
  // Too large and out of range: TOO_LARGE comes first.
  EXPECT_EQ(check(io(RDMABLK_OP_READ, kSize, 2 << 20)), RDMABLK_S_TOO_LARGE);
}

TEST(CheckCmd, OutOfRange) {
  for (uint8_t op : {RDMABLK_OP_READ, RDMABLK_OP_WRITE, RDMABLK_OP_DISCARD, RDMABLK_OP_WRITE_ZEROES}) {
    EXPECT_EQ(check(io(op, kSize, 4096)), RDMABLK_S_OUT_OF_RANGE) << int(op);
    EXPECT_EQ(check(io(op, kSize - 4096, 8192)), RDMABLK_S_OUT_OF_RANGE) << int(op);
    EXPECT_EQ(check(io(op, kSize - 4096, 4096)), RDMABLK_S_SUCCESS) << int(op);
    // offset + length would wrap around to a small number.
    EXPECT_EQ(check(io(op, UINT64_MAX - 4095, 8192)), RDMABLK_S_OUT_OF_RANGE) << int(op);
  }
  auto lim = limits();
  lim.size = 0;
  EXPECT_EQ(check(io(RDMABLK_OP_READ), 0, lim), RDMABLK_S_OUT_OF_RANGE) << "empty export";
}

// --- login -------------------------------------------------------------------

rdmablk_login_req login_req() {
  rdmablk_login_req r{};
  r.features = le32(RDMABLK_FEAT_ALL);
  r.nr_queues = le16(4);
  r.queue_depth = le16(128);
  r.max_io_size = le32(1 << 20);
  set_name(r.export_name, "vol0");
  set_name(r.host_id, "3f1c6a2e-8f0b-4d4e-9c55-6e1d2b7a9f00");
  return r;
}

TEST(CheckLoginReq, Valid) {
  auto r = login_req();
  EXPECT_EQ(rdmablk_check_login_req(&r), RDMABLK_S_SUCCESS);
  r.features = le32(0xffffffff);  // unknown features are not granted, not refused
  r.nr_queues = 0;                // queue 0 only
  r.queue_depth = le16(1);
  r.max_io_size = le32(RDMABLK_MAX_IO_SIZE);
  EXPECT_EQ(rdmablk_check_login_req(&r), RDMABLK_S_SUCCESS);
  r.nr_queues = le16(RDMABLK_MAX_QUEUES - 1);
  r.queue_depth = le16(RDMABLK_MAX_QUEUE_DEPTH);
  r.max_io_size = le32(RDMABLK_MAX_LOGICAL_BLOCK_SIZE);
  std::memset(r.mac, 0x11, sizeof(r.mac));
  EXPECT_EQ(rdmablk_check_login_req(&r), RDMABLK_S_SUCCESS);
}

TEST(CheckLoginReq, InvalidField) {
  auto expect_invalid = [](const rdmablk_login_req& r, const char* what) {
    EXPECT_EQ(rdmablk_check_login_req(&r), RDMABLK_S_INVALID_FIELD) << what;
  };
  auto r = login_req();
  r.rsvd0 = le32(1);
  expect_invalid(r, "rsvd0");
  r = login_req();
  r.rsvd1[3] = 1;
  expect_invalid(r, "rsvd1");
  r = login_req();
  set_name(r.export_name, "");
  expect_invalid(r, "empty export name");
  r = login_req();
  set_name(r.export_name, "my vol");
  expect_invalid(r, "space in export name");
  r = login_req();
  set_name(r.host_id, "");
  expect_invalid(r, "empty host id");
  r = login_req();
  r.host_id[63] = 'x';
  expect_invalid(r, "junk after host id");
  r = login_req();
  r.max_io_size = 0;
  expect_invalid(r, "zero max_io_size");
  r.max_io_size = le32(512);
  expect_invalid(r, "max_io_size not a multiple of 4096");
  r.max_io_size = le32(RDMABLK_MAX_IO_SIZE + 4096);
  expect_invalid(r, "max_io_size over the ceiling");
  r.nr_queues = le16(RDMABLK_MAX_QUEUES);
  expect_invalid(r, "fields before limits");
}

TEST(CheckLoginReq, QueueLimit) {
  auto r = login_req();
  r.nr_queues = le16(RDMABLK_MAX_QUEUES);
  EXPECT_EQ(rdmablk_check_login_req(&r), RDMABLK_S_QUEUE_LIMIT);
  r = login_req();
  r.queue_depth = 0;
  EXPECT_EQ(rdmablk_check_login_req(&r), RDMABLK_S_QUEUE_LIMIT);
  r.queue_depth = le16(RDMABLK_MAX_QUEUE_DEPTH + 1);
  EXPECT_EQ(rdmablk_check_login_req(&r), RDMABLK_S_QUEUE_LIMIT);
}

rdmablk_login_rsp login_rsp(uint32_t features = RDMABLK_FEAT_ALL) {
  rdmablk_login_rsp r{};
  r.features = le32(features);
  r.export_flags = le32(RDMABLK_EXPORT_F_MULTI_CONN);
  r.session_id = le64(42);
  std::memset(r.ticket, 0xcd, sizeof(r.ticket));
  r.size = le64(kSize);
  r.nr_queues = le16(2);
  r.queue_depth = le16(64);
  r.max_io_size = le32(512 << 10);
  r.logical_block_size = le32(512);
  r.physical_block_size = le32(4096);
  r.optimal_io_size = le32(128 << 10);
  if (features & RDMABLK_FEAT_INLINE_WRITE) r.max_inline = le32(4096);
  if (features & RDMABLK_FEAT_DIRECT) {
    r.region_addr = le64(0x7f1234560000);
    r.region_rkey = le32(0x99);
    r.region_size = le64(kSize);
  }
  if (features & RDMABLK_FEAT_EXPORT_ID) std::memcpy(r.export_id, "rbd.1a2b3c4d.2.10ab6b8b4567", 27);
  return r;
}

int check(const rdmablk_login_rsp& rsp, const rdmablk_login_req& req = login_req()) {
  return rdmablk_check_login_rsp(&rsp, &req);
}

TEST(CheckLoginRsp, Valid) {
  EXPECT_EQ(check(login_rsp()), RDMABLK_S_SUCCESS);
  EXPECT_EQ(check(login_rsp(0)), RDMABLK_S_SUCCESS) << "nothing granted";
  EXPECT_EQ(check(login_rsp(RDMABLK_FEAT_FLUSH | RDMABLK_FEAT_FUA)), RDMABLK_S_SUCCESS);
  auto r = login_rsp();
  r.nr_queues = 0;
  r.optimal_io_size = 0;
  r.size = 0;
  r.region_size = 0;
  r.logical_block_size = le32(4096);
  r.physical_block_size = le32(65536);
  r.queue_depth = le16(128);
  r.max_io_size = le32(1 << 20);
  r.max_inline = le32(RDMABLK_MAX_INLINE_SIZE);
  r.export_flags = le32(RDMABLK_EXPORT_F_ALL);
  std::memset(r.export_id, 'Z', sizeof r.export_id);
  EXPECT_EQ(check(r), RDMABLK_S_SUCCESS) << "all at their limits (a 32-byte export id, no NUL)";
  r = login_rsp();
  std::memset(r.export_id, 0, sizeof r.export_id);
  r.export_id[0] = 'a';
  EXPECT_EQ(check(r), RDMABLK_S_SUCCESS) << "a one-character export id";
}

TEST(CheckLoginRsp, BadMessage) {
  auto req = login_req();
  req.features = le32(RDMABLK_FEAT_FLUSH);
  EXPECT_EQ(check(login_rsp(RDMABLK_FEAT_FLUSH | RDMABLK_FEAT_FUA), req), RDMABLK_S_BAD_MESSAGE)
      << "feature not asked for";

  struct Case {
    const char* what;
    void (*change)(rdmablk_login_rsp&);
  };
  const Case cases[] = {
      {"rsvd0", [](rdmablk_login_rsp& r) { r.rsvd0 = le32(1); }},
      {"rsvd1", [](rdmablk_login_rsp& r) { r.rsvd1[7] = 1; }},
      {"export id empty", [](rdmablk_login_rsp& r) { std::memset(r.export_id, 0, sizeof r.export_id); }},
      {"export id with a space", [](rdmablk_login_rsp& r) { r.export_id[3] = ' '; }},
      {"export id with a slash", [](rdmablk_login_rsp& r) { r.export_id[0] = '/'; }},
      {"export id with a byte over 0x7f", [](rdmablk_login_rsp& r) { r.export_id[5] = 0xc3; }},
      {"export id not NUL-padded", [](rdmablk_login_rsp& r) { r.export_id[30] = 'x'; }},
      {"unknown export flag", [](rdmablk_login_rsp& r) { r.export_flags = le32(1u << 3); }},
      {"no session id", [](rdmablk_login_rsp& r) { r.session_id = 0; }},
      {"lbs 0", [](rdmablk_login_rsp& r) { r.logical_block_size = 0; }},
      {"lbs 256", [](rdmablk_login_rsp& r) { r.logical_block_size = le32(256); }},
      {"lbs 8192", [](rdmablk_login_rsp& r) { r.logical_block_size = le32(8192); }},
      {"lbs 1536", [](rdmablk_login_rsp& r) { r.logical_block_size = le32(1536); }},
      {"pbs < lbs", [](rdmablk_login_rsp& r) { r.logical_block_size = le32(4096), r.physical_block_size = le32(512); }},
      {"pbs 128 KiB", [](rdmablk_login_rsp& r) { r.physical_block_size = le32(128 << 10); }},
      {"pbs 3 KiB", [](rdmablk_login_rsp& r) { r.physical_block_size = le32(3072); }},
      {"size not a block multiple", [](rdmablk_login_rsp& r) { r.size = le64(kSize + 100); }},
      {"optimal not a block multiple", [](rdmablk_login_rsp& r) { r.optimal_io_size = le32(1000); }},
      {"more queues than asked", [](rdmablk_login_rsp& r) { r.nr_queues = le16(5); }},
      {"zero depth", [](rdmablk_login_rsp& r) { r.queue_depth = 0; }},
      {"more depth than asked", [](rdmablk_login_rsp& r) { r.queue_depth = le16(129); }},
      {"zero max_io_size", [](rdmablk_login_rsp& r) { r.max_io_size = 0; }},
      {"max_io_size not a block multiple", [](rdmablk_login_rsp& r) { r.max_io_size = le32(4096 + 100); }},
      {"more max_io_size than asked", [](rdmablk_login_rsp& r) { r.max_io_size = le32(2 << 20); }},
      {"inline granted, max_inline 0", [](rdmablk_login_rsp& r) { r.max_inline = 0; }},
      {"max_inline over the ceiling", [](rdmablk_login_rsp& r) { r.max_inline = le32(RDMABLK_MAX_INLINE_SIZE + 1); }},
      {"direct, region_size != size", [](rdmablk_login_rsp& r) { r.region_size = le64(kSize / 2); }},
      {"direct, region wraps", [](rdmablk_login_rsp& r) { r.region_addr = le64(UINT64_MAX - 4096); }},
  };
  for (const auto& c : cases) {
    auto r = login_rsp();
    c.change(r);
    EXPECT_EQ(check(r), RDMABLK_S_BAD_MESSAGE) << c.what;
  }

  auto r = login_rsp(0);
  r.max_inline = le32(4096);
  EXPECT_EQ(check(r), RDMABLK_S_BAD_MESSAGE) << "max_inline without the feature";
  for (int field = 0; field < 3; ++field) {
    r = login_rsp(0);
    if (field == 0) r.region_addr = le64(4096);
    if (field == 1) r.region_rkey = le32(1);
    if (field == 2) r.region_size = le64(kSize);
    EXPECT_EQ(check(r), RDMABLK_S_BAD_MESSAGE) << "region without DIRECT, field " << field;
  }
  r = login_rsp(0);
  r.export_id[0] = 'a';
  EXPECT_EQ(check(r), RDMABLK_S_BAD_MESSAGE) << "export id without the feature";
}

// --- responses ---------------------------------------------------------------

rdmablk_rsp rsp_for(const rdmablk_cmd& cmd, uint16_t status = RDMABLK_S_SUCCESS) {
  rdmablk_rsp r{};
  r.tag = cmd.tag;
  r.status = le16(status);
  r.opcode = cmd.opcode;
  if ((cmd.opcode == RDMABLK_OP_READ || cmd.opcode == RDMABLK_OP_WRITE) && status == RDMABLK_S_SUCCESS)
    r.length = cmd.length;
  if (cmd.opcode == RDMABLK_OP_LOGIN && status == RDMABLK_S_SUCCESS) r.length = le32(sizeof(rdmablk_login_rsp));
  return r;
}

int check(const rdmablk_rsp& rsp, const rdmablk_cmd& cmd, size_t len = sizeof(rdmablk_rsp)) {
  return rdmablk_check_rsp(&rsp, len, &cmd);
}

TEST(CheckRsp, Valid) {
  for (uint8_t op : {RDMABLK_OP_READ, RDMABLK_OP_WRITE, RDMABLK_OP_FLUSH, RDMABLK_OP_DISCARD,
                     RDMABLK_OP_WRITE_ZEROES, RDMABLK_OP_KEEPALIVE, RDMABLK_OP_DISCOVER}) {
    auto cmd = io(op).cmd;
    EXPECT_EQ(check(rsp_for(cmd), cmd), RDMABLK_S_SUCCESS) << int(op);
    EXPECT_EQ(check(rsp_for(cmd, RDMABLK_S_IO_ERROR), cmd), RDMABLK_S_SUCCESS) << int(op);
  }
  auto cmd = login().cmd;
  EXPECT_EQ(check(rsp_for(cmd), cmd, RDMABLK_MAX_RECV_SIZE), RDMABLK_S_SUCCESS);
  EXPECT_EQ(check(rsp_for(cmd, RDMABLK_S_AUTH_FAILED), cmd), RDMABLK_S_SUCCESS);

  cmd = io(RDMABLK_OP_DISCOVER, 0, 160).cmd;
  auto r = rsp_for(cmd);
  r.length = le32(1600);  // the list did not fit
  EXPECT_EQ(check(r, cmd), RDMABLK_S_SUCCESS);

  cmd = io(RDMABLK_OP_READ).cmd;
  cmd.flags = RDMABLK_CMD_F_INVALIDATE;
  r = rsp_for(cmd);
  r.rkey = cmd.rkey;
  EXPECT_EQ(check(r, cmd), RDMABLK_S_SUCCESS);
  r.rkey = 0;
  EXPECT_EQ(check(r, cmd), RDMABLK_S_SUCCESS) << "not invalidated remotely";
  r = rsp_for(cmd, RDMABLK_S_TRANSPORT);
  r.length = le32(2048);
  EXPECT_EQ(check(r, cmd), RDMABLK_S_SUCCESS) << "partial transfer on error";
}

TEST(CheckRsp, BadMessage) {
  auto cmd = io(RDMABLK_OP_READ).cmd;
  auto r = rsp_for(cmd);
  EXPECT_EQ(check(r, cmd, sizeof(r) - 1), RDMABLK_S_BAD_MESSAGE) << "short";
  EXPECT_EQ(check(r, cmd, sizeof(r) + 1), RDMABLK_S_BAD_MESSAGE) << "long";
  r.rsvd0 = 1;
  EXPECT_EQ(check(r, cmd), RDMABLK_S_BAD_MESSAGE) << "rsvd0";
  r = rsp_for(cmd, RDMABLK_S_MAX);
  EXPECT_EQ(check(r, cmd), RDMABLK_S_BAD_MESSAGE) << "unknown status";
  r = rsp_for(cmd);
  r.opcode = RDMABLK_OP_WRITE;
  EXPECT_EQ(check(r, cmd), RDMABLK_S_BAD_MESSAGE) << "opcode mismatch";
  r = rsp_for(cmd);
  r.length = le32(2048);
  EXPECT_EQ(check(r, cmd), RDMABLK_S_BAD_MESSAGE) << "short transfer reported as success";
  r = rsp_for(cmd, RDMABLK_S_IO_ERROR);
  r.length = le32(8192);
  EXPECT_EQ(check(r, cmd), RDMABLK_S_BAD_MESSAGE) << "more than asked";
  r = rsp_for(cmd);
  r.rkey = cmd.rkey;
  EXPECT_EQ(check(r, cmd), RDMABLK_S_BAD_MESSAGE) << "invalidated without being asked";
  cmd.flags = RDMABLK_CMD_F_INVALIDATE;
  r.rkey = le32(0x4321);
  EXPECT_EQ(check(r, cmd), RDMABLK_S_BAD_MESSAGE) << "another key invalidated";

  cmd = io(RDMABLK_OP_FLUSH).cmd;
  r = rsp_for(cmd);
  r.length = le32(1);
  EXPECT_EQ(check(r, cmd), RDMABLK_S_BAD_MESSAGE) << "length on FLUSH";

  cmd = login().cmd;
  r = rsp_for(cmd);
  EXPECT_EQ(check(r, cmd), RDMABLK_S_BAD_MESSAGE) << "login success without payload";
  r.length = 0;
  EXPECT_EQ(check(r, cmd, RDMABLK_MAX_RECV_SIZE), RDMABLK_S_BAD_MESSAGE) << "payload length";
  r = rsp_for(cmd, RDMABLK_S_UNKNOWN_EXPORT);
  EXPECT_EQ(check(r, cmd, RDMABLK_MAX_RECV_SIZE), RDMABLK_S_BAD_MESSAGE) << "payload on failure";
}

// --- discover ----------------------------------------------------------------

rdmablk_discover_entry entry() {
  rdmablk_discover_entry e{};
  set_name(e.export_name, "scratch");
  e.size = le64(kSize);
  e.export_flags = le32(RDMABLK_EXPORT_F_READ_ONLY);
  e.logical_block_size = le32(512);
  e.features = le32(0xffffffff);  // features from the future are fine
  e.needs_secret = 1;
  return e;
}

TEST(CheckDiscoverEntry, ValidAndInvalid) {
  auto e = entry();
  EXPECT_EQ(rdmablk_check_discover_entry(&e), RDMABLK_S_SUCCESS);
  e.needs_secret = 2;
  EXPECT_EQ(rdmablk_check_discover_entry(&e), RDMABLK_S_BAD_MESSAGE);
  e = entry();
  e.rsvd[10] = 1;
  EXPECT_EQ(rdmablk_check_discover_entry(&e), RDMABLK_S_BAD_MESSAGE);
  e = entry();
  set_name(e.export_name, "");
  EXPECT_EQ(rdmablk_check_discover_entry(&e), RDMABLK_S_BAD_MESSAGE);
  e = entry();
  e.logical_block_size = le32(1000);
  EXPECT_EQ(rdmablk_check_discover_entry(&e), RDMABLK_S_BAD_MESSAGE);
  e = entry();
  e.size = le64(kSize + 1);
  EXPECT_EQ(rdmablk_check_discover_entry(&e), RDMABLK_S_BAD_MESSAGE);
  e = entry();
  e.export_flags = le32(0x80);
  EXPECT_EQ(rdmablk_check_discover_entry(&e), RDMABLK_S_BAD_MESSAGE);
}

}  // namespace
