// The NBD server's pure decisions: option parsing, export visibility,
// advertised flags, request verdicts.
#include <gtest/gtest.h>

#include <cstring>

#include <boost/asio/ip/address.hpp>

#include "nbd_codec.hpp"
#include "ram_backend.hpp"

namespace rdmablk::target {
namespace {

using boost::asio::ip::make_address;
using Action = nbd_codec::Verdict::Action;

std::unique_ptr<Export> ram_export(const std::string& spec) {
  ExportConfig c = parse_export_spec(spec);
  return std::make_unique<Export>(c, std::make_unique<RamBackend>(c.ram_size, c.block_size ? c.block_size : 512));
}

std::vector<std::byte> info_data(std::string_view name, std::vector<uint16_t> types) {
  std::vector<std::byte> out;
  auto put = [&](const auto& v) {
    auto b = std::as_bytes(std::span(&v, 1));
    out.insert(out.end(), b.begin(), b.end());
  };
  put(nbd::be32(static_cast<uint32_t>(name.size())));
  for (char c : name) out.push_back(static_cast<std::byte>(c));
  put(nbd::be16(static_cast<uint16_t>(types.size())));
  for (auto t : types) put(nbd::be16(t));
  return out;
}

nbd::Request request(uint16_t type, uint16_t flags, uint64_t offset, uint32_t length) {
  nbd::Request r;
  r.magic = nbd::kRequestMagic;
  r.type = type;
  r.flags = flags;
  r.cookie = 1;
  r.offset = offset;
  r.length = length;
  return r;
}

TEST(NbdCodec, ParseInfoRequest) {
  auto req = nbd_codec::parse_info_request(info_data("vol0", {nbd::kInfoName, nbd::kInfoBlockSize}));
  ASSERT_TRUE(req);
  EXPECT_EQ(req->name, "vol0");
  EXPECT_EQ(req->info_types, (std::vector<uint16_t>{nbd::kInfoName, nbd::kInfoBlockSize}));
  EXPECT_TRUE(nbd_codec::parse_info_request(info_data("", {})));
}

TEST(NbdCodec, ParseInfoRequestRejectsInconsistentLengths) {
  auto good = info_data("vol0", {nbd::kInfoName});
  EXPECT_FALSE(nbd_codec::parse_info_request(std::span(good).first(5)));
  EXPECT_FALSE(nbd_codec::parse_info_request(std::span(good).first(good.size() - 1)));
  auto extra = good;
  extra.push_back(std::byte{0});
  EXPECT_FALSE(nbd_codec::parse_info_request(extra));
  auto lying = good;
  lying[3] = std::byte{200};  // name length past the data
  EXPECT_FALSE(nbd_codec::parse_info_request(lying));
  EXPECT_FALSE(nbd_codec::parse_info_request(info_data(std::string(5000, 'a'), {})));
  EXPECT_FALSE(nbd_codec::parse_info_request(info_data(std::string("a\0b", 3), {})));
}

TEST(NbdCodec, Lookup) {
  std::vector<std::unique_ptr<Export>> v;
  v.push_back(ram_export("private=ram:1M,allow=10.0.0.0/8"));
  v.push_back(ram_export("secret=ram:1M,secret=/etc/key"));
  v.push_back(ram_export("open=ram:1M"));
  ExportTable table(std::move(v));
  auto local = make_address("127.0.0.1");

  EXPECT_EQ(nbd_codec::lookup(table, "open", local).exp, table.find("open"));
  EXPECT_EQ(nbd_codec::lookup(table, "nope", local).error, nbd::kRepErrUnknown);
  EXPECT_EQ(nbd_codec::lookup(table, "private", local).error, nbd::kRepErrPolicy);
  EXPECT_EQ(nbd_codec::lookup(table, "private", make_address("10.1.1.1")).exp, table.find("private"));
  EXPECT_EQ(nbd_codec::lookup(table, "secret", make_address("10.1.1.1")).error, nbd::kRepErrPolicy);
  // The default export is the first one the client may open.
  EXPECT_EQ(nbd_codec::lookup(table, "", local).exp, table.find("open"));
  EXPECT_EQ(nbd_codec::lookup(table, "", make_address("10.1.1.1")).exp, table.find("private"));
}

TEST(NbdCodec, ListShowsOnlyVisibleExports) {
  std::vector<std::unique_ptr<Export>> v;
  v.push_back(ram_export("private=ram:1M,allow=10.0.0.0/8"));
  v.push_back(ram_export("secret=ram:1M,secret=/etc/key"));
  v.push_back(ram_export("open=ram:1M,desc=Open one"));
  ExportTable table(std::move(v));
  std::vector<std::byte> out;
  nbd_codec::append_list_replies(out, table, make_address("127.0.0.1"));
  // One NBD_REP_SERVER (20 + 4 + 4 + 8 bytes) and the ACK (20 bytes).
  ASSERT_EQ(out.size(), 20u + 4 + 4 + 8 + 20);
  nbd::OptionReplyHeader h;
  std::memcpy(&h, out.data(), sizeof h);
  EXPECT_EQ(h.type.value(), nbd::kRepServer);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(out.data()) + 24, 12), "openOpen one");
}

