#pragma once
// The pure parts of the RDMA connection setup (docs/protocol.md, "Connection
// setup", "Login", "Discover"): building the private data and the LOGIN
// payload, and turning what the target sends back into results or into one
// clear rdmablk::Error line. No verbs here, so all of it is unit-tested.
// The wire work itself is the shared rdmablk/login.hpp; this adds the
// librdmablk errors and the ExportInfo view.
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "rdmablk/client.hpp"
#include "rdmablk/login.hpp"
#include "rdmablk/proto.h"

namespace rdmablk::rdma {

using login::Nonce;
using login::Ticket;

// Queue 0 opens a session (session_id 0, ticket zero); 1..N join it.
using login::make_cm_req;

// What an accept grants, in CPU byte order.
struct CmAccept {
  uint16_t queue_depth = 0;
  uint32_t max_inline = 0;  // payload bytes after a capsule the target can receive
  Nonce nonce{};            // queue 0 only
};

// Validates accept private data with rdmablk_check_cm_rep(); throws
// Error(EPROTO) ("<peer>: malformed connection accept") otherwise.
CmAccept parse_cm_rep(const void* data, size_t len, uint16_t qid, uint16_t queue_depth, const std::string& peer);

// The error a rejected connect becomes: the target's typed reason when the
// private data is an rdmablk reject, else "nothing listens there".
Error reject_error(const void* data, size_t len, const std::string& peer);

// The errno a login refusal or connect reject reason maps to (ENOENT for an
// unknown export, EACCES for host/auth/ticket refusals...).
std::error_code refusal_errno(int status);
// The errno an I/O command failing with `status` completes with.
std::error_code status_errno(int status);

// /etc/machine-id, else the host name; made a valid protocol name.
std::string default_host_id();

struct LoginParams {
  std::string export_name;
  std::string host_id;
  std::optional<std::string> secret;  // none: the MAC is all zero
  uint32_t features = 0;              // RDMABLK_FEAT_* wanted
  uint16_t nr_queues = 0;             // I/O queues besides queue 0
  uint16_t queue_depth = 1;
  uint32_t max_io_size = 1u << 20;
};

// The LOGIN payload with its MAC over `nonce`. Throws Error(EINVAL) for a
// name the protocol cannot carry (empty, too long, spaces, non-ASCII).
rdmablk_login_req make_login_req(const LoginParams& p, const Nonce& nonce);

// A granted session (CPU byte order).
struct Session {
  ExportInfo info;
  uint64_t session_id = 0;
  Ticket ticket{};
  uint32_t features = 0;
  uint32_t export_flags = 0;
  uint16_t nr_queues = 0;
  uint16_t queue_depth = 0;
  uint32_t max_io_size = 0;
  uint32_t max_inline = 0;  // 0: no inline writes
  uint64_t region_addr = 0;
  uint32_t region_rkey = 0;
  uint64_t region_size = 0;
};

// The answer to LOGIN, already checked with rdmablk_check_rsp(): a refusal
// throws Error("<peer>: login refused by target: <reason>"), a login response
// that rdmablk_check_login_rsp() refuses throws Error(EPROTO).
Session parse_login_rsp(const rdmablk_rsp& rsp, std::span<const std::byte> payload, const rdmablk_login_req& req,
                        const std::string& peer);

// The entries of a DISCOVER answer (whole 160-byte entries), each checked
// with rdmablk_check_discover_entry(); a bad one throws Error(EPROTO).
std::vector<ExportInfo> parse_discover(std::span<const std::byte> entries, const std::string& peer);

// A protocol name field as a string (bounded: a name may fill its field).
std::string field_name(const uint8_t* field, size_t len);

}  // namespace rdmablk::rdma
