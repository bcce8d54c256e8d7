// The verbs-free decisions of the target's RDMA transport (rdma_login.hpp):
// LOGIN evaluation and grants, I/O queue joins, DISCOVER lists, and the
// command verdicts that decide what runs before any memory is touched.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "ram_backend.hpp"
#include "rdma_login.hpp"
#include "rdmablk/auth.hpp"
#include "rdmablk/login.hpp"

namespace rdmablk::target {
namespace {

namespace asio = boost::asio;

std::unique_ptr<Export> ram_export(const std::string& spec) {
  ExportConfig c = parse_export_spec(spec);
  return std::make_unique<Export>(c, std::make_unique<RamBackend>(c.ram_size, c.block_size ? c.block_size : 512));
}

class RdmaLoginTest : public ::testing::Test {
 protected:
  RdmaLoginTest() {
    std::vector<std::unique_ptr<Export>> v;
    v.push_back(ram_export("vol=ram:1M"));
    v.push_back(ram_export("big4k=ram:4M,bs=4096"));
    v.push_back(ram_export("rom=ram:1M,ro"));
    v.push_back(ram_export("net=ram:1M,allow=10.0.0.0/8"));
    v.push_back(ram_export("byhost=ram:1M,allow=host:alice"));
    v.push_back(ram_export("locked=ram:1M,secret=/nonexistent"));
    v.push_back(ram_export("shared=ram:1M,serial=disk-7"));
    exports_ = ExportTable(std::move(v));
    for (size_t i = 0; i < in_.nonce.size(); ++i) in_.nonce[i] = static_cast<uint8_t>(i * 3 + 1);
    in_.exports = &exports_;
    in_.peer = asio::ip::make_address("10.1.2.3");
    in_.limits = RdmaLimits{};
    in_.secret = [this](const Export& e) -> const std::string* {
      return e.name() == "locked" && have_secret_ ? &secret_ : nullptr;
    };
  }

  // What an initiator sends (the shared rdmablk/login.hpp builds it).
  rdmablk_login_req request(const std::string& exp, const std::string& host = "host-1") {
    login::LoginFields f;
    f.export_name = exp;
    f.host_id = host;
    f.features = RDMABLK_FEAT_ALL;
    f.nr_queues = 4;
    f.queue_depth = 32;
    f.max_io_size = 256 << 10;
    return login::make_login_req(f, in_.nonce);
  }

  void sign(rdmablk_login_req& r, const std::string& secret) { login::sign_login_req(r, secret, in_.nonce); }

