#include "nbd_codec.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace rdmablk::target::nbd_codec {

namespace {

template <typename T>
void append_struct(std::vector<std::byte>& out, const T& value) {
  auto bytes = std::as_bytes(std::span(&value, 1));
  out.insert(out.end(), bytes.begin(), bytes.end());
}

void append_bytes(std::vector<std::byte>& out, std::string_view s) {
  auto bytes = std::as_bytes(std::span(s.data(), s.size()));
  out.insert(out.end(), bytes.begin(), bytes.end());
}

template <typename T>
T load(std::span<const std::byte> data, size_t at) {
  T value;
  std::memcpy(&value, data.data() + at, sizeof value);
  return value;
}

// NBD_REP_INFO payload: 16-bit type followed by a string.
void append_info_string(std::vector<std::byte>& out, uint32_t option, uint16_t type, std::string_view s) {
  std::vector<std::byte> payload;
  append_struct(payload, nbd::be16(type));
  append_bytes(payload, s);
  append_option_reply(out, option, nbd::kRepInfo, payload);
}

}  // namespace

uint16_t transmission_flags(const Export& e, bool structured_replies) {
  // Every backend shares one cache between connections (one fd, one
  // mapping), so a FLUSH on one connection covers writes from all.
  uint16_t flags = nbd::kFlagHasFlags | nbd::kFlagSendFlush | nbd::kFlagSendFua |
                   nbd::kFlagCanMultiConn;
  if (e.read_only())
    flags |= nbd::kFlagReadOnly;
  else
    flags |= nbd::kFlagSendTrim | nbd::kFlagSendWriteZeroes;
  // Reads are always answered in one chunk, so DF is free to honour.
  if (structured_replies) flags |= nbd::kFlagSendDf;
  return flags;
}

BlockSizes block_sizes(const Export& e) {
  // Unaligned requests are served too (buffered I/O); the minimum tells
  // clients the natural unit. An export whose size is not a multiple of it
  // advertises 1 so its tail stays reachable.
  uint32_t bs = e.block_size();
  uint32_t minimum = e.size() % bs == 0 ? bs : 1;
  return {minimum, std::max<uint32_t>(bs, 4096), kMaxIoSize};
}

std::optional<InfoRequest> parse_info_request(std::span<const std::byte> data) {
  // 32-bit name length, name, 16-bit count, count x 16-bit info types.
  if (data.size() < 6) return std::nullopt;
  uint32_t name_len = load<nbd::be32>(data, 0).value();
  if (name_len > nbd::kMaxStringLength || data.size() < 4 + size_t{name_len} + 2) return std::nullopt;
  InfoRequest req;
  req.name.assign(reinterpret_cast<const char*>(data.data() + 4), name_len);
  if (req.name.find('\0') != std::string::npos) return std::nullopt;
  size_t at = 4 + name_len;
  uint16_t count = load<nbd::be16>(data, at).value();
  at += 2;
  if (data.size() != at + 2 * size_t{count}) return std::nullopt;
  for (uint16_t i = 0; i < count; ++i, at += 2) req.info_types.push_back(load<nbd::be16>(data, at).value());
  return req;
}

bool visible(const Export& e, const boost::asio::ip::address& peer) {
  return e.allows(peer) && !e.needs_secret();
}

Lookup lookup(const ExportTable& exports, std::string_view name, const boost::asio::ip::address& peer) {
  if (name.empty()) {
    for (const auto& e : exports.all())
      if (visible(*e, peer)) return {e.get(), 0, {}};
    return {nullptr, nbd::kRepErrUnknown, "no default export"};
  }
  const Export* e = exports.find(name);
  if (e == nullptr) return {nullptr, nbd::kRepErrUnknown, "no such export"};
  if (!e->allows(peer)) return {nullptr, nbd::kRepErrPolicy, "access denied by the export's allow list"};
  if (e->needs_secret())
    return {nullptr, nbd::kRepErrPolicy, "export requires rdmablk authentication; not served over NBD"};
  return {e, 0, {}};
}

