#pragma once
// The NBD protocol (fixed newstyle handshake, simple and structured replies)
// as constants and wire structs, shared by the target's server and the
// initiator's client. Names follow the spec in
// https://github.com/NetworkBlockDevice/nbd/blob/master/doc/proto.md
// (NBD_OPT_GO -> nbd::kOptGo). Everything on the wire is big-endian; the
// structs are made of boost::endian unaligned buffer types, so they have no
// padding, no alignment requirement and can be sent/received as bytes.
#include <cstdint>
#include <string_view>

#include <boost/endian/buffers.hpp>

namespace rdmablk::nbd {

using be16 = boost::endian::big_uint16_buf_t;
using be32 = boost::endian::big_uint32_buf_t;
using be64 = boost::endian::big_uint64_buf_t;

// --- Handshake ---------------------------------------------------------------
inline constexpr uint64_t kNbdMagic = 0x4e42444d41474943ULL;  // "NBDMAGIC"
inline constexpr uint64_t kIHaveOpt = 0x49484156454f5054ULL;  // "IHAVEOPT"
inline constexpr uint64_t kOptReplyMagic = 0x0003e889045565a9ULL;

// Handshake flags (server -> client, 16 bits).
inline constexpr uint16_t kFlagFixedNewstyle = 1u << 0;
inline constexpr uint16_t kFlagNoZeroes = 1u << 1;
// Client flags (client -> server, 32 bits).
inline constexpr uint32_t kFlagCFixedNewstyle = 1u << 0;
inline constexpr uint32_t kFlagCNoZeroes = 1u << 1;

// Options.
inline constexpr uint32_t kOptExportName = 1;
inline constexpr uint32_t kOptAbort = 2;
inline constexpr uint32_t kOptList = 3;
inline constexpr uint32_t kOptPeekExport = 4;  // withdrawn
inline constexpr uint32_t kOptStartTls = 5;
inline constexpr uint32_t kOptInfo = 6;
inline constexpr uint32_t kOptGo = 7;
inline constexpr uint32_t kOptStructuredReply = 8;
inline constexpr uint32_t kOptListMetaContext = 9;
inline constexpr uint32_t kOptSetMetaContext = 10;
inline constexpr uint32_t kOptExtendedHeaders = 11;

// Option reply types.
inline constexpr uint32_t kRepAck = 1;
inline constexpr uint32_t kRepServer = 2;
inline constexpr uint32_t kRepInfo = 3;
inline constexpr uint32_t kRepMetaContext = 4;
inline constexpr uint32_t kRepFlagError = 1u << 31;
inline constexpr uint32_t kRepErrUnsup = kRepFlagError | 1;
inline constexpr uint32_t kRepErrPolicy = kRepFlagError | 2;
inline constexpr uint32_t kRepErrInvalid = kRepFlagError | 3;
inline constexpr uint32_t kRepErrPlatform = kRepFlagError | 4;
inline constexpr uint32_t kRepErrTlsReqd = kRepFlagError | 5;
inline constexpr uint32_t kRepErrUnknown = kRepFlagError | 6;
inline constexpr uint32_t kRepErrShutdown = kRepFlagError | 7;
inline constexpr uint32_t kRepErrBlockSizeReqd = kRepFlagError | 8;
inline constexpr uint32_t kRepErrTooBig = kRepFlagError | 9;
inline constexpr uint32_t kRepErrExtHeaderReqd = kRepFlagError | 10;

// NBD_REP_INFO payload types (NBD_OPT_INFO / NBD_OPT_GO).
inline constexpr uint16_t kInfoExport = 0;
inline constexpr uint16_t kInfoName = 1;
inline constexpr uint16_t kInfoDescription = 2;
inline constexpr uint16_t kInfoBlockSize = 3;

// Transmission flags (16 bits, sent with the export size).
inline constexpr uint16_t kFlagHasFlags = 1u << 0;
inline constexpr uint16_t kFlagReadOnly = 1u << 1;
inline constexpr uint16_t kFlagSendFlush = 1u << 2;
inline constexpr uint16_t kFlagSendFua = 1u << 3;
inline constexpr uint16_t kFlagRotational = 1u << 4;
inline constexpr uint16_t kFlagSendTrim = 1u << 5;
inline constexpr uint16_t kFlagSendWriteZeroes = 1u << 6;
inline constexpr uint16_t kFlagSendDf = 1u << 7;
inline constexpr uint16_t kFlagCanMultiConn = 1u << 8;
inline constexpr uint16_t kFlagSendResize = 1u << 9;
inline constexpr uint16_t kFlagSendCache = 1u << 10;
inline constexpr uint16_t kFlagSendFastZero = 1u << 11;

// --- Transmission --------------------------------------------------------------
inline constexpr uint32_t kRequestMagic = 0x25609513;
inline constexpr uint32_t kSimpleReplyMagic = 0x67446698;
inline constexpr uint32_t kStructuredReplyMagic = 0x668e33ef;

// Commands (request type field).
inline constexpr uint16_t kCmdRead = 0;
inline constexpr uint16_t kCmdWrite = 1;
inline constexpr uint16_t kCmdDisc = 2;
inline constexpr uint16_t kCmdFlush = 3;
inline constexpr uint16_t kCmdTrim = 4;
inline constexpr uint16_t kCmdCache = 5;
inline constexpr uint16_t kCmdWriteZeroes = 6;
inline constexpr uint16_t kCmdBlockStatus = 7;
inline constexpr uint16_t kCmdResize = 8;

// Command flags (request flags field).
inline constexpr uint16_t kCmdFlagFua = 1u << 0;
inline constexpr uint16_t kCmdFlagNoHole = 1u << 1;
inline constexpr uint16_t kCmdFlagDf = 1u << 2;
inline constexpr uint16_t kCmdFlagReqOne = 1u << 3;
inline constexpr uint16_t kCmdFlagFastZero = 1u << 4;

// Structured reply chunk flags and types.
inline constexpr uint16_t kReplyFlagDone = 1u << 0;
inline constexpr uint16_t kReplyTypeNone = 0;
inline constexpr uint16_t kReplyTypeOffsetData = 1;
inline constexpr uint16_t kReplyTypeOffsetHole = 2;
inline constexpr uint16_t kReplyTypeBlockStatus = 5;
inline constexpr uint16_t kReplyTypeError = (1u << 15) | 1;
inline constexpr uint16_t kReplyTypeErrorOffset = (1u << 15) | 2;

// Error values in replies (the spec fixes these numbers, whatever errno is).
inline constexpr uint32_t kEPerm = 1;
inline constexpr uint32_t kEIo = 5;
inline constexpr uint32_t kENoMem = 12;
inline constexpr uint32_t kEInval = 22;
inline constexpr uint32_t kENoSpc = 28;
inline constexpr uint32_t kEOverflow = 75;
inline constexpr uint32_t kENotSup = 95;
inline constexpr uint32_t kEShutdown = 108;

// Limits from the spec: option data and export names/descriptions are at
// most 4096 bytes; clients must be able to send 32 MiB payloads at most.
inline constexpr uint32_t kMaxStringLength = 4096;
inline constexpr uint32_t kMaxOptionLength = 4096 + 64;  // INFO/GO: name + requests
inline constexpr uint32_t kMaxPayload = 32u << 20;

// --- Wire structs ----------------------------------------------------------------

// Server's first message: NBDMAGIC, IHAVEOPT, handshake flags.
struct ServerGreeting {
  be64 magic;
  be64 opt_magic;
  be16 handshake_flags;
};
static_assert(sizeof(ServerGreeting) == 18);

// Client's answer to the greeting.
struct ClientFlags {
  be32 flags;
};
static_assert(sizeof(ClientFlags) == 4);

// Every option the client sends starts with this; `length` data bytes follow.
struct OptionHeader {
  be64 magic;  // kIHaveOpt
  be32 option;
  be32 length;
};
static_assert(sizeof(OptionHeader) == 16);

// Every option reply starts with this; `length` data bytes follow.
struct OptionReplyHeader {
  be64 magic;  // kOptReplyMagic
  be32 option;
  be32 type;
  be32 length;
};
static_assert(sizeof(OptionReplyHeader) == 20);

// Answer to NBD_OPT_EXPORT_NAME (followed by 124 zero bytes unless the
// client set kFlagCNoZeroes).
struct ExportNameReply {
  be64 size;
  be16 transmission_flags;
};
static_assert(sizeof(ExportNameReply) == 10);

// NBD_REP_INFO payload NBD_INFO_EXPORT.
struct InfoExport {
  be16 type;  // kInfoExport
  be64 size;
  be16 transmission_flags;
};
static_assert(sizeof(InfoExport) == 12);

// NBD_REP_INFO payload NBD_INFO_BLOCK_SIZE.
struct InfoBlockSize {
  be16 type;  // kInfoBlockSize
  be32 minimum;
  be32 preferred;
  be32 maximum;
};
static_assert(sizeof(InfoBlockSize) == 14);

// A transmission request; WRITE is followed by `length` data bytes.
struct Request {
  be32 magic;  // kRequestMagic
  be16 flags;  // kCmdFlag*
  be16 type;   // kCmd*
  be64 cookie;
  be64 offset;
  be32 length;
};
static_assert(sizeof(Request) == 28);

// A simple reply; a successful READ is followed by the data.
struct SimpleReply {
  be32 magic;  // kSimpleReplyMagic
  be32 error;
  be64 cookie;
};
static_assert(sizeof(SimpleReply) == 16);

// One structured reply chunk; `length` payload bytes follow.
struct StructuredReplyHeader {
  be32 magic;  // kStructuredReplyMagic
  be16 flags;  // kReplyFlagDone
  be16 type;   // kReplyType*
  be64 cookie;
  be32 length;
};
static_assert(sizeof(StructuredReplyHeader) == 20);

// Payload start of NBD_REPLY_TYPE_OFFSET_DATA; the data follows.
struct OffsetDataChunk {
  be64 offset;
};
static_assert(sizeof(OffsetDataChunk) == 8);

// Payload of NBD_REPLY_TYPE_ERROR; `message_length` bytes of UTF-8 follow.
struct ErrorChunk {
  be32 error;
  be16 message_length;
};
static_assert(sizeof(ErrorChunk) == 6);

// Names for logs and error messages ("NBD_OPT_GO", "NBD_CMD_READ", ...);
// unknown values give "unknown".
constexpr std::string_view option_name(uint32_t opt) {
  switch (opt) {
    case kOptExportName: return "NBD_OPT_EXPORT_NAME";
    case kOptAbort: return "NBD_OPT_ABORT";
    case kOptList: return "NBD_OPT_LIST";
    case kOptPeekExport: return "NBD_OPT_PEEK_EXPORT";
    case kOptStartTls: return "NBD_OPT_STARTTLS";
    case kOptInfo: return "NBD_OPT_INFO";
    case kOptGo: return "NBD_OPT_GO";
    case kOptStructuredReply: return "NBD_OPT_STRUCTURED_REPLY";
    case kOptListMetaContext: return "NBD_OPT_LIST_META_CONTEXT";
    case kOptSetMetaContext: return "NBD_OPT_SET_META_CONTEXT";
    case kOptExtendedHeaders: return "NBD_OPT_EXTENDED_HEADERS";
    default: return "unknown";
  }
}

constexpr std::string_view command_name(uint16_t cmd) {
  switch (cmd) {
    case kCmdRead: return "NBD_CMD_READ";
    case kCmdWrite: return "NBD_CMD_WRITE";
    case kCmdDisc: return "NBD_CMD_DISC";
    case kCmdFlush: return "NBD_CMD_FLUSH";
    case kCmdTrim: return "NBD_CMD_TRIM";
    case kCmdCache: return "NBD_CMD_CACHE";
    case kCmdWriteZeroes: return "NBD_CMD_WRITE_ZEROES";
    case kCmdBlockStatus: return "NBD_CMD_BLOCK_STATUS";
    case kCmdResize: return "NBD_CMD_RESIZE";
    default: return "unknown";
  }
}

constexpr std::string_view reply_type_name(uint32_t rep) {
  switch (rep) {
    case kRepAck: return "NBD_REP_ACK";
    case kRepServer: return "NBD_REP_SERVER";
    case kRepInfo: return "NBD_REP_INFO";
    case kRepMetaContext: return "NBD_REP_META_CONTEXT";
    case kRepErrUnsup: return "NBD_REP_ERR_UNSUP";
    case kRepErrPolicy: return "NBD_REP_ERR_POLICY";
    case kRepErrInvalid: return "NBD_REP_ERR_INVALID";
    case kRepErrPlatform: return "NBD_REP_ERR_PLATFORM";
    case kRepErrTlsReqd: return "NBD_REP_ERR_TLS_REQD";
    case kRepErrUnknown: return "NBD_REP_ERR_UNKNOWN";
    case kRepErrShutdown: return "NBD_REP_ERR_SHUTDOWN";
    case kRepErrBlockSizeReqd: return "NBD_REP_ERR_BLOCK_SIZE_REQD";
    case kRepErrTooBig: return "NBD_REP_ERR_TOO_BIG";
    case kRepErrExtHeaderReqd: return "NBD_REP_ERR_EXT_HEADER_REQD";
    default: return "unknown";
  }
}

}  // namespace rdmablk::nbd