  ExportTable exports_;
  LoginInput in_;
  std::string secret_ = "s3cret";
  bool have_secret_ = true;
};

TEST_F(RdmaLoginTest, GrantsAreTheMinimumOfAskedAndLimits) {
  in_.limits.max_io_queues = 2;
  in_.limits.max_queue_depth = 64;
  in_.limits.max_io_size = 1 << 20;
  in_.limits.max_inline = 4096;
  auto req = request("vol");
  LoginOutcome out = evaluate_login(req, in_);
  ASSERT_EQ(out.status, RDMABLK_S_SUCCESS) << out.reason;
  EXPECT_EQ(out.exp, exports_.find("vol"));
  EXPECT_EQ(out.nr_queues, 2);     // asked 4, limit 2
  EXPECT_EQ(out.queue_depth, 32);  // asked 32, limit 64
  EXPECT_EQ(RDMABLK_LE32(out.rsp.max_io_size), 256u << 10);  // asked less than the limit
  EXPECT_EQ(RDMABLK_LE32(out.rsp.max_inline), 4096u);
  EXPECT_EQ(RDMABLK_LE64(out.rsp.size), 1u << 20);
  EXPECT_EQ(RDMABLK_LE32(out.rsp.logical_block_size), 512u);
  // Without a region no DIRECT; everything else a writable RAM export offers.
  const uint32_t features = RDMABLK_LE32(out.rsp.features);
  EXPECT_EQ(features & RDMABLK_FEAT_DIRECT, 0u);
  EXPECT_NE(features & RDMABLK_FEAT_WRITE_ZEROES, 0u);
  EXPECT_EQ(out.limits.features, features);
  EXPECT_EQ(out.limits.max_io_size, 256u << 10);
  EXPECT_EQ(out.limits.size, 1u << 20);

  // What the initiator checks must hold (session id is filled in later).
  out.rsp.session_id = __cpu_to_le64(1);
  EXPECT_EQ(rdmablk_check_login_rsp(&out.rsp, &req), RDMABLK_S_SUCCESS);

  in_.limits.max_io_size = 64 << 10;
  out = evaluate_login(req, in_);
  EXPECT_EQ(out.limits.max_io_size, 64u << 10);
  in_.limits.max_queue_depth = 8;
  EXPECT_EQ(evaluate_login(req, in_).queue_depth, 8);
}

TEST_F(RdmaLoginTest, OnlyAskedFeaturesAreGranted) {
  auto req = request("vol");
  req.features = __cpu_to_le32(RDMABLK_FEAT_FLUSH | (1u << 30));  // an unknown bit is ignored
  LoginOutcome out = evaluate_login(req, in_);
  ASSERT_EQ(out.status, RDMABLK_S_SUCCESS);
  EXPECT_EQ(RDMABLK_LE32(out.rsp.features), RDMABLK_FEAT_FLUSH);
  EXPECT_EQ(RDMABLK_LE32(out.rsp.max_inline), 0u);  // INLINE_WRITE not asked
}

TEST_F(RdmaLoginTest, DirectModeHandsOutTheRegion) {
  in_.region = [](const Export&) -> std::optional<ExportRegion> { return ExportRegion{0x7f0000001000, 0x1234}; };
  auto req = request("big4k");
  LoginOutcome out = evaluate_login(req, in_);
  ASSERT_EQ(out.status, RDMABLK_S_SUCCESS);
  EXPECT_NE(RDMABLK_LE32(out.rsp.features) & RDMABLK_FEAT_DIRECT, 0u);
  EXPECT_EQ(RDMABLK_LE64(out.rsp.region_addr), 0x7f0000001000u);
  EXPECT_EQ(RDMABLK_LE32(out.rsp.region_rkey), 0x1234u);
  EXPECT_EQ(RDMABLK_LE64(out.rsp.region_size), 4u << 20);
  EXPECT_EQ(RDMABLK_LE32(out.rsp.logical_block_size), 4096u);
  out.rsp.session_id = __cpu_to_le64(1);
  EXPECT_EQ(rdmablk_check_login_rsp(&out.rsp, &req), RDMABLK_S_SUCCESS);

  // Not asked: no region in the answer.
  req.features = __cpu_to_le32(RDMABLK_FEAT_ALL & ~RDMABLK_FEAT_DIRECT);
  out = evaluate_login(req, in_);
  EXPECT_EQ(out.rsp.region_addr, 0u);
  EXPECT_EQ(out.rsp.region_rkey, 0u);
}

TEST_F(RdmaLoginTest, ExportIdentityWhenAskedAndDeclared) {
  auto req = request("shared");
  LoginOutcome out = evaluate_login(req, in_);
  ASSERT_EQ(out.status, RDMABLK_S_SUCCESS);
  EXPECT_NE(RDMABLK_LE32(out.rsp.features) & RDMABLK_FEAT_EXPORT_ID, 0u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(out.rsp.export_id)), "disk-7");
  out.rsp.session_id = __cpu_to_le64(1);
  EXPECT_EQ(rdmablk_check_login_rsp(&out.rsp, &req), RDMABLK_S_SUCCESS);