void append_option_reply(std::vector<std::byte>& out, uint32_t option, uint32_t type,
                         std::span<const std::byte> payload) {
  nbd::OptionReplyHeader h;
  h.magic = nbd::kOptReplyMagic;
  h.option = option;
  h.type = type;
  h.length = static_cast<uint32_t>(payload.size());
  append_struct(out, h);
  out.insert(out.end(), payload.begin(), payload.end());
}

void append_option_reply(std::vector<std::byte>& out, uint32_t option, uint32_t type,
                         std::string_view payload) {
  append_option_reply(out, option, type, std::as_bytes(std::span(payload.data(), payload.size())));
}

void append_info_replies(std::vector<std::byte>& out, uint32_t option, const InfoRequest& req,
                         const Export& e, bool structured_replies) {
  nbd::InfoExport info;
  info.type = nbd::kInfoExport;
  info.size = e.size();
  info.transmission_flags = transmission_flags(e, structured_replies);
  append_option_reply(out, option, nbd::kRepInfo, std::as_bytes(std::span(&info, 1)));
  auto wants = [&](uint16_t t) {
    return std::find(req.info_types.begin(), req.info_types.end(), t) != req.info_types.end();
  };
  if (wants(nbd::kInfoName)) append_info_string(out, option, nbd::kInfoName, e.name());
  if (wants(nbd::kInfoDescription) && !e.description().empty())
    append_info_string(out, option, nbd::kInfoDescription, e.description());
  if (wants(nbd::kInfoBlockSize)) {
    BlockSizes bs = block_sizes(e);
    nbd::InfoBlockSize b;
    b.type = nbd::kInfoBlockSize;
    b.minimum = bs.minimum;
    b.preferred = bs.preferred;
    b.maximum = bs.maximum;
    append_option_reply(out, option, nbd::kRepInfo, std::as_bytes(std::span(&b, 1)));
  }
  append_option_reply(out, option, nbd::kRepAck);
}

void append_list_replies(std::vector<std::byte>& out, const ExportTable& exports,
                         const boost::asio::ip::address& peer) {
  for (const auto& e : exports.all()) {
    if (!visible(*e, peer)) continue;
    // Name length, name, then a description for humans (libnbd shows it).
    std::vector<std::byte> payload;
    append_struct(payload, nbd::be32(static_cast<uint32_t>(e->name().size())));
    append_bytes(payload, e->name());
    append_bytes(payload, e->description());
    append_option_reply(out, nbd::kOptList, nbd::kRepServer, payload);
  }
  append_option_reply(out, nbd::kOptList, nbd::kRepAck);
}

OptionResult handle_option(uint32_t option, std::span<const std::byte> data, const ExportTable& exports,
                           const boost::asio::ip::address& peer, bool no_zeroes, bool& structured,
                           std::vector<std::byte>& out) {
  using Next = OptionResult::Next;
  OptionResult result;
  const std::string_view text(reinterpret_cast<const char*>(data.data()), data.size());
  switch (option) {
    case nbd::kOptExportName: {
      // No way to report an error here: refusing means hanging up.
      auto found = lookup(exports, text, peer);
      if (!found.exp) {
        result.next = Next::abort;
        result.reason = result.warning = fmt::format("NBD_OPT_EXPORT_NAME '{}': {}", text, found.message);
        return result;
      }
      nbd::ExportNameReply reply;
      reply.size = found.exp->size();
      reply.transmission_flags = transmission_flags(*found.exp, false);
      append_struct(out, reply);
      if (!no_zeroes) out.resize(out.size() + 124);
      result.next = Next::go;
      result.exp = found.exp;
      return result;
    }
    case nbd::kOptAbort:
      append_option_reply(out, option, nbd::kRepAck);
      result.next = Next::abort;
      result.reason = "client aborted negotiation";
      return result;
    case nbd::kOptList:
      if (!data.empty())
        append_option_reply(out, option, nbd::kRepErrInvalid, "NBD_OPT_LIST takes no data");
      else
        append_list_replies(out, exports, peer);
      return result;
    case nbd::kOptStructuredReply:
      if (!data.empty()) {
        append_option_reply(out, option, nbd::kRepErrInvalid, "NBD_OPT_STRUCTURED_REPLY takes no data");
      } else {
        structured = true;
        append_option_reply(out, option, nbd::kRepAck);
      }
      return result;
    case nbd::kOptInfo:
    case nbd::kOptGo: {
      auto req = parse_info_request(data);
      if (!req) {
        append_option_reply(out, option, nbd::kRepErrInvalid, "malformed option data");
        return result;
      }
      auto found = lookup(exports, req->name, peer);
      if (!found.exp) {
        result.warning = fmt::format("{} '{}': {}", nbd::option_name(option), req->name, found.message);
        append_option_reply(out, option, found.error, found.message);
        return result;
      }
      append_info_replies(out, option, *req, *found.exp, structured);
      result.exp = found.exp;
      if (option == nbd::kOptGo) result.next = Next::go;
      return result;
    }
    default:
      // STARTTLS, meta contexts, extended headers and anything newer.
      append_option_reply(out, option, nbd::kRepErrUnsup, "option not supported");
      return result;
  }
}

