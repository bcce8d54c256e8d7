// The pure parts of librdmablk's RDMA connection setup (rdma_login.cpp):
// private data, the LOGIN payload and its MAC, login answers and refusals,
// DISCOVER lists, and rdma:// URL options. No RDMA device needed.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "../../../initiator/src/client_options.hpp"
#include "../../../initiator/src/rdma_login.hpp"
#include "../common/login_fixtures.hpp"
#include "error_of.hpp"
#include "rdmablk/auth.hpp"
#include "rdmablk/proto_check.h"
#include "rdmablk/url.hpp"

namespace rdmablk::rdma {
namespace {

std::error_code errc(std::errc e) { return std::make_error_code(e); }

using rdmablk::test_util::error_of;

bool has(const Error& e, const std::string& text) { return std::string(e.what()).find(text) != std::string::npos; }

Nonce test_nonce() {
  Nonce n;
  for (size_t i = 0; i < n.size(); ++i) n[i] = static_cast<uint8_t>(i + 1);
  return n;
}

rdmablk_cm_rep good_rep(uint16_t qid, uint16_t depth, uint32_t max_inline) {
  rdmablk_cm_rep rep{};
  rep.magic = __cpu_to_le32(RDMABLK_MAGIC);
  rep.version = __cpu_to_le16(RDMABLK_PROTO_VERSION);
  rep.qid = __cpu_to_le16(qid);
  rep.queue_depth = __cpu_to_le16(depth);
  rep.max_inline = __cpu_to_le32(max_inline);
  if (qid == 0) {
    Nonce n = test_nonce();
    std::memcpy(rep.nonce, n.data(), n.size());
  }
  return rep;
}

// ---- connect request / accept / reject ----

TEST(RdmaCm, RequestForQueue0) {
  rdmablk_cm_req req = make_cm_req(0, 32);
  EXPECT_EQ(RDMABLK_LE32(req.magic), RDMABLK_MAGIC);
  EXPECT_EQ(RDMABLK_LE16(req.version), RDMABLK_PROTO_VERSION);
  EXPECT_EQ(RDMABLK_LE16(req.qid), 0);
  EXPECT_EQ(RDMABLK_LE16(req.queue_depth), 32);
  EXPECT_EQ(req.session_id, 0u);
  EXPECT_TRUE(rdmablk_is_zero(req.ticket, sizeof req.ticket));
  EXPECT_EQ(rdmablk_check_cm_req(&req, sizeof req), RDMABLK_S_SUCCESS);
}

TEST(RdmaCm, RequestJoiningASession) {
  Ticket t;
  t.fill(0xab);
  rdmablk_cm_req req = make_cm_req(3, 128, 0x1122334455667788ull, t);
  EXPECT_EQ(RDMABLK_LE16(req.qid), 3);
  EXPECT_EQ(RDMABLK_LE64(req.session_id), 0x1122334455667788ull);
  EXPECT_EQ(std::memcmp(req.ticket, t.data(), t.size()), 0);
  EXPECT_EQ(rdmablk_check_cm_req(&req, sizeof req), RDMABLK_S_SUCCESS);
}

TEST(RdmaCm, AcceptParsed) {
  auto rep = good_rep(0, 16, 4096);
  CmAccept a = parse_cm_rep(&rep, sizeof rep, 0, 32, "t:1");
  EXPECT_EQ(a.queue_depth, 16);
  EXPECT_EQ(a.max_inline, 4096u);
  EXPECT_EQ(a.nonce, test_nonce());
  auto io = good_rep(2, 32, 0);
  EXPECT_EQ(parse_cm_rep(&io, sizeof io, 2, 32, "t:1").queue_depth, 32);
}

TEST(RdmaCm, AcceptWithPaddingAndUnalignedIsFine) {
  // RoCE pads accept private data to 196 bytes; it may sit at any address.
  std::vector<uint8_t> buf(197, 0);
  auto rep = good_rep(0, 8, 256);
  std::memcpy(buf.data() + 1, &rep, sizeof rep);
  EXPECT_EQ(parse_cm_rep(buf.data() + 1, 196, 0, 8, "t:1").queue_depth, 8);
}

TEST(RdmaCm, BadAcceptsAreProtocolErrors) {
  auto rep = good_rep(0, 16, 4096);
  // short
  EXPECT_EQ(error_of([&] { parse_cm_rep(&rep, 20, 0, 16, "t:1"); }).code(), errc(std::errc::protocol_error));
  EXPECT_EQ(error_of([&] { parse_cm_rep(&rep, 3, 0, 16, "t:1"); }).code(), errc(std::errc::protocol_error));
  EXPECT_EQ(error_of([&] { parse_cm_rep(nullptr, 56, 0, 16, "t:1"); }).code(), errc(std::errc::protocol_error));
  // more depth than asked, another queue, no nonce on queue 0, max_inline too small for LOGIN
  EXPECT_EQ(error_of([&] { parse_cm_rep(&rep, sizeof rep, 0, 8, "t:1"); }).code(), errc(std::errc::protocol_error));
  EXPECT_EQ(error_of([&] { parse_cm_rep(&rep, sizeof rep, 1, 16, "t:1"); }).code(), errc(std::errc::protocol_error));
  auto r2 = rep;
  std::memset(r2.nonce, 0, sizeof r2.nonce);
  EXPECT_EQ(error_of([&] { parse_cm_rep(&r2, sizeof r2, 0, 16, "t:1"); }).code(), errc(std::errc::protocol_error));
  r2 = rep;
  r2.max_inline = __cpu_to_le32(64);
  EXPECT_EQ(error_of([&] { parse_cm_rep(&r2, sizeof r2, 0, 16, "t:1"); }).code(), errc(std::errc::protocol_error));
  r2 = rep;
  r2.rsvd1[3] = 1;
  Error e = error_of([&] { parse_cm_rep(&r2, sizeof r2, 0, 16, "t:1"); });
  EXPECT_EQ(e.code(), errc(std::errc::protocol_error));
  EXPECT_TRUE(has(e, "t:1")) << e.what();
  EXPECT_TRUE(has(e, "malformed")) << e.what();
  r2 = rep;
  r2.magic = 0;
  EXPECT_EQ(error_of([&] { parse_cm_rep(&r2, sizeof r2, 0, 16, "t:1"); }).code(), errc(std::errc::protocol_error));
}

TEST(RdmaCm, AcceptOfAnotherVersion) {
  auto rep = good_rep(0, 16, 4096);
  rep.version = __cpu_to_le16(RDMABLK_PROTO_VERSION + 1);
  EXPECT_EQ(error_of([&] { parse_cm_rep(&rep, 6, 0, 16, "t:1"); }).code(),
            errc(std::errc::protocol_not_supported));
}

rdmablk_cm_rej make_rej(int status, uint16_t version = RDMABLK_PROTO_VERSION) {
  rdmablk_cm_rej rej{};
  rej.magic = __cpu_to_le32(RDMABLK_MAGIC);
  rej.version = __cpu_to_le16(version);
  rej.status = __cpu_to_le16(static_cast<uint16_t>(status));
  return rej;
}

TEST(RdmaCm, RejectNamesTheTypedReason) {
  struct Case {
    int status;
    std::errc code;
  } cases[] = {
      {RDMABLK_S_BAD_TICKET, std::errc::permission_denied},
      {RDMABLK_S_QUEUE_LIMIT, std::errc::result_out_of_range},
      {RDMABLK_S_NO_RESOURCES, std::errc::resource_unavailable_try_again},
      {RDMABLK_S_BAD_MESSAGE, std::errc::protocol_error},
  };
  for (const auto& c : cases) {
    auto rej = make_rej(c.status);
    Error e = reject_error(&rej, sizeof rej, "h:7471");
    EXPECT_EQ(e.code(), errc(c.code)) << c.status;
    EXPECT_EQ(std::string(e.what()),
              std::string("h:7471: connection refused by target: ") + rdmablk_status_str(c.status));
  }
  auto shut = make_rej(RDMABLK_S_SHUTTING_DOWN);
  EXPECT_EQ(reject_error(&shut, sizeof shut, "h").code().value(), ESHUTDOWN);
}

TEST(RdmaCm, VersionRejectSaysBothVersions) {
  // Padded to 148 bytes as on RoCE.
  std::vector<uint8_t> buf(148, 0);
  auto rej = make_rej(RDMABLK_S_VERSION, 7);
  std::memcpy(buf.data(), &rej, sizeof rej);
  Error e = reject_error(buf.data(), buf.size(), "h:1");
  EXPECT_EQ(e.code(), errc(std::errc::protocol_not_supported));
  EXPECT_TRUE(has(e, "protocol version not supported")) << e.what();
  EXPECT_TRUE(has(e, "up to 7")) << e.what();
}

TEST(RdmaCm, ForeignRejectMeansNoTarget) {
  std::vector<uint8_t> zeros(148, 0);
  for (auto [p, n] : {std::pair<const void*, size_t>{zeros.data(), zeros.size()}, {nullptr, 0}, {zeros.data(), 8}}) {
    Error e = reject_error(p, n, "h:1");
    EXPECT_EQ(e.code(), errc(std::errc::connection_refused));
    EXPECT_TRUE(has(e, "no rdmablk target")) << e.what();
  }
  auto bad = make_rej(RDMABLK_S_MAX);  // unknown status: not an rdmablk reject
  EXPECT_EQ(reject_error(&bad, sizeof bad, "h").code(), errc(std::errc::connection_refused));
  auto ok = make_rej(RDMABLK_S_SUCCESS);
  EXPECT_EQ(reject_error(&ok, sizeof ok, "h").code(), errc(std::errc::connection_refused));
}

// ---- login ----

LoginParams params() {
  LoginParams p;
  p.export_name = "vol0";
  p.host_id = "host-1";
  p.features = RDMABLK_FEAT_INLINE_WRITE | RDMABLK_FEAT_FLUSH | RDMABLK_FEAT_DIRECT;
  p.nr_queues = 3;
  p.queue_depth = 64;
  p.max_io_size = 1u << 20;
  return p;
}

TEST(RdmaLogin, RequestFields) {
  rdmablk_login_req req = make_login_req(params(), test_nonce());
  EXPECT_EQ(rdmablk_check_login_req(&req), RDMABLK_S_SUCCESS);
  EXPECT_EQ(RDMABLK_LE32(req.features), RDMABLK_FEAT_INLINE_WRITE | RDMABLK_FEAT_FLUSH | RDMABLK_FEAT_DIRECT);
  EXPECT_EQ(RDMABLK_LE16(req.nr_queues), 3);
  EXPECT_EQ(RDMABLK_LE16(req.queue_depth), 64);
  EXPECT_EQ(RDMABLK_LE32(req.max_io_size), 1u << 20);
  EXPECT_EQ(field_name(req.export_name, sizeof req.export_name), "vol0");
  EXPECT_EQ(field_name(req.host_id, sizeof req.host_id), "host-1");
  EXPECT_TRUE(rdmablk_is_zero(req.export_name + 4, sizeof req.export_name - 4));
  EXPECT_TRUE(rdmablk_is_zero(req.mac, sizeof req.mac));  // no secret
}

TEST(RdmaLogin, MacCoversNonceAndPaddedNames) {
  auto p = params();
  p.secret = "s3cret\x01\xff";
  Nonce nonce = test_nonce();
  rdmablk_login_req req = make_login_req(p, nonce);
  Mac want = login_mac(*p.secret, nonce, std::span<const uint8_t, RDMABLK_EXPORT_NAME_MAX>(req.export_name),
                       std::span<const uint8_t, RDMABLK_HOST_ID_MAX>(req.host_id));
  EXPECT_EQ(std::memcmp(req.mac, want.data(), want.size()), 0);
  // Independent check of the message layout: nonce || name[128] || host[64].
  std::vector<uint8_t> msg(nonce.begin(), nonce.end());
  msg.insert(msg.end(), req.export_name, req.export_name + RDMABLK_EXPORT_NAME_MAX);
  msg.insert(msg.end(), req.host_id, req.host_id + RDMABLK_HOST_ID_MAX);
  ASSERT_EQ(msg.size(), 224u);
  Mac direct = hmac_sha256({reinterpret_cast<const uint8_t*>(p.secret->data()), p.secret->size()}, msg);
  EXPECT_EQ(std::memcmp(req.mac, direct.data(), direct.size()), 0);
  // Another nonce, another MAC.
  Nonce other = nonce;
  other[0] ^= 1;
  rdmablk_login_req req2 = make_login_req(p, other);
  EXPECT_NE(std::memcmp(req.mac, req2.mac, sizeof req.mac), 0);
}

TEST(RdmaLogin, NamesTheProtocolCannotCarry) {
  for (std::string bad : {std::string(), std::string("has space"), std::string(129, 'x'), std::string("caf\xc3\xa9")}) {
    auto p = params();
    p.export_name = bad;
    EXPECT_EQ(error_of([&] { make_login_req(p, test_nonce()); }).code(), errc(std::errc::invalid_argument)) << bad;
  }
  auto p = params();
  p.host_id = std::string(65, 'h');
  Error e = error_of([&] { make_login_req(p, test_nonce()); });
  EXPECT_EQ(e.code(), errc(std::errc::invalid_argument));
  EXPECT_TRUE(has(e, "host id")) << e.what();
  p.host_id = std::string(64, 'h');  // fills the field exactly: fine
  EXPECT_NO_THROW(make_login_req(p, test_nonce()));
}

TEST(RdmaLogin, DefaultHostIdIsAValidName) {
  std::string id = default_host_id();
  ASSERT_FALSE(id.empty());
  auto p = params();
  p.host_id = id;
  EXPECT_NO_THROW(make_login_req(p, test_nonce()));
}

rdmablk_rsp login_answer(int status) {
  rdmablk_rsp rsp{};
  rsp.tag = __cpu_to_le32(1);
  rsp.status = __cpu_to_le16(static_cast<uint16_t>(status));
  rsp.opcode = RDMABLK_OP_LOGIN;
  rsp.length = __cpu_to_le32(status == RDMABLK_S_SUCCESS ? sizeof(rdmablk_login_rsp) : 0);
  return rsp;
}

std::span<const std::byte> bytes(const rdmablk_login_rsp& r) { return std::as_bytes(std::span(&r, 1)); }

TEST(RdmaLogin, GrantedSession) {
  auto req = make_login_req(params(), test_nonce());
  auto lr = login_fixtures::good_login_rsp();
  Session s = parse_login_rsp(login_answer(RDMABLK_S_SUCCESS), bytes(lr), req, "h:1");
  EXPECT_EQ(s.session_id, 42u);
  EXPECT_EQ(s.ticket[0], 0x5a);
  EXPECT_EQ(s.nr_queues, 2);
  EXPECT_EQ(s.queue_depth, 32);
  EXPECT_EQ(s.max_io_size, 512u * 1024);
  EXPECT_EQ(s.max_inline, 4096u);
  EXPECT_EQ(s.region_addr, 0x7f0000000000ull);
  EXPECT_EQ(s.region_rkey, 0x1234u);
  EXPECT_EQ(s.info.name, "vol0");
  EXPECT_EQ(s.info.size, 64ull << 20);
  EXPECT_EQ(s.info.min_block_size, 512u);
  EXPECT_EQ(s.info.max_block_size, 512u * 1024);
  EXPECT_GE(s.info.preferred_block_size, 4096u);
  EXPECT_TRUE(s.info.can_flush);
  EXPECT_FALSE(s.info.can_fua);
  EXPECT_FALSE(s.info.can_trim);
  EXPECT_TRUE(s.info.can_multi_conn);
  EXPECT_TRUE(s.info.can_direct);
  EXPECT_FALSE(s.info.read_only);
}

TEST(RdmaLogin, RefusalsAreOneClearLine) {
  auto req = make_login_req(params(), test_nonce());
  struct Case {
    int status;
    std::errc code;
    const char* words;
  } cases[] = {
      {RDMABLK_S_UNKNOWN_EXPORT, std::errc::no_such_file_or_directory, "unknown export"},
      {RDMABLK_S_HOST_DENIED, std::errc::permission_denied, "host not allowed"},
      {RDMABLK_S_AUTH_FAILED, std::errc::permission_denied, "authentication failed"},
      {RDMABLK_S_QUEUE_LIMIT, std::errc::result_out_of_range, "queue limit"},
      {RDMABLK_S_INVALID_FIELD, std::errc::protocol_error, "invalid field"},
  };
  for (const auto& c : cases) {
    Error e = error_of([&] { parse_login_rsp(login_answer(c.status), {}, req, "h:7471"); });
    EXPECT_EQ(e.code(), errc(c.code)) << c.status;
    EXPECT_TRUE(has(e, "h:7471: login refused by target: ")) << e.what();
    EXPECT_TRUE(has(e, c.words)) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
  }
}

TEST(RdmaLogin, AuthFailureWithoutSecretHintsAtIt) {
  auto req = make_login_req(params(), test_nonce());
  Error e = error_of([&] { parse_login_rsp(login_answer(RDMABLK_S_AUTH_FAILED), {}, req, "h"); });
  EXPECT_TRUE(has(e, "secret")) << e.what();
  auto p = params();
  p.secret = "x";
  auto with = make_login_req(p, test_nonce());
  Error e2 = error_of([&] { parse_login_rsp(login_answer(RDMABLK_S_AUTH_FAILED), {}, with, "h"); });
  EXPECT_FALSE(has(e2, "secret_file")) << e2.what();
}

TEST(RdmaLogin, MalformedAnswersAreProtocolErrors) {
  auto req = make_login_req(params(), test_nonce());
  auto ok = login_answer(RDMABLK_S_SUCCESS);
  auto lr = login_fixtures::good_login_rsp();
  // payload of the wrong size
  EXPECT_EQ(error_of([&] { parse_login_rsp(ok, bytes(lr).first(100), req, "h"); }).code(),
            errc(std::errc::protocol_error));
  EXPECT_EQ(error_of([&] { parse_login_rsp(ok, {}, req, "h"); }).code(), errc(std::errc::protocol_error));
  auto mutate = [&](auto f) {
    auto r = login_fixtures::good_login_rsp();
    f(r);
    return error_of([&] { parse_login_rsp(ok, bytes(r), req, "h"); }).code();
  };
  auto proto = errc(std::errc::protocol_error);
  EXPECT_EQ(mutate([](auto& r) { r.features |= __cpu_to_le32(RDMABLK_FEAT_FUA); }), proto);  // not asked
  EXPECT_EQ(mutate([](auto& r) { r.session_id = 0; }), proto);
  EXPECT_EQ(mutate([](auto& r) { r.nr_queues = __cpu_to_le16(4); }), proto);  // more than asked
  EXPECT_EQ(mutate([](auto& r) { r.queue_depth = __cpu_to_le16(65); }), proto);
  EXPECT_EQ(mutate([](auto& r) { r.max_io_size = __cpu_to_le32(2u << 20); }), proto);
  EXPECT_EQ(mutate([](auto& r) { r.logical_block_size = __cpu_to_le32(1000); }), proto);
  EXPECT_EQ(mutate([](auto& r) { r.size = __cpu_to_le64(1000); }), proto);
  EXPECT_EQ(mutate([](auto& r) { r.region_size = __cpu_to_le64(4096); }), proto);
  EXPECT_EQ(mutate([](auto& r) { r.max_inline = 0; }), proto);
  EXPECT_EQ(mutate([](auto& r) { r.rsvd1[7] = 1; }), proto);
}

TEST(RdmaLogin, StatusErrnos) {
  EXPECT_FALSE(status_errno(RDMABLK_S_SUCCESS));
  EXPECT_EQ(status_errno(RDMABLK_S_IO_ERROR), errc(std::errc::io_error));
  EXPECT_EQ(status_errno(RDMABLK_S_TRANSPORT), errc(std::errc::io_error));
  EXPECT_EQ(status_errno(RDMABLK_S_READ_ONLY), errc(std::errc::operation_not_permitted));
  EXPECT_EQ(status_errno(RDMABLK_S_NO_SPACE), errc(std::errc::no_space_on_device));
  EXPECT_EQ(status_errno(RDMABLK_S_UNSUPPORTED), errc(std::errc::operation_not_supported));
  EXPECT_EQ(status_errno(RDMABLK_S_OUT_OF_RANGE), errc(std::errc::invalid_argument));
}

// ---- discover ----

rdmablk_discover_entry entry(const char* name, uint64_t size, uint32_t features, uint8_t secret) {
  rdmablk_discover_entry e{};
  std::memcpy(e.export_name, name, std::strlen(name));
  e.size = __cpu_to_le64(size);
  e.logical_block_size = __cpu_to_le32(4096);
  e.export_flags = __cpu_to_le32(RDMABLK_EXPORT_F_READ_ONLY);
  e.features = __cpu_to_le32(features);
  e.needs_secret = secret;
  return e;
}

TEST(RdmaDiscover, Entries) {
  std::vector<rdmablk_discover_entry> list{entry("alpha", 1 << 20, RDMABLK_FEAT_DIRECT | RDMABLK_FEAT_FLUSH, 0),
                                           entry("beta", 8192, 1u << 30 /* unknown bit: fine */, 1)};
  auto out = parse_discover(std::as_bytes(std::span(list)), "h");
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].name, "alpha");
  EXPECT_EQ(out[0].size, 1u << 20);
  EXPECT_EQ(out[0].min_block_size, 4096u);
  EXPECT_TRUE(out[0].can_direct);
  EXPECT_TRUE(out[0].can_flush);
  EXPECT_TRUE(out[0].read_only);
  EXPECT_FALSE(out[0].needs_secret);
  EXPECT_EQ(out[1].name, "beta");
  EXPECT_FALSE(out[1].can_direct);
  EXPECT_TRUE(out[1].needs_secret);
  EXPECT_TRUE(parse_discover({}, "h").empty());
}

