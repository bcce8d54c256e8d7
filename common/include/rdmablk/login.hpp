#pragma once
// The initiator's half of the RDMA login (docs/protocol.md, "Connection
// setup", "Login"), one implementation for librdmablk, the hostile-initiator
// test tool and the unit tests: the connect private data (queue 0 opens a
// session, 1..N join it with its ticket), the LOGIN payload with its HMAC,
// and the login response checked and decoded. Pure and throw-free: it
// returns rdmablk statuses, and each caller turns them into its own errors.
// A tool that sends deliberately bad logins builds a good one here and
// tampers with the result (or with the fields it passes in).
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "rdmablk/proto.h"

namespace rdmablk::login {

using Nonce = std::array<uint8_t, RDMABLK_NONCE_LEN>;
using Ticket = std::array<uint8_t, RDMABLK_TICKET_LEN>;

// Queue 0 opens a session (session_id 0, ticket zero); 1..N join it.
rdmablk_cm_req make_cm_req(uint16_t qid, uint16_t queue_depth, uint64_t session_id = 0, const Ticket& ticket = {});

// The nonce of an accept (queue 0), read from its private data.
Nonce cm_rep_nonce(const rdmablk_cm_rep& rep);

// Copies `name` into a NUL-padded protocol name field (at most `len`
// bytes of it). RDMABLK_S_SUCCESS when the protocol's name rules hold
// (1..len printable ASCII, no spaces), else RDMABLK_S_INVALID_FIELD, with
// the field filled all the same (a test tool may want to send it).
int put_name(uint8_t* field, size_t len, std::string_view name);

// What a LOGIN asks for (CPU byte order).
struct LoginFields {
  std::string_view export_name;
  std::string_view host_id;
  std::optional<std::string_view> secret;  // none: the MAC is all zero
  uint32_t features = 0;                   // RDMABLK_FEAT_* wanted
  uint16_t nr_queues = 0;                  // I/O queues besides queue 0
  uint16_t queue_depth = 1;
  uint32_t max_io_size = 1u << 20;
};

// The LOGIN payload, signed over `nonce` when there is a secret. The names
// are put with put_name() whatever it says: callers that must not send a
// bad name check it first (check_login_names).
rdmablk_login_req make_login_req(const LoginFields& f, const Nonce& nonce);
// The first name put_name() refuses, as 1 (export name) or 2 (host id); 0
// when both are good.
int check_login_names(const LoginFields& f);
// (Re)computes the MAC of `req` (after a caller changed its names).
void sign_login_req(rdmablk_login_req& req, std::string_view secret, const Nonce& nonce);

// A granted session, decoded (CPU byte order).
struct Grant {
  uint64_t session_id = 0;
  Ticket ticket{};
  uint32_t features = 0;
  uint32_t export_flags = 0;
  uint64_t size = 0;
  uint16_t nr_queues = 0;
  uint16_t queue_depth = 0;
  uint32_t max_io_size = 0;
  uint32_t max_inline = 0;  // 0: no inline writes
  uint32_t logical_block_size = 0;
  uint32_t physical_block_size = 0;
  uint32_t optimal_io_size = 0;
  uint64_t region_addr = 0;  // direct mode only
  uint32_t region_rkey = 0;
  uint64_t region_size = 0;
};

// A successful LOGIN's payload checked against the request it answers
// (its length, then rdmablk_check_login_rsp()) and decoded into `out`.
// RDMABLK_S_SUCCESS, or the status saying what is wrong with it.
int decode_login_rsp(std::span<const std::byte> payload, const rdmablk_login_req& req, Grant& out);

}  // namespace rdmablk::login
