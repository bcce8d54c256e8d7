// The NBD fixed-newstyle option haggling as NbdConnection::handshake does
// it: client flags, then options until one opens an export or the client
// aborts; each option goes through nbd_codec::handle_option and its reply
// stream is parsed back and checked against the export it describes.
// Input: peer choice, then the bytes a client sends after the greeting.
#include <array>

#include <boost/asio/ip/address.hpp>

#include "fuzz_util.hpp"
#include "nbd_codec.hpp"

using namespace rdmablk;
using namespace rdmablk::target;
using Next = nbd_codec::OptionResult::Next;

namespace {

constexpr uint32_t kMaxOptionSkip = 1u << 20;  // as in nbd_connection.cpp

template <typename T>
T load(const std::vector<std::byte>& buf, size_t at) {
  T v;
  FUZZ_CHECK(at + sizeof v <= buf.size());
  std::memcpy(&v, buf.data() + at, sizeof v);
  return v;
}

bool visible(const Export& e, const boost::asio::ip::address& peer) {
  return e.allows(peer) && !e.needs_secret();
}

// One NBD_INFO_* payload describing `e`.
void check_info(const std::vector<std::byte>& out, size_t at, uint32_t len, const Export& e, bool structured) {
  FUZZ_CHECK(len >= 2);
  switch (load<nbd::be16>(out, at).value()) {
    case nbd::kInfoExport: {
      FUZZ_CHECK(len == sizeof(nbd::InfoExport));
      auto info = load<nbd::InfoExport>(out, at);
      const uint16_t flags = info.transmission_flags.value();
      FUZZ_CHECK(info.size.value() == e.size());
      FUZZ_CHECK((flags & nbd::kFlagHasFlags) && !(flags & nbd::kFlagReadOnly) == !e.read_only());
      if (flags & nbd::kFlagSendDf) FUZZ_CHECK(structured);
      break;
    }
    case nbd::kInfoBlockSize: {
      FUZZ_CHECK(len == sizeof(nbd::InfoBlockSize));
      auto b = load<nbd::InfoBlockSize>(out, at);
      const uint32_t min = b.minimum.value(), pref = b.preferred.value(), max = b.maximum.value();
      // The spec: powers of two, min <= preferred <= max; clients rely on
      // the size being a multiple of the minimum.
      FUZZ_CHECK(min && !(min & (min - 1)) && pref && !(pref & (pref - 1)));
      FUZZ_CHECK(min <= pref && pref <= max && e.size() % min == 0);
      break;
    }
    case nbd::kInfoName:
      FUZZ_CHECK(std::string_view(reinterpret_cast<const char*>(out.data() + at + 2), len - 2) == e.name());
      break;
    case nbd::kInfoDescription:
      FUZZ_CHECK(std::string_view(reinterpret_cast<const char*>(out.data() + at + 2), len - 2) == e.description());
      break;
    default:
      FUZZ_CHECK(!"unknown NBD_INFO type sent");
  }
}

void check_replies(uint32_t option, const std::vector<std::byte>& out, const nbd_codec::OptionResult& r,
                   const boost::asio::ip::address& peer, bool no_zeroes, bool structured) {
  if (r.exp) FUZZ_CHECK(visible(*r.exp, peer));
  if (option == nbd::kOptExportName) {
    if (r.next == Next::abort) {
      FUZZ_CHECK(out.empty());
      return;
    }
    FUZZ_CHECK(r.next == Next::go && r.exp);
    FUZZ_CHECK(out.size() == sizeof(nbd::ExportNameReply) + (no_zeroes ? 0 : 124));
    auto reply = load<nbd::ExportNameReply>(out, 0);
    FUZZ_CHECK(reply.size.value() == r.exp->size());
    FUZZ_CHECK(reply.transmission_flags.value() == nbd_codec::transmission_flags(*r.exp, false));
    return;
  }
  // Everything else: option replies, the last (and only the last) an ACK
  // or an error.
  FUZZ_CHECK(r.next != Next::go || option == nbd::kOptGo);
  size_t at = 0;
  bool final_seen = false;
  while (at < out.size()) {
    FUZZ_CHECK(!final_seen);
    auto h = load<nbd::OptionReplyHeader>(out, at);
    at += sizeof h;
    const uint32_t type = h.type.value(), len = h.length.value();
    FUZZ_CHECK(h.magic.value() == nbd::kOptReplyMagic && h.option.value() == option);
    FUZZ_CHECK(len <= out.size() - at);
    if (type == nbd::kRepAck) {
      FUZZ_CHECK(len == 0);
      final_seen = true;
    } else if (type & nbd::kRepFlagError) {
      FUZZ_CHECK(r.next != Next::go);
      final_seen = true;
    } else if (type == nbd::kRepServer) {
      FUZZ_CHECK(option == nbd::kOptList && len >= 4);
      const uint32_t name_len = load<nbd::be32>(out, at).value();
      FUZZ_CHECK(name_len <= len - 4);
      const Export* e = fuzz::exports().find(std::string_view(reinterpret_cast<const char*>(out.data() + at + 4), name_len));
      FUZZ_CHECK(e && visible(*e, peer));
    } else if (type == nbd::kRepInfo) {
      FUZZ_CHECK((option == nbd::kOptInfo || option == nbd::kOptGo) && r.exp);
      check_info(out, at, len, *r.exp, structured);
    } else {
      FUZZ_CHECK(!"unexpected option reply type");
    }
    at += len;
  }
  FUZZ_CHECK(final_seen);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) { return fuzz::init_with_exports(); }

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::array<boost::asio::ip::address, 3> peers = {
      boost::asio::ip::make_address("127.0.0.1"), boost::asio::ip::make_address("10.1.2.3"),
      boost::asio::ip::make_address("::1")};
  fuzz::Input in(data, size);
  const auto peer = peers[in.byte() % peers.size()];
  const uint32_t flags = in.value<nbd::be32>().value();
  if (flags & ~nbd_codec::kKnownClientFlags) return 0;  // refused
  const bool no_zeroes = flags & nbd::kFlagCNoZeroes;
  bool structured = false;
  std::vector<std::byte> out;
  for (int n = 0; n < 64 && in.left() >= sizeof(nbd::OptionHeader); ++n) {
    auto header = in.value<nbd::OptionHeader>();
    if (header.magic.value() != nbd::kIHaveOpt) return 0;
    const uint32_t option = header.option.value(), length = header.length.value();
    if (length > nbd::kMaxOptionLength) {
      if (length > kMaxOptionSkip) return 0;
      in.bytes(length);  // skipped, answered NBD_REP_ERR_TOO_BIG
      continue;
    }
    auto bytes = in.bytes(length);
    if (bytes.size() < length) return 0;  // the client went away
    const bool was_structured = structured;
    out.clear();
    auto r = nbd_codec::handle_option(option, std::as_bytes(std::span(bytes)), fuzz::exports(), peer, no_zeroes,
                                      structured, out);
    // Only NBD_OPT_STRUCTURED_REPLY turns structured replies on.
    if (structured != was_structured) FUZZ_CHECK(option == nbd::kOptStructuredReply && length == 0);
    check_replies(option, out, r, peer, no_zeroes, structured);
    if (r.next != Next::reply) return 0;
  }
  return 0;
}