  // Not asked (an older initiator): no identity, all zero.
  req.features = __cpu_to_le32(RDMABLK_FEAT_ALL & ~RDMABLK_FEAT_EXPORT_ID);
  out = evaluate_login(req, in_);
  EXPECT_EQ(RDMABLK_LE32(out.rsp.features) & RDMABLK_FEAT_EXPORT_ID, 0u);
  EXPECT_TRUE(rdmablk_is_zero(out.rsp.export_id, sizeof out.rsp.export_id));

  // Asked, but the export has none.
  req = request("vol");
  out = evaluate_login(req, in_);
  EXPECT_EQ(RDMABLK_LE32(out.rsp.features) & RDMABLK_FEAT_EXPORT_ID, 0u);
  EXPECT_TRUE(rdmablk_is_zero(out.rsp.export_id, sizeof out.rsp.export_id));
}

TEST_F(RdmaLoginTest, ReadOnlyExport) {
  auto req = request("rom");
  LoginOutcome out = evaluate_login(req, in_);
  ASSERT_EQ(out.status, RDMABLK_S_SUCCESS);
  EXPECT_NE(RDMABLK_LE32(out.rsp.export_flags) & RDMABLK_EXPORT_F_READ_ONLY, 0u);
  EXPECT_EQ(RDMABLK_LE32(out.rsp.features) & (RDMABLK_FEAT_FUA | RDMABLK_FEAT_DISCARD | RDMABLK_FEAT_WRITE_ZEROES), 0u);
}

TEST_F(RdmaLoginTest, MalformedRequests) {
  auto req = request("vol");
  req.rsvd0 = 1;
  EXPECT_EQ(evaluate_login(req, in_).status, RDMABLK_S_INVALID_FIELD);
  req = request("vol");
  req.max_io_size = __cpu_to_le32(1000);
  EXPECT_EQ(evaluate_login(req, in_).status, RDMABLK_S_INVALID_FIELD);
  req = request("vol");
  req.queue_depth = 0;
  EXPECT_EQ(evaluate_login(req, in_).status, RDMABLK_S_QUEUE_LIMIT);
  req = request("vol with space");
  EXPECT_EQ(evaluate_login(req, in_).status, RDMABLK_S_INVALID_FIELD);
}

TEST_F(RdmaLoginTest, UnknownExport) {
  EXPECT_EQ(evaluate_login(request("nope"), in_).status, RDMABLK_S_UNKNOWN_EXPORT);
}

TEST_F(RdmaLoginTest, HostDenied) {
  EXPECT_EQ(evaluate_login(request("net"), in_).status, RDMABLK_S_SUCCESS);  // 10.1.2.3 in 10/8
  in_.peer = asio::ip::make_address("192.0.2.7");
  EXPECT_EQ(evaluate_login(request("net"), in_).status, RDMABLK_S_HOST_DENIED);
  EXPECT_EQ(evaluate_login(request("byhost", "bob"), in_).status, RDMABLK_S_HOST_DENIED);
  EXPECT_EQ(evaluate_login(request("byhost", "alice"), in_).status, RDMABLK_S_SUCCESS);
}

TEST_F(RdmaLoginTest, SecretNeedsTheRightMac) {
  auto req = request("locked");
  EXPECT_EQ(evaluate_login(req, in_).status, RDMABLK_S_AUTH_FAILED);  // all-zero MAC
  sign(req, "wrong");
  EXPECT_EQ(evaluate_login(req, in_).status, RDMABLK_S_AUTH_FAILED);
  sign(req, secret_);
  EXPECT_EQ(evaluate_login(req, in_).status, RDMABLK_S_SUCCESS);
  // Bound to the nonce: the same MAC on another connection fails.
  in_.nonce[0] ^= 1;
  EXPECT_EQ(evaluate_login(req, in_).status, RDMABLK_S_AUTH_FAILED);
  in_.nonce[0] ^= 1;
  // Bound to the host id.
  auto other = request("locked", "host-2");
  std::memcpy(other.mac, req.mac, sizeof req.mac);
  EXPECT_EQ(evaluate_login(other, in_).status, RDMABLK_S_AUTH_FAILED);
  // An unreadable secret never opens the export.
  have_secret_ = false;
  EXPECT_EQ(evaluate_login(req, in_).status, RDMABLK_S_AUTH_FAILED);
}

TEST_F(RdmaLoginTest, SecretIgnoredWithoutOne) {
  auto req = request("vol");
  sign(req, "anything");
  EXPECT_EQ(evaluate_login(req, in_).status, RDMABLK_S_SUCCESS);
}

TEST_F(RdmaLoginTest, DiscoverListsAdmittedExportsSorted) {
  auto entries = discover_entries(exports_, asio::ip::make_address("192.0.2.7"), nullptr);
  std::vector<std::string> names;
  for (const auto& e : entries) {
    EXPECT_EQ(rdmablk_check_discover_entry(&e), RDMABLK_S_SUCCESS);
    names.emplace_back(reinterpret_cast<const char*>(e.export_name));
  }
  // "net" does not admit 192.0.2.7; "byhost" admits only by host id.
  EXPECT_EQ(names, (std::vector<std::string>{"big4k", "locked", "rom", "shared", "vol"}));
  EXPECT_NE(RDMABLK_LE32(entries[3].features) & RDMABLK_FEAT_EXPORT_ID, 0u) << "shared has a serial";
  EXPECT_EQ(RDMABLK_LE32(entries[4].features) & RDMABLK_FEAT_EXPORT_ID, 0u) << "vol has none";
  EXPECT_EQ(entries[1].needs_secret, 1);
  EXPECT_EQ(entries[0].needs_secret, 0);
  EXPECT_EQ(RDMABLK_LE32(entries[0].logical_block_size), 4096u);
  EXPECT_NE(RDMABLK_LE32(entries[2].export_flags) & RDMABLK_EXPORT_F_READ_ONLY, 0u);

  auto from_net = discover_entries(exports_, asio::ip::make_address("10.9.9.9"), nullptr);
  EXPECT_EQ(from_net.size(), 6u);
  auto with_region = discover_entries(exports_, asio::ip::make_address("10.9.9.9"),
                                      [](const Export&) { return std::optional<ExportRegion>(ExportRegion{1, 2}); });
  EXPECT_NE(RDMABLK_LE32(with_region[0].features) & RDMABLK_FEAT_DIRECT, 0u);
}

rdmablk_cm_req join_request(uint16_t qid, uint64_t session, const std::array<uint8_t, RDMABLK_TICKET_LEN>& ticket) {
  rdmablk_cm_req r{};
  r.magic = __cpu_to_le32(RDMABLK_MAGIC);
  r.version = __cpu_to_le16(RDMABLK_PROTO_VERSION);
  r.qid = __cpu_to_le16(qid);
  r.queue_depth = __cpu_to_le16(16);
  r.session_id = __cpu_to_le64(session);
  std::memcpy(r.ticket, ticket.data(), ticket.size());
  return r;
}

TEST(RdmaJoin, Judgement) {
  SessionKeys keys;
  keys.id = 77;
  keys.ticket.fill(0xab);
  keys.nr_queues = 2;
  keys.queue_depth = 16;
  auto req = join_request(1, 77, keys.ticket);
  EXPECT_EQ(rdmablk_check_cm_req(&req, sizeof req), RDMABLK_S_SUCCESS);
  EXPECT_EQ(judge_join(req, &keys, false), RDMABLK_S_SUCCESS);
  EXPECT_EQ(judge_join(req, &keys, true), RDMABLK_S_QUEUE_LIMIT);  // already connected
  EXPECT_EQ(judge_join(req, nullptr, false), RDMABLK_S_BAD_TICKET);  // no such session
  auto wrong = keys.ticket;
  wrong[15] ^= 1;
  auto bad = join_request(1, 77, wrong);
  EXPECT_EQ(judge_join(bad, &keys, false), RDMABLK_S_BAD_TICKET);
  auto beyond = join_request(3, 77, keys.ticket);
  EXPECT_EQ(judge_join(beyond, &keys, false), RDMABLK_S_QUEUE_LIMIT);
  // The ticket is checked before the queue limits.
  auto both = join_request(3, 77, wrong);
  EXPECT_EQ(judge_join(both, &keys, true), RDMABLK_S_BAD_TICKET);
}

// --- Command verdicts -----------------------------------------------------------

rdmablk_export_limits limits(uint32_t features = RDMABLK_FEAT_ALL & ~RDMABLK_FEAT_DIRECT, uint32_t flags = 0) {
  rdmablk_export_limits l{};
  l.size = 1 << 20;
  l.logical_block_size = 512;
  l.max_io_size = 128 << 10;
  l.max_inline = 4096;
  l.features = features;
  l.export_flags = flags;
  return l;
}

rdmablk_cmd cmd(uint8_t op, uint64_t offset, uint32_t length, uint8_t flags = 0) {
  rdmablk_cmd c{};
  c.opcode = op;
  c.flags = flags;
  c.tag = __cpu_to_le32(9);
  c.offset = __cpu_to_le64(offset);
  c.length = __cpu_to_le32(length);
  if (op == RDMABLK_OP_READ || (op == RDMABLK_OP_WRITE && !(flags & RDMABLK_CMD_F_INLINE)) ||
      op == RDMABLK_OP_DISCOVER) {
    c.rkey = __cpu_to_le32(0x42);
    c.addr = __cpu_to_le64(0x1000);
  }
  return c;
}

TEST(RdmaCommand, ShortMessageDisconnects) {
  auto v = judge_command(cmd(RDMABLK_OP_READ, 0, 512), 63, nullptr, false);
  EXPECT_TRUE(v.disconnect);
  EXPECT_EQ(v.status, RDMABLK_S_BAD_MESSAGE);
}

TEST(RdmaCommand, BeforeLogin) {
  EXPECT_EQ(judge_command(cmd(RDMABLK_OP_READ, 0, 512), 64, nullptr, false).status, RDMABLK_S_NOT_LOGGED_IN);
  EXPECT_EQ(judge_command(cmd(RDMABLK_OP_KEEPALIVE, 0, 0), 64, nullptr, false).status, RDMABLK_S_SUCCESS);
  EXPECT_EQ(judge_command(cmd(RDMABLK_OP_DISCOVER, 0, 0), 64, nullptr, false).status, RDMABLK_S_SUCCESS);
  EXPECT_EQ(judge_command(cmd(RDMABLK_OP_LOGIN, 0, 256), 64 + 256, nullptr, false).status, RDMABLK_S_SUCCESS);
  EXPECT_EQ(judge_command(cmd(RDMABLK_OP_LOGIN, 0, 256), 64, nullptr, false).status, RDMABLK_S_INVALID_FIELD);
  // No flag before login, so no invalidation either.
  auto v = judge_command(cmd(RDMABLK_OP_DISCOVER, 0, 160, RDMABLK_CMD_F_INVALIDATE), 64, nullptr, false);
  EXPECT_EQ(v.status, RDMABLK_S_INVALID_FIELD);
  EXPECT_FALSE(v.invalidate);
}

TEST(RdmaCommand, AfterLogin) {
  auto l = limits();
  EXPECT_EQ(judge_command(cmd(RDMABLK_OP_READ, 4096, 8192), 64, &l, false).status, RDMABLK_S_SUCCESS);
  EXPECT_EQ(judge_command(cmd(RDMABLK_OP_LOGIN, 0, 256), 64 + 256, &l, false).status, RDMABLK_S_INVALID_OPCODE);
  EXPECT_EQ(judge_command(cmd(RDMABLK_OP_DISCOVER, 0, 0), 64, &l, false).status, RDMABLK_S_INVALID_OPCODE);
  EXPECT_EQ(judge_command(cmd(0x7f, 0, 0), 64, &l, false).status, RDMABLK_S_INVALID_OPCODE);
  EXPECT_EQ(judge_command(cmd(RDMABLK_OP_READ, 100, 512), 64, &l, false).status, RDMABLK_S_INVALID_FIELD);
  EXPECT_EQ(judge_command(cmd(RDMABLK_OP_READ, 0, 0), 64, &l, false).status, RDMABLK_S_INVALID_FIELD);
  EXPECT_EQ(judge_command(cmd(RDMABLK_OP_READ, 0, 256 << 10), 64, &l, false).status, RDMABLK_S_TOO_LARGE);
  EXPECT_EQ(judge_command(cmd(RDMABLK_OP_READ, (1 << 20) - 512, 1024), 64, &l, false).status, RDMABLK_S_OUT_OF_RANGE);
  EXPECT_EQ(judge_command(cmd(RDMABLK_OP_READ, ~0ull - 511, 1024), 64, &l, false).status, RDMABLK_S_OUT_OF_RANGE);
  EXPECT_EQ(judge_command(cmd(RDMABLK_OP_WRITE, 0, 512), 64 + 512, &l, false).status, RDMABLK_S_INVALID_FIELD);
  EXPECT_EQ(judge_command(cmd(RDMABLK_OP_WRITE, 0, 512, RDMABLK_CMD_F_INLINE), 64 + 512, &l, false).status,
            RDMABLK_S_SUCCESS);
  EXPECT_EQ(judge_command(cmd(RDMABLK_OP_WRITE, 0, 8192, RDMABLK_CMD_F_INLINE), 64 + 8192, &l, false).status,
            RDMABLK_S_INVALID_FIELD);  // over max_inline
}

TEST(RdmaCommand, FeaturesAndReadOnly) {
  auto l = limits(RDMABLK_FEAT_FLUSH);
  EXPECT_EQ(judge_command(cmd(RDMABLK_OP_DISCARD, 0, 512), 64, &l, false).status, RDMABLK_S_UNSUPPORTED);
  EXPECT_EQ(judge_command(cmd(RDMABLK_OP_WRITE, 0, 512, RDMABLK_CMD_F_FUA), 64, &l, false).status,
            RDMABLK_S_INVALID_FIELD);
  auto ro = limits(RDMABLK_FEAT_FLUSH, RDMABLK_EXPORT_F_READ_ONLY);
  EXPECT_EQ(judge_command(cmd(RDMABLK_OP_WRITE, 0, 512), 64, &ro, false).status, RDMABLK_S_READ_ONLY);
  EXPECT_EQ(judge_command(cmd(RDMABLK_OP_FLUSH, 0, 0), 64, &ro, false).status, RDMABLK_S_SUCCESS);
  EXPECT_EQ(judge_command(cmd(RDMABLK_OP_READ, 0, 512), 64, &ro, false).status, RDMABLK_S_SUCCESS);
}

TEST(RdmaCommand, InvalidateOnlyAfterValidation) {
  auto l = limits();
  auto ok = judge_command(cmd(RDMABLK_OP_READ, 0, 512, RDMABLK_CMD_F_INVALIDATE), 64, &l, false);
  EXPECT_EQ(ok.status, RDMABLK_S_SUCCESS);
  EXPECT_TRUE(ok.invalidate);
  auto bad = judge_command(cmd(RDMABLK_OP_READ, 1 << 20, 512, RDMABLK_CMD_F_INVALIDATE), 64, &l, false);
  EXPECT_EQ(bad.status, RDMABLK_S_OUT_OF_RANGE);
  EXPECT_FALSE(bad.invalidate);
  // Not granted: the flag itself is invalid.
  auto no_inv = limits(RDMABLK_FEAT_FLUSH);
  EXPECT_FALSE(judge_command(cmd(RDMABLK_OP_READ, 0, 512, RDMABLK_CMD_F_INVALIDATE), 64, &no_inv, false).invalidate);
}

TEST(RdmaCommand, StoppingAnswersShuttingDownButStillInvalidates) {
  auto l = limits();
  auto v = judge_command(cmd(RDMABLK_OP_READ, 0, 512, RDMABLK_CMD_F_INVALIDATE), 64, &l, true);
  EXPECT_EQ(v.status, RDMABLK_S_SHUTTING_DOWN);
  EXPECT_TRUE(v.invalidate);
  // A bad command still gets its own status.
  EXPECT_EQ(judge_command(cmd(RDMABLK_OP_READ, 3, 512), 64, &l, true).status, RDMABLK_S_INVALID_FIELD);
}

TEST(RdmaJoin, ReadConnectRequest) {
  std::array<uint8_t, RDMABLK_TICKET_LEN> ticket{};
  ticket.fill(7);
  auto good = join_request(2, 77, ticket);
  rdmablk_cm_req out{};
  // IB pads private data to 56 bytes or more; the extra is ignored.
  std::vector<uint8_t> padded(sizeof good + 8, 0xee);
  std::memcpy(padded.data(), &good, sizeof good);
  EXPECT_EQ(read_cm_req(padded.data(), padded.size(), out), RDMABLK_S_SUCCESS);
  EXPECT_EQ(std::memcmp(&out, &good, sizeof out), 0);
  EXPECT_EQ(read_cm_req(nullptr, 0, out), RDMABLK_S_BAD_MESSAGE);
  EXPECT_EQ(read_cm_req(&good, sizeof good - 1, out), RDMABLK_S_BAD_MESSAGE);
  good.version = __cpu_to_le16(RDMABLK_PROTO_VERSION + 1);
  EXPECT_EQ(read_cm_req(&good, 6, out), RDMABLK_S_VERSION);
}

TEST(RdmaCommand, ResponseHeader) {
  auto read = cmd(RDMABLK_OP_READ, 0, 4096, RDMABLK_CMD_F_INVALIDATE);
  auto ok = make_response(read, RDMABLK_S_SUCCESS, 0, true);
  EXPECT_EQ(ok.tag, read.tag);
  EXPECT_EQ(RDMABLK_LE32(ok.length), 4096u);
  EXPECT_EQ(ok.rkey, read.rkey);
  EXPECT_EQ(rdmablk_check_rsp(&ok, sizeof ok, &read), RDMABLK_S_SUCCESS);
  // A failed READ moved nothing; without invalidation no key is named.
  auto failed = make_response(read, RDMABLK_S_IO_ERROR, 4096, false);
  EXPECT_EQ(failed.length, 0u);
  EXPECT_EQ(failed.rkey, 0u);
  EXPECT_EQ(RDMABLK_LE16(failed.status), RDMABLK_S_IO_ERROR);
  auto login = cmd(RDMABLK_OP_LOGIN, 0, 256);
  auto in = make_response(login, RDMABLK_S_SUCCESS, sizeof(rdmablk_login_rsp), false);
  EXPECT_EQ(RDMABLK_LE32(in.length), sizeof(rdmablk_login_rsp));
}

TEST(RdmaCommand, OpsAndErrnos) {
  EXPECT_EQ(io_op(RDMABLK_OP_READ), IoOp::read);
  EXPECT_EQ(io_op(RDMABLK_OP_WRITE), IoOp::write);
  EXPECT_EQ(io_op(RDMABLK_OP_FLUSH), IoOp::flush);
  EXPECT_EQ(io_op(RDMABLK_OP_DISCARD), IoOp::discard);
  EXPECT_EQ(io_op(RDMABLK_OP_WRITE_ZEROES), IoOp::write_zeroes);
  EXPECT_EQ(status_from_errno(0), RDMABLK_S_SUCCESS);
  EXPECT_EQ(status_from_errno(ENOSPC), RDMABLK_S_NO_SPACE);
  EXPECT_EQ(status_from_errno(EIO), RDMABLK_S_IO_ERROR);
}

}  // namespace
}  // namespace rdmablk::target
