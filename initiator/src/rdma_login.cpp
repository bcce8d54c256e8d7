#include "rdma_login.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

#include "rdmablk/auth.hpp"
#include "rdmablk/proto_check.h"

namespace rdmablk::rdma {

namespace {

std::error_code errc(std::errc e) { return std::make_error_code(e); }

[[noreturn]] void broken(const std::string& peer, std::string_view what, int status) {
  throw Error(std::errc::protocol_error,
              fmt::format("{}: target sent a malformed {} ({})", peer, what, rdmablk_status_str(status)));
}

// Copies `name` into a NUL-padded field; the protocol's name rules apply.
void put_name(uint8_t* field, size_t len, std::string_view name, std::string_view what) {
  std::memset(field, 0, len);
  if (name.size() > len)
    throw Error(std::errc::invalid_argument, fmt::format("{} '{}' is longer than {} bytes", what, name, len));
  std::memcpy(field, name.data(), name.size());
  if (rdmablk_check_name(field, len) != RDMABLK_S_SUCCESS)
    throw Error(std::errc::invalid_argument,
                fmt::format("{} '{}' must be 1..{} printable ASCII characters without spaces", what, name, len));
}

void apply_features(ExportInfo& info, uint32_t features, uint32_t export_flags) {
  info.read_only = export_flags & RDMABLK_EXPORT_F_READ_ONLY;
  info.rotational = export_flags & RDMABLK_EXPORT_F_ROTATIONAL;
  info.can_multi_conn = export_flags & RDMABLK_EXPORT_F_MULTI_CONN;
  info.can_flush = features & RDMABLK_FEAT_FLUSH;
  info.can_fua = features & RDMABLK_FEAT_FUA;
  info.can_trim = features & RDMABLK_FEAT_DISCARD;
  info.can_write_zeroes = features & RDMABLK_FEAT_WRITE_ZEROES;
}

}  // namespace

rdmablk_cm_req make_cm_req(uint16_t qid, uint16_t queue_depth, uint64_t session_id, const Ticket& ticket) {
  rdmablk_cm_req req{};
  req.magic = __cpu_to_le32(RDMABLK_MAGIC);
  req.version = __cpu_to_le16(RDMABLK_PROTO_VERSION);
  req.qid = __cpu_to_le16(qid);
  req.queue_depth = __cpu_to_le16(queue_depth);
  req.session_id = __cpu_to_le64(session_id);
  std::memcpy(req.ticket, ticket.data(), ticket.size());
  return req;
}

CmAccept parse_cm_rep(const void* data, size_t len, uint16_t qid, uint16_t queue_depth, const std::string& peer) {
  if (!data) len = 0;
  int st = rdmablk_check_cm_rep(data, len, qid, queue_depth);
  if (st == RDMABLK_S_VERSION)
    throw Error(std::errc::protocol_not_supported,
                fmt::format("{}: target accepted with another protocol version", peer));
  if (st != RDMABLK_S_SUCCESS) broken(peer, "connection accept", st);
  rdmablk_cm_rep rep;
  std::memcpy(&rep, data, sizeof rep);  // private data may be unaligned
  CmAccept a;
  a.queue_depth = RDMABLK_LE16(rep.queue_depth);
  a.max_inline = RDMABLK_LE32(rep.max_inline);
  std::memcpy(a.nonce.data(), rep.nonce, a.nonce.size());
  return a;
}

std::error_code refusal_errno(int status) {
  switch (status) {
    case RDMABLK_S_UNKNOWN_EXPORT: return errc(std::errc::no_such_file_or_directory);
    case RDMABLK_S_HOST_DENIED:
    case RDMABLK_S_AUTH_FAILED:
    case RDMABLK_S_BAD_TICKET: return errc(std::errc::permission_denied);
    case RDMABLK_S_VERSION: return errc(std::errc::protocol_not_supported);
    case RDMABLK_S_QUEUE_LIMIT: return errc(std::errc::result_out_of_range);
    case RDMABLK_S_NO_RESOURCES: return errc(std::errc::resource_unavailable_try_again);
    case RDMABLK_S_SHUTTING_DOWN: return {ESHUTDOWN, std::generic_category()};
    default: return errc(std::errc::protocol_error);
  }
}

std::error_code status_errno(int status) {
  switch (status) {
    case RDMABLK_S_SUCCESS: return {};
    case RDMABLK_S_INVALID_OPCODE:
    case RDMABLK_S_INVALID_FIELD:
    case RDMABLK_S_OUT_OF_RANGE:
    case RDMABLK_S_TOO_LARGE: return errc(std::errc::invalid_argument);
    case RDMABLK_S_READ_ONLY: return errc(std::errc::operation_not_permitted);
    case RDMABLK_S_NO_SPACE: return errc(std::errc::no_space_on_device);
    case RDMABLK_S_UNSUPPORTED: return errc(std::errc::operation_not_supported);
    case RDMABLK_S_NO_RESOURCES: return errc(std::errc::not_enough_memory);
    case RDMABLK_S_SHUTTING_DOWN: return {ESHUTDOWN, std::generic_category()};
    default: return errc(std::errc::io_error);  // IO_ERROR, TRANSPORT, INTERNAL...
  }
}

Error reject_error(const void* data, size_t len, const std::string& peer) {
  if (!data || rdmablk_check_cm_rej(data, len) != RDMABLK_S_SUCCESS)
    return Error(std::errc::connection_refused,
                 fmt::format("{}: connection refused (no rdmablk target listening there?)", peer));
  rdmablk_cm_rej rej;
  std::memcpy(&rej, data, sizeof rej);
  int status = RDMABLK_LE16(rej.status);
  std::string line = fmt::format("{}: connection refused by target: {}", peer, rdmablk_status_str(status));
  if (status == RDMABLK_S_VERSION)
    line += fmt::format(" (we speak {}, it speaks up to {})", RDMABLK_PROTO_VERSION, RDMABLK_LE16(rej.version));
  return Error(refusal_errno(status), line);
}

std::string default_host_id() {
  std::string id;
  std::ifstream in("/etc/machine-id");
  std::getline(in, id);
  if (id.empty()) {
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) == 0) id = host;
  }
  // Keep what the protocol allows; never send an empty name.
  std::string out;
  for (char c : id)
    if (c >= 0x21 && c <= 0x7e && out.size() < RDMABLK_HOST_ID_MAX) out.push_back(c);
  return out.empty() ? "unknown-host" : out;
}