Verdict check_request(const nbd::Request& req, const Export& e, bool structured_replies) {
  using Action = Verdict::Action;
  const uint16_t type = req.type.value();
  const uint16_t flags = req.flags.value();
  const uint64_t offset = req.offset.value();
  const uint32_t length = req.length.value();

  // A WRITE payload we refuse to buffer cannot be skipped cheaply either;
  // the spec lets the server disconnect.
  if (type == nbd::kCmdWrite && length > nbd::kMaxPayload)
    return {Action::disconnect, IoOp::write, nbd::kEInval, "write payload over 32 MiB"};

  uint16_t allowed = nbd::kCmdFlagFua;
  IoOp op;
  switch (type) {
    case nbd::kCmdRead:
      op = IoOp::read;
      if (structured_replies) allowed |= nbd::kCmdFlagDf;
      break;
    case nbd::kCmdWrite:
      op = IoOp::write;
      break;
    case nbd::kCmdFlush:
      op = IoOp::flush;
      break;
    case nbd::kCmdTrim:
      op = IoOp::discard;
      break;
    case nbd::kCmdWriteZeroes:
      op = IoOp::write_zeroes;
      allowed |= nbd::kCmdFlagNoHole;
      break;
    default:
      return {Action::fail, IoOp::read, nbd::kEInval, "command not supported"};
  }
  if ((flags & ~allowed) != 0) return {Action::fail, op, nbd::kEInval, "command flag not supported"};

  switch (e.check(op, offset, length)) {
    case RDMABLK_S_SUCCESS:
      return {Action::serve, op, 0, ""};
    case RDMABLK_S_READ_ONLY:
      return {Action::fail, op, nbd::kEPerm, "export is read-only"};
    case RDMABLK_S_OUT_OF_RANGE:
      // The spec asks for ENOSPC on writes past the end, EINVAL otherwise.
      return {Action::fail, op,
              type == nbd::kCmdWrite || type == nbd::kCmdWriteZeroes ? nbd::kENoSpc : nbd::kEInval,
              "request extends past the end of the export"};
    case RDMABLK_S_TOO_LARGE:
      return {Action::fail, op, nbd::kEInval, "request larger than the maximum block size"};
    default:
      return {Action::fail, op, nbd::kEInval, "invalid request"};
  }
}

uint32_t error_from_errno(int err) {
  switch (err) {
    case 0: return 0;
    case EPERM:
    case EACCES:
    case EROFS: return nbd::kEPerm;
    case ENOSPC:
    case EDQUOT:
    case EFBIG: return nbd::kENoSpc;
    case EINVAL: return nbd::kEInval;
    case ENOMEM: return nbd::kENoMem;
    case EOVERFLOW: return nbd::kEOverflow;
    case ESHUTDOWN: return nbd::kEShutdown;
    default: return nbd::kEIo;
  }
}

}  // namespace rdmablk::target::nbd_codec
