// The initiator's half of the RDMA login; see rdmablk/login.hpp.
#include "rdmablk/login.hpp"

#include <algorithm>
#include <cstring>

#include "rdmablk/auth.hpp"
#include "rdmablk/proto_check.h"

namespace rdmablk::login {

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

Nonce cm_rep_nonce(const rdmablk_cm_rep& rep) {
  Nonce n;
  std::memcpy(n.data(), rep.nonce, n.size());
  return n;
}

int put_name(uint8_t* field, size_t len, std::string_view name) {
  std::memset(field, 0, len);
  std::memcpy(field, name.data(), std::min(name.size(), len));
  if (name.size() > len) return RDMABLK_S_INVALID_FIELD;
  return rdmablk_check_name(field, len) == RDMABLK_S_SUCCESS ? RDMABLK_S_SUCCESS : RDMABLK_S_INVALID_FIELD;
}

int check_login_names(const LoginFields& f) {
  rdmablk_login_req req{};
  if (put_name(req.export_name, sizeof req.export_name, f.export_name) != RDMABLK_S_SUCCESS) return 1;
  if (put_name(req.host_id, sizeof req.host_id, f.host_id) != RDMABLK_S_SUCCESS) return 2;
  return 0;
}

void sign_login_req(rdmablk_login_req& req, std::string_view secret, const Nonce& nonce) {
  Mac mac = login_mac(secret, nonce, std::span<const uint8_t, RDMABLK_EXPORT_NAME_MAX>(req.export_name),
                      std::span<const uint8_t, RDMABLK_HOST_ID_MAX>(req.host_id));
  std::memcpy(req.mac, mac.data(), mac.size());
}

rdmablk_login_req make_login_req(const LoginFields& f, const Nonce& nonce) {
  rdmablk_login_req req{};
  req.features = __cpu_to_le32(f.features);
  req.nr_queues = __cpu_to_le16(f.nr_queues);
  req.queue_depth = __cpu_to_le16(f.queue_depth);
  req.max_io_size = __cpu_to_le32(f.max_io_size);
  put_name(req.export_name, sizeof req.export_name, f.export_name);
  put_name(req.host_id, sizeof req.host_id, f.host_id);
  if (f.secret) sign_login_req(req, *f.secret, nonce);
  return req;
}

int decode_login_rsp(std::span<const std::byte> payload, const rdmablk_login_req& req, Grant& out) {
  rdmablk_login_rsp lr;
  if (payload.size() != sizeof lr) return RDMABLK_S_BAD_MESSAGE;
  std::memcpy(&lr, payload.data(), sizeof lr);
  int st = rdmablk_check_login_rsp(&lr, &req);
  if (st != RDMABLK_S_SUCCESS) return st;
  out.session_id = RDMABLK_LE64(lr.session_id);
  std::memcpy(out.ticket.data(), lr.ticket, out.ticket.size());
  out.features = RDMABLK_LE32(lr.features);
  out.export_flags = RDMABLK_LE32(lr.export_flags);
  out.size = RDMABLK_LE64(lr.size);
  out.nr_queues = RDMABLK_LE16(lr.nr_queues);
  out.queue_depth = RDMABLK_LE16(lr.queue_depth);
  out.max_io_size = RDMABLK_LE32(lr.max_io_size);
  out.max_inline = RDMABLK_LE32(lr.max_inline);
  out.logical_block_size = RDMABLK_LE32(lr.logical_block_size);
  out.physical_block_size = RDMABLK_LE32(lr.physical_block_size);
  out.optimal_io_size = RDMABLK_LE32(lr.optimal_io_size);
  out.region_addr = RDMABLK_LE64(lr.region_addr);
  out.region_rkey = RDMABLK_LE32(lr.region_rkey);
  out.region_size = RDMABLK_LE64(lr.region_size);
  return RDMABLK_S_SUCCESS;
}

}  // namespace rdmablk::login