rdmablk_login_req make_login_req(const LoginParams& p, const Nonce& nonce) {
  rdmablk_login_req req{};
  req.features = __cpu_to_le32(p.features);
  req.nr_queues = __cpu_to_le16(p.nr_queues);
  req.queue_depth = __cpu_to_le16(p.queue_depth);
  req.max_io_size = __cpu_to_le32(p.max_io_size);
  put_name(req.export_name, sizeof req.export_name, p.export_name, "export name");
  put_name(req.host_id, sizeof req.host_id, p.host_id, "host id");
  if (p.secret) {
    Mac mac = login_mac(*p.secret, nonce, std::span<const uint8_t, RDMABLK_EXPORT_NAME_MAX>(req.export_name),
                        std::span<const uint8_t, RDMABLK_HOST_ID_MAX>(req.host_id));
    std::memcpy(req.mac, mac.data(), mac.size());
  }
  return req;
}

Session parse_login_rsp(const rdmablk_rsp& rsp, std::span<const std::byte> payload, const rdmablk_login_req& req,
                        const std::string& peer) {
  int status = RDMABLK_LE16(rsp.status);
  if (status != RDMABLK_S_SUCCESS) {
    std::string line = fmt::format("{}: login refused by target: {}", peer, rdmablk_status_str(status));
    if (status == RDMABLK_S_AUTH_FAILED && rdmablk_is_zero(req.mac, sizeof req.mac))
      line += " (the export needs a secret: secret_file=FILE)";
    throw Error(refusal_errno(status), line);
  }
  rdmablk_login_rsp lr;
  if (payload.size() != sizeof lr) broken(peer, "login response", RDMABLK_S_BAD_MESSAGE);
  std::memcpy(&lr, payload.data(), sizeof lr);
  int st = rdmablk_check_login_rsp(&lr, &req);
  if (st != RDMABLK_S_SUCCESS) broken(peer, "login response", st);

  Session s;
  s.session_id = RDMABLK_LE64(lr.session_id);
  std::memcpy(s.ticket.data(), lr.ticket, s.ticket.size());
  s.features = RDMABLK_LE32(lr.features);
  s.export_flags = RDMABLK_LE32(lr.export_flags);
  s.nr_queues = RDMABLK_LE16(lr.nr_queues);
  s.queue_depth = RDMABLK_LE16(lr.queue_depth);
  s.max_io_size = RDMABLK_LE32(lr.max_io_size);
  s.max_inline = RDMABLK_LE32(lr.max_inline);
  s.region_addr = RDMABLK_LE64(lr.region_addr);
  s.region_rkey = RDMABLK_LE32(lr.region_rkey);
  s.region_size = RDMABLK_LE64(lr.region_size);

  ExportInfo& info = s.info;
  info.name = field_name(req.export_name, sizeof req.export_name);
  info.size = RDMABLK_LE64(lr.size);
  info.min_block_size = RDMABLK_LE32(lr.logical_block_size);
  uint32_t optimal = RDMABLK_LE32(lr.optimal_io_size);
  info.preferred_block_size = std::max(RDMABLK_LE32(lr.physical_block_size), optimal);
  info.max_block_size = s.max_io_size;
  apply_features(info, s.features, s.export_flags);
  info.can_direct = s.features & RDMABLK_FEAT_DIRECT;
  return s;
}

std::vector<ExportInfo> parse_discover(std::span<const std::byte> entries, const std::string& peer) {
  std::vector<ExportInfo> out;
  constexpr size_t kEntry = sizeof(rdmablk_discover_entry);
  for (size_t off = 0; off + kEntry <= entries.size(); off += kEntry) {
    rdmablk_discover_entry e;
    std::memcpy(&e, entries.data() + off, kEntry);
    int st = rdmablk_check_discover_entry(&e);
    if (st != RDMABLK_S_SUCCESS) broken(peer, "export list entry", st);
    ExportInfo info;
    info.name = field_name(e.export_name, sizeof e.export_name);
    info.size = RDMABLK_LE64(e.size);
    info.min_block_size = RDMABLK_LE32(e.logical_block_size);
    info.preferred_block_size = std::max<uint32_t>(info.min_block_size, 4096);
    uint32_t features = RDMABLK_LE32(e.features);
    apply_features(info, features, RDMABLK_LE32(e.export_flags));
    info.can_direct = features & RDMABLK_FEAT_DIRECT;
    info.needs_secret = e.needs_secret;
    out.push_back(std::move(info));
  }
  return out;
}

std::string field_name(const uint8_t* field, size_t len) {
  return {reinterpret_cast<const char*>(field), strnlen(reinterpret_cast<const char*>(field), len)};
}

}  // namespace rdmablk::rdma
