#include "rdma_login.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>

#include <fmt/format.h>

#include "rdmablk/auth.hpp"

namespace rdmablk::target {

namespace {

// A name field passed rdmablk_check_name: printable, then NUL padding.
std::string_view field_name(const uint8_t* field, size_t len) {
  return {reinterpret_cast<const char*>(field), ::strnlen(reinterpret_cast<const char*>(field), len)};
}

template <typename T>
T min_of(T a, T b) {
  return a < b ? a : b;
}

}  // namespace

uint32_t offered_features(const Export& e, bool has_region) {
  uint32_t f = RDMABLK_FEAT_INLINE_WRITE | RDMABLK_FEAT_REMOTE_INV | RDMABLK_FEAT_FLUSH;
  if (!e.read_only()) f |= RDMABLK_FEAT_FUA | RDMABLK_FEAT_DISCARD | RDMABLK_FEAT_WRITE_ZEROES;
  if (has_region) f |= RDMABLK_FEAT_DIRECT;
  if (!e.serial().empty()) f |= RDMABLK_FEAT_EXPORT_ID;
  return f;
}

uint32_t export_flags(const Export& e) {
  // Every session writes the same backend and FLUSH is an fdatasync of it,
  // so a FLUSH covers the writes of all sessions.
  uint32_t flags = RDMABLK_EXPORT_F_MULTI_CONN;
  if (e.read_only()) flags |= RDMABLK_EXPORT_F_READ_ONLY;
  return flags;
}

uint64_t visible_size(const Export& e) { return e.size() / e.block_size() * e.block_size(); }

LoginOutcome evaluate_login(const rdmablk_login_req& req, const LoginInput& in) {
  LoginOutcome out;
  out.status = static_cast<rdmablk_status>(rdmablk_check_login_req(&req));
  if (out.status != RDMABLK_S_SUCCESS) {
    out.reason = "malformed login request";
    return out;
  }
  auto name = field_name(req.export_name, sizeof(req.export_name));
  auto host = field_name(req.host_id, sizeof(req.host_id));
  const Export* e = in.exports->find(name);
  if (!e) {
    out.status = RDMABLK_S_UNKNOWN_EXPORT;
    out.reason = fmt::format("host '{}' asked for unknown export '{}'", host, name);
    return out;
  }
  if (!e->allows(in.peer, host)) {
    out.status = RDMABLK_S_HOST_DENIED;
    out.reason = fmt::format("export '{}' does not admit host '{}'", name, host);
    return out;
  }
  if (e->needs_secret()) {
    const std::string* secret = in.secret ? in.secret(*e) : nullptr;
    bool ok = false;
    if (secret) {
      Mac mac = login_mac(*secret, in.nonce, std::span<const uint8_t, RDMABLK_EXPORT_NAME_MAX>(req.export_name),
                          std::span<const uint8_t, RDMABLK_HOST_ID_MAX>(req.host_id));
      ok = constant_time_equal(mac, req.mac);
    }
    if (!ok) {
      out.status = RDMABLK_S_AUTH_FAILED;
      out.reason = fmt::format("export '{}': host '{}' {}", name, host,
                               secret ? "sent a wrong login MAC" : "cannot be checked: secret unreadable");
      return out;
    }
  }

  std::optional<ExportRegion> region = in.region ? in.region(*e) : std::nullopt;
  const uint32_t bs = e->block_size();
  const uint32_t asked = RDMABLK_LE32(req.features);
  const uint32_t granted = asked & offered_features(*e, region.has_value());
  // Asked sizes are multiples of 4096, so of every block size; ours too.
  const uint32_t max_io = min_of(RDMABLK_LE32(req.max_io_size), in.limits.max_io_size) / bs * bs;
  const uint32_t max_inline =
      granted & RDMABLK_FEAT_INLINE_WRITE ? min_of(in.limits.max_inline, max_io) : 0;

  out.exp = e;
  out.nr_queues = min_of(RDMABLK_LE16(req.nr_queues), in.limits.max_io_queues);
  out.queue_depth = min_of(RDMABLK_LE16(req.queue_depth), in.limits.max_queue_depth);

  rdmablk_login_rsp& r = out.rsp;
  r.features = __cpu_to_le32(granted);
  r.export_flags = __cpu_to_le32(export_flags(*e));
  r.size = __cpu_to_le64(visible_size(*e));
  r.nr_queues = __cpu_to_le16(out.nr_queues);
  r.queue_depth = __cpu_to_le16(out.queue_depth);
  r.max_io_size = __cpu_to_le32(max_io);
  r.max_inline = __cpu_to_le32(max_inline);
  r.logical_block_size = __cpu_to_le32(bs);
  r.physical_block_size = __cpu_to_le32(bs);
  r.optimal_io_size = 0;
  if (granted & RDMABLK_FEAT_DIRECT) {
    r.region_addr = __cpu_to_le64(region->addr);
    r.region_rkey = __cpu_to_le32(region->rkey);
    r.region_size = r.size;
  }
  if (granted & RDMABLK_FEAT_EXPORT_ID)  // checked at config load: fits, no NUL
    std::memcpy(r.export_id, e->serial().data(), e->serial().size());

  out.limits.size = visible_size(*e);
  out.limits.logical_block_size = bs;
  out.limits.max_io_size = max_io;
  out.limits.max_inline = max_inline;
  out.limits.features = granted;
  out.limits.export_flags = export_flags(*e);
  out.status = RDMABLK_S_SUCCESS;
  out.reason = fmt::format("host '{}' opened export '{}'", host, name);
  return out;
}

std::vector<rdmablk_discover_entry> discover_entries(
    const ExportTable& exports, const boost::asio::ip::address& peer,
    const std::function<std::optional<ExportRegion>(const Export&)>& region) {
  std::vector<const Export*> listed;
  for (const auto& e : exports.all())
    if (e->allows(peer)) listed.push_back(e.get());
  std::sort(listed.begin(), listed.end(), [](const Export* a, const Export* b) { return a->name() < b->name(); });

  std::vector<rdmablk_discover_entry> entries(listed.size());
  for (size_t i = 0; i < listed.size(); ++i) {
    const Export& e = *listed[i];
    rdmablk_discover_entry& d = entries[i];
    std::memcpy(d.export_name, e.name().data(), std::min(e.name().size(), sizeof(d.export_name)));
    d.size = __cpu_to_le64(visible_size(e));
    d.export_flags = __cpu_to_le32(export_flags(e));
    d.logical_block_size = __cpu_to_le32(e.block_size());
    d.features = __cpu_to_le32(offered_features(e, region && region(e).has_value()));
    d.needs_secret = e.needs_secret() ? 1 : 0;
  }
  return entries;
}

rdmablk_status read_cm_req(const void* data, size_t len, rdmablk_cm_req& req) {
  auto status = static_cast<rdmablk_status>(rdmablk_check_cm_req(data, len));
  // The check refuses anything shorter than the struct.
  if (status == RDMABLK_S_SUCCESS) std::memcpy(&req, data, sizeof req);
  return status;
}

rdmablk_status judge_join(const rdmablk_cm_req& req, const SessionKeys* session, bool connected) {
  if (!session || !constant_time_equal(session->ticket, req.ticket)) return RDMABLK_S_BAD_TICKET;
  if (RDMABLK_LE16(req.qid) > session->nr_queues || connected) return RDMABLK_S_QUEUE_LIMIT;
  return RDMABLK_S_SUCCESS;
}

CommandVerdict judge_command(const rdmablk_cmd& cmd, size_t len, const rdmablk_export_limits* limits,
                             bool stopping) {
  CommandVerdict v;
  static const rdmablk_export_limits none{};
  v.status = static_cast<rdmablk_status>(rdmablk_check_cmd(&cmd, len, limits ? limits : &none, limits != nullptr));
  if (v.status == RDMABLK_S_BAD_MESSAGE) {
    v.disconnect = true;
    return v;
  }
  if (v.status != RDMABLK_S_SUCCESS) return v;
  v.invalidate = (cmd.flags & RDMABLK_CMD_F_INVALIDATE) != 0;
  if (stopping) v.status = RDMABLK_S_SHUTTING_DOWN;
  return v;
}

rdmablk_rsp make_response(const rdmablk_cmd& cmd, rdmablk_status status, uint32_t length, bool invalidate) {
  const uint8_t op = cmd.opcode;
  if (op == RDMABLK_OP_READ || op == RDMABLK_OP_WRITE)
    length = status == RDMABLK_S_SUCCESS ? RDMABLK_LE32(cmd.length) : 0;
  rdmablk_rsp rsp{};
  rsp.tag = cmd.tag;  // echoed as received (little-endian)
  rsp.status = __cpu_to_le16(static_cast<uint16_t>(status));
  rsp.opcode = op;
  rsp.length = __cpu_to_le32(length);
  rsp.rkey = invalidate ? cmd.rkey : 0;
  return rsp;
}

IoOp io_op(uint8_t opcode) {
  switch (opcode) {
    case RDMABLK_OP_WRITE:
      return IoOp::write;
    case RDMABLK_OP_FLUSH:
      return IoOp::flush;
    case RDMABLK_OP_DISCARD:
      return IoOp::discard;
    case RDMABLK_OP_WRITE_ZEROES:
      return IoOp::write_zeroes;
    default:
      return IoOp::read;
  }
}

rdmablk_status status_from_errno(int error) {
  switch (error) {
    case 0:
      return RDMABLK_S_SUCCESS;
    case ENOSPC:
    case EDQUOT:
      return RDMABLK_S_NO_SPACE;
    case ENOMEM:
      return RDMABLK_S_NO_RESOURCES;
    case EOPNOTSUPP:
      return RDMABLK_S_UNSUPPORTED;
    case EROFS:
      return RDMABLK_S_READ_ONLY;
    default:
      return RDMABLK_S_IO_ERROR;
  }
}

}  // namespace rdmablk::target