TEST(RdmaDiscover, BadEntriesAreProtocolErrors) {
  auto check = [](rdmablk_discover_entry e) {
    return error_of([&] { parse_discover(std::as_bytes(std::span(&e, 1)), "h:1"); }).code();
  };
  auto proto = errc(std::errc::protocol_error);
  auto e = entry("x", 4096, 0, 0);
  e.needs_secret = 2;
  EXPECT_EQ(check(e), proto);
  e = entry("x", 4096, 0, 0);
  e.export_name[0] = ' ';
  EXPECT_EQ(check(e), proto);
  e = entry("x", 4097, 0, 0);
  EXPECT_EQ(check(e), proto);
  e = entry("x", 4096, 0, 0);
  e.rsvd[10] = 1;
  EXPECT_EQ(check(e), proto);
  e = entry("x", 4096, 0, 0);
  e.logical_block_size = __cpu_to_le32(8192);
  EXPECT_EQ(check(e), proto);
}

// ---- rdma:// URL options ----

TEST(RdmaUrl, OptionsReachClientOptions) {
  Url u = parse_url("rdma://192.0.2.1/vol0?queues=4&qd=64&mode=direct&host_id=node-7&secret_file=/etc/s&timeout=500");
  EXPECT_EQ(u.transport, Transport::rdma);
  EXPECT_EQ(u.port, RDMABLK_DEFAULT_RDMA_PORT);
  ClientOptions o = apply_url_options({}, u.options);
  EXPECT_EQ(o.queues, 4u);
  EXPECT_EQ(o.queue_depth, 64u);
  EXPECT_EQ(o.mode, RdmaMode::direct);
  EXPECT_EQ(o.host_id, "node-7");
  EXPECT_EQ(o.secret_file, "/etc/s");
  EXPECT_EQ(o.timeout, std::chrono::milliseconds(500));
  EXPECT_EQ(apply_url_options({}, parse_url("rdma://h/x?mode=command").options).mode, RdmaMode::command);
}

TEST(RdmaUrl, BadRdmaUrlsAreEinvalBeforeConnecting) {
  for (const char* url : {"rdma://192.0.2.1/x?mode=fast", "rdma://192.0.2.1/x?qd=0", "rdma://192.0.2.1/x?queues=0",
                          "rdma://192.0.2.1/", "rdma://192.0.2.1/bad%20name", "rdma://192.0.2.1/x?host_id=a%20b"}) {
    Error e = error_of([&] { Client::open(url); });
    EXPECT_EQ(e.code(), errc(std::errc::invalid_argument)) << url << ": " << e.what();
  }
}

TEST(RdmaUrl, MissingSecretFileIsNamed) {
  Error e = error_of([] { Client::open("rdma://192.0.2.1/x?secret_file=/nonexistent/secret"); });
  EXPECT_TRUE(has(e, "/nonexistent/secret")) << e.what();
  EXPECT_NE(e.code(), errc(std::errc::invalid_argument));
}

}  // namespace
}  // namespace rdmablk::rdma
