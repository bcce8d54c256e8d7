#pragma once
// The NBD server's decisions as pure functions over wire structs and exports:
// what each export advertises, how NBD_OPT_INFO/GO data parses, which
// exports a client may see, whether a request is served, refused or fatal,
// and how option replies are encoded. nbd_connection.cpp does the I/O.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/address.hpp>

#include "export.hpp"
#include "rdmablk/nbd_proto.hpp"

namespace rdmablk::target::nbd_codec {

inline constexpr uint16_t kHandshakeFlags = nbd::kFlagFixedNewstyle | nbd::kFlagNoZeroes;
inline constexpr uint32_t kKnownClientFlags = nbd::kFlagCFixedNewstyle | nbd::kFlagCNoZeroes;

uint16_t transmission_flags(const Export& e, bool structured_replies);

struct BlockSizes {
  uint32_t minimum;
  uint32_t preferred;
  uint32_t maximum;
};
BlockSizes block_sizes(const Export& e);

// Data of NBD_OPT_INFO and NBD_OPT_GO.
struct InfoRequest {
  std::string name;
  std::vector<uint16_t> info_types;
};
// nullopt when lengths are inconsistent or the name is over 4096 bytes.
std::optional<InfoRequest> parse_info_request(std::span<const std::byte> data);

// May this peer open `e` over NBD? Exports it may not open are left out of
// NBD_OPT_LIST.
bool visible(const Export& e, const boost::asio::ip::address& peer);

// Result of looking an export up for NBD_OPT_INFO/GO/EXPORT_NAME: the
// export, or an option error (NBD_REP_ERR_UNKNOWN, NBD_REP_ERR_POLICY) with
// a message for the user. The empty name picks the first visible export.
struct Lookup {
  const Export* exp = nullptr;
  uint32_t error = 0;
  std::string message;
};
Lookup lookup(const ExportTable& exports, std::string_view name, const boost::asio::ip::address& peer);

// Appends one option reply (header + payload) to `out`.
void append_option_reply(std::vector<std::byte>& out, uint32_t option, uint32_t type,
                         std::span<const std::byte> payload = {});
void append_option_reply(std::vector<std::byte>& out, uint32_t option, uint32_t type,
                         std::string_view payload);
// The NBD_REP_INFO replies answering `req` for `e`, then NBD_REP_ACK.
void append_info_replies(std::vector<std::byte>& out, uint32_t option, const InfoRequest& req,
                         const Export& e, bool structured_replies);
// NBD_REP_SERVER for every visible export, then NBD_REP_ACK.
void append_list_replies(std::vector<std::byte>& out, const ExportTable& exports,
                         const boost::asio::ip::address& peer);

// One negotiation option whose data (at most nbd::kMaxOptionLength bytes)
// has been read: its replies are appended to `out`. `structured` is the
// connection's NBD_OPT_STRUCTURED_REPLY state (set here), `no_zeroes` the
// client's flag. Pure, so the whole option haggling is fuzzed without a
// socket; nbd_connection.cpp reads, writes and logs.
struct OptionResult {
  enum class Next {
    reply,  // send `out`, read the next option
    go,     // send `out`, then serve `exp`
    abort,  // send `out` if not empty (no matter if it fails), then hang up
  };
  Next next = Next::reply;
  const Export* exp = nullptr;  // go: the export opened; INFO: the one described
  std::string reason;           // abort: why the handshake ended
  std::string warning;          // a refusal worth a warning in the log
};
OptionResult handle_option(uint32_t option, std::span<const std::byte> data, const ExportTable& exports,
                           const boost::asio::ip::address& peer, bool no_zeroes, bool& structured,
                           std::vector<std::byte>& out);

// What to do with one transmission request (DISC is handled by the caller).
struct Verdict {
  enum class Action {
    serve,       // hand it to the backend as `op`
    fail,        // reply with `error` (WRITE: after skipping the payload)
    disconnect,  // the stream cannot be trusted or resynchronised
  };
  Action action = Action::serve;
  IoOp op = IoOp::read;
  uint32_t error = 0;           // NBD error value (nbd::kE*)
  const char* message = "";     // for structured error replies and logs
};
Verdict check_request(const nbd::Request& req, const Export& e, bool structured_replies);

// Backend errno -> NBD error value (the spec allows only a few).
uint32_t error_from_errno(int err);

}  // namespace rdmablk::target::nbd_codec
