#include "rdma_login.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

#include "rdmablk/proto_check.h"

namespace rdmablk::rdma {

namespace {

std::error_code errc(std::errc e) { return std::make_error_code(e); }

[[noreturn]] void broken(const std::string& peer, std::string_view what, int status) {
  throw Error(std::errc::protocol_error,
              fmt::format("{}: target sent a malformed {} ({})", peer, what, rdmablk_status_str(status)));
}

// Throws Error(EINVAL) unless `name` follows the protocol's name rules.
void check_name(size_t len, std::string_view name, std::string_view what) {
  if (name.size() > len)
    throw Error(std::errc::invalid_argument, fmt::format("{} '{}' is longer than {} bytes", what, name, len));
  std::array<uint8_t, 256> field;
  if (login::put_name(field.data(), len, name) != RDMABLK_S_SUCCESS)
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
  a.nonce = login::cm_rep_nonce(rep);
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
  check_name(RDMABLK_EXPORT_NAME_MAX, p.export_name, "export name");
  check_name(RDMABLK_HOST_ID_MAX, p.host_id, "host id");
  login::LoginFields f;
  f.export_name = p.export_name;
  f.host_id = p.host_id;
  if (p.secret) f.secret = *p.secret;
  f.features = p.features;
  f.nr_queues = p.nr_queues;
  f.queue_depth = p.queue_depth;
  f.max_io_size = p.max_io_size;
  return login::make_login_req(f, nonce);
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
  login::Grant g;
  int st = login::decode_login_rsp(payload, req, g);
  if (st != RDMABLK_S_SUCCESS) broken(peer, "login response", st);

  Session s;
  s.session_id = g.session_id;
  s.ticket = g.ticket;
  s.features = g.features;
  s.export_flags = g.export_flags;
  s.nr_queues = g.nr_queues;
  s.queue_depth = g.queue_depth;
  s.max_io_size = g.max_io_size;
  s.max_inline = g.max_inline;
  s.region_addr = g.region_addr;
  s.region_rkey = g.region_rkey;
  s.region_size = g.region_size;

  ExportInfo& info = s.info;
  info.name = field_name(req.export_name, sizeof req.export_name);
  info.size = g.size;
  info.min_block_size = g.logical_block_size;
  info.preferred_block_size = std::max(g.physical_block_size, g.optimal_io_size);
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