TEST(NbdCodec, TransmissionFlagsAndBlockSizes) {
  auto rw = ram_export("rw=ram:1M,bs=4096");
  auto ro = ram_export("ro=ram:1M,ro");
  uint16_t f = nbd_codec::transmission_flags(*rw, false);
  EXPECT_TRUE(f & nbd::kFlagHasFlags);
  EXPECT_TRUE(f & nbd::kFlagSendTrim);
  EXPECT_TRUE(f & nbd::kFlagSendWriteZeroes);
  EXPECT_TRUE(f & nbd::kFlagCanMultiConn);
  EXPECT_FALSE(f & nbd::kFlagReadOnly);
  EXPECT_FALSE(f & nbd::kFlagSendDf);  // only with structured replies
  EXPECT_TRUE(nbd_codec::transmission_flags(*rw, true) & nbd::kFlagSendDf);
  uint16_t g = nbd_codec::transmission_flags(*ro, false);
  EXPECT_TRUE(g & nbd::kFlagReadOnly);
  EXPECT_FALSE(g & nbd::kFlagSendTrim);
  auto bs = nbd_codec::block_sizes(*rw);
  EXPECT_EQ(bs.minimum, 4096u);
  EXPECT_EQ(bs.preferred, 4096u);
  EXPECT_EQ(bs.maximum, 32u << 20);
}

TEST(NbdCodec, RequestVerdicts) {
  auto e = ram_export("e=ram:1M");
  auto ro = ram_export("ro=ram:1M,ro");
  const uint64_t size = 1 << 20;
  auto check = [](const nbd::Request& r, const Export& ex, bool structured = false) {
    return nbd_codec::check_request(r, ex, structured);
  };

  auto v = check(request(nbd::kCmdRead, 0, 0, 4096), *e);
  EXPECT_EQ(v.action, Action::serve);
  EXPECT_EQ(v.op, IoOp::read);
  EXPECT_EQ(check(request(nbd::kCmdWrite, nbd::kCmdFlagFua, 512, 512), *e).op, IoOp::write);
  EXPECT_EQ(check(request(nbd::kCmdFlush, 0, 0, 0), *e).op, IoOp::flush);
  EXPECT_EQ(check(request(nbd::kCmdTrim, 0, 0, 4096), *e).op, IoOp::discard);
  EXPECT_EQ(check(request(nbd::kCmdWriteZeroes, nbd::kCmdFlagNoHole, 0, 4096), *e).op, IoOp::write_zeroes);

  // Past the end: EINVAL for reads and trims, ENOSPC for writes.
  EXPECT_EQ(check(request(nbd::kCmdRead, 0, size - 512, 1024), *e).error, nbd::kEInval);
  EXPECT_EQ(check(request(nbd::kCmdTrim, 0, size, 1), *e).error, nbd::kEInval);
  EXPECT_EQ(check(request(nbd::kCmdWrite, 0, size, 512), *e).error, nbd::kENoSpc);
  EXPECT_EQ(check(request(nbd::kCmdWriteZeroes, 0, UINT64_MAX, 512), *e).error, nbd::kENoSpc);
  // Read-only.
  EXPECT_EQ(check(request(nbd::kCmdWrite, 0, 0, 512), *ro).error, nbd::kEPerm);
  EXPECT_EQ(check(request(nbd::kCmdTrim, 0, 0, 512), *ro).error, nbd::kEPerm);
  EXPECT_EQ(check(request(nbd::kCmdRead, 0, 0, 512), *ro).action, Action::serve);
  // Unknown commands and flags.
  EXPECT_EQ(check(request(nbd::kCmdBlockStatus, 0, 0, 512), *e).error, nbd::kEInval);
  EXPECT_EQ(check(request(99, 0, 0, 512), *e).error, nbd::kEInval);
  EXPECT_EQ(check(request(nbd::kCmdRead, 1u << 9, 0, 512), *e).error, nbd::kEInval);
  EXPECT_EQ(check(request(nbd::kCmdWrite, nbd::kCmdFlagNoHole, 0, 512), *e).error, nbd::kEInval);
  EXPECT_EQ(check(request(nbd::kCmdRead, nbd::kCmdFlagDf, 0, 512), *e).action, Action::fail);
  EXPECT_EQ(check(request(nbd::kCmdRead, nbd::kCmdFlagDf, 0, 512), *e, true).action, Action::serve);
  EXPECT_EQ(check(request(nbd::kCmdWriteZeroes, nbd::kCmdFlagFastZero, 0, 512), *e).action, Action::fail);
  // Oversized: a read is refused, a write payload cannot be skipped.
  auto big = ram_export("big=ram:64M");
  EXPECT_EQ(check(request(nbd::kCmdRead, 0, 0, (32u << 20) + 1), *big).error, nbd::kEInval);
  EXPECT_EQ(check(request(nbd::kCmdWrite, 0, 0, (32u << 20) + 1), *big).action, Action::disconnect);
}

