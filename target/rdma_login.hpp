#pragma once
// The decisions of the RDMA transport, free of verbs so they are unit-tested
// without hardware: which export a LOGIN opens and with what grants
// (docs/protocol.md, "Login"), how an I/O queue's connect request is judged
// against the session table, what DISCOVER lists, and whether a received
// command may run.
#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <boost/asio/ip/address.hpp>

#include "export.hpp"
#include "rdmablk/proto.h"
#include "rdmablk/proto_check.h"

namespace rdmablk::target {

// What this target grants at most; the login grants min(asked, these).
struct RdmaLimits {
  uint16_t max_io_queues = 64;
  uint16_t max_queue_depth = 128;
  uint32_t max_io_size = 1u << 20;  // also the bounce buffer size
  uint32_t max_inline = 4096;       // payload after each capsule, every queue
};

// A RAM export's memory registered for remote access (direct mode).
struct ExportRegion {
  uint64_t addr = 0;
  uint32_t rkey = 0;
};

struct LoginInput {
  const ExportTable* exports = nullptr;
  boost::asio::ip::address peer;
  std::array<uint8_t, RDMABLK_NONCE_LEN> nonce{};
  RdmaLimits limits;
  // The secret of an export that needs one (nullptr: unreadable, which
  // fails the login as AUTH_FAILED rather than opening it unprotected).
  std::function<const std::string*(const Export&)> secret;
  // The export's registered region on this connection's device, if any.
  std::function<std::optional<ExportRegion>(const Export&)> region;
};

struct LoginOutcome {
  rdmablk_status status = RDMABLK_S_INTERNAL;
  std::string reason;                // for the log; names the export and host
  const Export* exp = nullptr;       // set on success
  rdmablk_login_rsp rsp{};           // on success; session_id and ticket are the caller's
  rdmablk_export_limits limits{};    // what rdmablk_check_cmd enforces for the session
  uint16_t nr_queues = 0;            // I/O queues granted
  uint16_t queue_depth = 0;          // depth granted per I/O queue
};

// The features an export offers (login grants the subset asked for;
// DISCOVER lists them). DIRECT needs a registered region.
uint32_t offered_features(const Export& e, bool has_region);
uint32_t export_flags(const Export& e);
// The size clients see: rounded down to the logical block size.
uint64_t visible_size(const Export& e);

// Checks a LOGIN payload (the capsule already passed rdmablk_check_cmd)
// in the order docs/protocol.md gives, and on success computes the grants.
LoginOutcome evaluate_login(const rdmablk_login_req& req, const LoginInput& in);

// The DISCOVER list for a peer: every export whose allow list admits its
// address (no host id before login), sorted by name.
std::vector<rdmablk_discover_entry> discover_entries(
    const ExportTable& exports, const boost::asio::ip::address& peer,
    const std::function<std::optional<ExportRegion>(const Export&)>& region);

// The part of a session an I/O queue's connect request is judged against.
struct SessionKeys {
  uint64_t id = 0;
  std::array<uint8_t, RDMABLK_TICKET_LEN> ticket{};
  uint16_t nr_queues = 0;
  uint16_t queue_depth = 0;
};

// Steps 1..5 of the connect checks: rdmablk_check_cm_req on a connect
// request's private data (`data` may be null when `len` is 0), and on
// SUCCESS the request copied out into `req`.
rdmablk_status read_cm_req(const void* data, size_t len, rdmablk_cm_req& req);

// Steps 6 and 7 of the connect checks for an I/O queue (qid > 0) whose
// request passed rdmablk_check_cm_req: `session` is the one its id names
// (nullptr: none), `connected` whether that qid is already in use.
// SUCCESS, BAD_TICKET or QUEUE_LIMIT.
rdmablk_status judge_join(const rdmablk_cm_req& req, const SessionKeys* session, bool connected);

// What to do with one received SEND of `len` bytes (capsule + payload).
struct CommandVerdict {
  rdmablk_status status = RDMABLK_S_SUCCESS;  // SUCCESS: execute it
  bool disconnect = false;  // shorter than a capsule: no tag to answer
  bool invalidate = false;  // answer with SEND_WITH_INV of the command's rkey
};
// rdmablk_check_cmd against the session's limits (nullptr before login);
// a stopping target answers valid commands with SHUTTING_DOWN. Only a
// command that passed validation with INVALIDATE set is invalidated, also
// when it fails later.
CommandVerdict judge_command(const rdmablk_cmd& cmd, size_t len, const rdmablk_export_limits* limits,
                             bool stopping);

// The response header to `cmd`: READ and WRITE report the command's length
// on success and 0 otherwise, other opcodes `length` (LOGIN: the payload
// that follows, DISCOVER: the size of the whole list). `invalidate` names
// the command's rkey as the one invalidated by SEND_WITH_INV.
rdmablk_rsp make_response(const rdmablk_cmd& cmd, rdmablk_status status, uint32_t length, bool invalidate);

// The backend operation of an I/O opcode (READ..WRITE_ZEROES).
IoOp io_op(uint8_t opcode);
// A backend errno as a response status.
rdmablk_status status_from_errno(int error);

}  // namespace rdmablk::target
