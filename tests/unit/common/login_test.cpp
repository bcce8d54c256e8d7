// The shared initiator-side login (rdmablk/login.hpp): connect private data,
// the LOGIN payload and its MAC, the name rules, and the decoding of a
// login response, all without a device or a target.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "rdmablk/auth.hpp"
#include "rdmablk/login.hpp"
#include "rdmablk/proto_check.h"

namespace rdmablk::login {
namespace {

Nonce nonce() {
  Nonce n;
  for (size_t i = 0; i < n.size(); ++i) n[i] = static_cast<uint8_t>(i * 7 + 3);
  return n;
}

LoginFields fields() {
  LoginFields f;
  f.export_name = "vol0";
  f.host_id = "host-a";
  f.features = RDMABLK_FEAT_ALL;
  f.nr_queues = 2;
  f.queue_depth = 32;
  f.max_io_size = 512 << 10;
  return f;
}

TEST(LoginCmReq, OpensOrJoinsASession) {
  rdmablk_cm_req open = make_cm_req(0, 32);
  EXPECT_EQ(rdmablk_check_cm_req(&open, sizeof open), RDMABLK_S_SUCCESS);
  EXPECT_EQ(RDMABLK_LE64(open.session_id), 0u);
  Ticket t;
  t.fill(0x42);
  rdmablk_cm_req join = make_cm_req(3, 16, 77, t);
  EXPECT_EQ(rdmablk_check_cm_req(&join, sizeof join), RDMABLK_S_SUCCESS);
  EXPECT_EQ(RDMABLK_LE16(join.qid), 3);
  EXPECT_EQ(RDMABLK_LE64(join.session_id), 77u);
  EXPECT_EQ(join.ticket[RDMABLK_TICKET_LEN - 1], 0x42);
}

TEST(LoginReq, WithoutASecretTheMacIsZero) {
  rdmablk_login_req req = make_login_req(fields(), nonce());
  EXPECT_EQ(rdmablk_check_login_req(&req), RDMABLK_S_SUCCESS);
  EXPECT_TRUE(rdmablk_is_zero(req.mac, sizeof req.mac));
  EXPECT_STREQ(reinterpret_cast<const char*>(req.export_name), "vol0");
  EXPECT_EQ(RDMABLK_LE16(req.queue_depth), 32);
}

TEST(LoginReq, TheMacCoversNonceAndNamesAndResigningFollowsAChange) {
  LoginFields f = fields();
  f.secret = "s3cret";
  rdmablk_login_req req = make_login_req(f, nonce());
  Mac want = login_mac("s3cret", nonce(), req.export_name, req.host_id);
  EXPECT_EQ(std::memcmp(req.mac, want.data(), want.size()), 0);
  // A tool tampering with a name re-signs with sign_login_req.
  put_name(req.host_id, sizeof req.host_id, "host-b");
  sign_login_req(req, "s3cret", nonce());
  Mac again = login_mac("s3cret", nonce(), req.export_name, req.host_id);
  EXPECT_EQ(std::memcmp(req.mac, again.data(), again.size()), 0);
  EXPECT_NE(std::memcmp(want.data(), again.data(), want.size()), 0);
}

TEST(LoginNames, BadNamesAreReportedButStillPut) {
  uint8_t field[RDMABLK_HOST_ID_MAX];
  EXPECT_EQ(put_name(field, sizeof field, "ok-name"), RDMABLK_S_SUCCESS);
  EXPECT_EQ(put_name(field, sizeof field, "with space"), RDMABLK_S_INVALID_FIELD);
  EXPECT_EQ(field[0], 'w');
  EXPECT_EQ(put_name(field, sizeof field, ""), RDMABLK_S_INVALID_FIELD);
  EXPECT_EQ(put_name(field, sizeof field, std::string(sizeof field + 1, 'x')), RDMABLK_S_INVALID_FIELD);
  LoginFields f = fields();
  EXPECT_EQ(check_login_names(f), 0);
  f.host_id = "bad host";
  EXPECT_EQ(check_login_names(f), 2);
  f.export_name = "";
  EXPECT_EQ(check_login_names(f), 1);
}

// A response rdmablk_check_login_rsp() accepts for fields().
rdmablk_login_rsp granted() {
  rdmablk_login_rsp r{};
  r.features = __cpu_to_le32(RDMABLK_FEAT_INLINE_WRITE | RDMABLK_FEAT_FLUSH | RDMABLK_FEAT_DIRECT);
  r.export_flags = __cpu_to_le32(RDMABLK_EXPORT_F_MULTI_CONN);
  r.session_id = __cpu_to_le64(9);
  std::memset(r.ticket, 0x11, sizeof r.ticket);
  r.size = __cpu_to_le64(64ull << 20);
  r.nr_queues = __cpu_to_le16(2);
  r.queue_depth = __cpu_to_le16(16);
  r.max_io_size = __cpu_to_le32(512 * 1024);
  r.max_inline = __cpu_to_le32(4096);
  r.logical_block_size = __cpu_to_le32(512);
  r.physical_block_size = __cpu_to_le32(4096);
  r.optimal_io_size = __cpu_to_le32(128 * 1024);
  r.region_addr = __cpu_to_le64(0x7f0000000000ull);
  r.region_rkey = __cpu_to_le32(0x1234);
  r.region_size = r.size;
  return r;
}

TEST(LoginRsp, DecodesAGrantAndRefusesAShortOne) {
  rdmablk_login_req req = make_login_req(fields(), nonce());
  rdmablk_login_rsp r = granted();
  ASSERT_EQ(rdmablk_check_login_rsp(&r, &req), RDMABLK_S_SUCCESS);
  Grant g;
  ASSERT_EQ(decode_login_rsp(std::as_bytes(std::span(&r, 1)), req, g), RDMABLK_S_SUCCESS);
  EXPECT_EQ(g.session_id, 9u);
  EXPECT_EQ(g.ticket[0], 0x11);
  EXPECT_EQ(g.queue_depth, 16);
  EXPECT_EQ(g.max_inline, 4096u);
  EXPECT_EQ(g.size, 64ull << 20);
  EXPECT_EQ(g.region_rkey, 0x1234u);
  EXPECT_EQ(decode_login_rsp(std::as_bytes(std::span(&r, 1)).first(sizeof r - 1), req, g), RDMABLK_S_BAD_MESSAGE);
}

}  // namespace
}  // namespace rdmablk::login