TEST(NbdCodec, HandleOption) {
  using Next = nbd_codec::OptionResult::Next;
  std::vector<std::unique_ptr<Export>> v;
  v.push_back(ram_export("vol=ram:1M"));
  ExportTable table(std::move(v));
  const auto peer = make_address("127.0.0.1");
  bool structured = false;
  std::vector<std::byte> out;
  auto name = [](std::string_view s) { return std::as_bytes(std::span(s.data(), s.size())); };

  // EXPORT_NAME of an unknown export: hang up without a word.
  auto r = nbd_codec::handle_option(nbd::kOptExportName, name("nope"), table, peer, false, structured, out);
  EXPECT_EQ(r.next, Next::abort);
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(r.warning.empty());
  // Known: size, flags and 124 zero bytes unless the client said NO_ZEROES.
  r = nbd_codec::handle_option(nbd::kOptExportName, name("vol"), table, peer, false, structured, out);
  EXPECT_EQ(r.next, Next::go);
  EXPECT_EQ(r.exp, table.find("vol"));
  EXPECT_EQ(out.size(), sizeof(nbd::ExportNameReply) + 124);
  out.clear();
  nbd_codec::handle_option(nbd::kOptExportName, name("vol"), table, peer, true, structured, out);
  EXPECT_EQ(out.size(), sizeof(nbd::ExportNameReply));

  out.clear();
  r = nbd_codec::handle_option(nbd::kOptStructuredReply, {}, table, peer, false, structured, out);
  EXPECT_EQ(r.next, Next::reply);
  EXPECT_TRUE(structured);
  EXPECT_EQ(out.size(), sizeof(nbd::OptionReplyHeader));

  out.clear();
  r = nbd_codec::handle_option(nbd::kOptGo, info_data("nope", {}), table, peer, false, structured, out);
  EXPECT_EQ(r.next, Next::reply);  // GO can report the error and go on
  EXPECT_FALSE(out.empty());
  out.clear();
  r = nbd_codec::handle_option(nbd::kOptGo, info_data("vol", {}), table, peer, false, structured, out);
  EXPECT_EQ(r.next, Next::go);

  out.clear();
  r = nbd_codec::handle_option(nbd::kOptAbort, {}, table, peer, false, structured, out);
  EXPECT_EQ(r.next, Next::abort);
  EXPECT_EQ(out.size(), sizeof(nbd::OptionReplyHeader));  // the ACK, sent before hanging up
}

TEST(NbdCodec, ErrnoMapping) {
  EXPECT_EQ(nbd_codec::error_from_errno(0), 0u);
  EXPECT_EQ(nbd_codec::error_from_errno(EROFS), nbd::kEPerm);
  EXPECT_EQ(nbd_codec::error_from_errno(EDQUOT), nbd::kENoSpc);
  EXPECT_EQ(nbd_codec::error_from_errno(EFBIG), nbd::kENoSpc);
  EXPECT_EQ(nbd_codec::error_from_errno(EBADF), nbd::kEIo);
}

}  // namespace
}  // namespace rdmablk::target
