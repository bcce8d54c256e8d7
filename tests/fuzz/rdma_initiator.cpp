// What a hostile target sends librdmablk, parsed the way rdma::Queue and
// rdma::Client do (initiator/src/rdma_login.cpp, rdmablk_check_rsp): the
// first byte picks the message, the rest is the message as it arrived.
//   0: accept private data (parse_cm_rep) for queue 0 or an I/O queue
//   1: reject private data (reject_error)
//   2: the answer to LOGIN: rdmablk_check_rsp, then parse_login_rsp
//   3: a DISCOVER list (parse_discover)
//   4: a response to an I/O command (rdmablk_check_rsp), the command drawn
//      from the input
// Bad input may only raise rdmablk::Error; what is accepted stays within
// what was asked and what the protocol allows.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>

#include "fuzz_util.hpp"
#include "rdma_login.hpp"
#include "rdmablk/proto_check.h"

using namespace rdmablk;
using namespace rdmablk::rdma;

namespace {

const std::string kPeer = "rdma://fuzz:7471";

// The LOGIN librdmablk sends: a few queues, commands with inline writes.
const rdmablk_login_req& login_req() {
  static const rdmablk_login_req req = [] {
    LoginParams p;
    p.export_name = "ram0";
    p.host_id = "fuzz-host";
    p.features = RDMABLK_FEAT_INLINE_WRITE | RDMABLK_FEAT_FLUSH | RDMABLK_FEAT_FUA | RDMABLK_FEAT_DISCARD |
                 RDMABLK_FEAT_WRITE_ZEROES | RDMABLK_FEAT_DIRECT;
    p.nr_queues = 4;
    p.queue_depth = 32;
    p.max_io_size = 1u << 20;
    return make_login_req(p, Nonce{});
  }();
  return req;
}

void cm_rep(fuzz::Input& in, const uint8_t* data, size_t size) {
  const uint16_t qid = in.byte() % 4;
  const uint16_t depth = 1 + in.byte() % 64;
  data += 2;
  size -= std::min<size_t>(size, 2);
  try {
    CmAccept a = parse_cm_rep(size ? data : nullptr, size, qid, depth, kPeer);
    FUZZ_CHECK(size >= sizeof(rdmablk_cm_rep));
    FUZZ_CHECK(a.queue_depth >= 1 && a.queue_depth <= depth);
    FUZZ_CHECK(a.max_inline <= RDMABLK_MAX_INLINE_SIZE);
    if (qid == 0) FUZZ_CHECK(a.max_inline >= sizeof(rdmablk_login_req));
  } catch (const Error& e) {
    FUZZ_CHECK(e.code() == std::errc::protocol_error || e.code() == std::errc::protocol_not_supported);
  }
}

void cm_rej(const uint8_t* data, size_t size) {
  Error e = reject_error(size ? data : nullptr, size, kPeer);
  FUZZ_CHECK(e.code().value() != 0);
  FUZZ_CHECK(std::string(e.what()).rfind(kPeer, 0) == 0);
}

void login_rsp(const uint8_t* data, size_t size) {
  rdmablk_cmd cmd{};
  cmd.opcode = RDMABLK_OP_LOGIN;
  cmd.length = RDMABLK_LE32(sizeof(rdmablk_login_req));
  if (size < sizeof(rdmablk_rsp)) return;
  rdmablk_rsp rsp;  // copied out, as Queue::on_recv does: the input is unaligned
  std::memcpy(&rsp, data, sizeof rsp);
  if (rdmablk_check_rsp(&rsp, size, &cmd) != RDMABLK_S_SUCCESS) return;  // "malformed response"
  const auto payload = std::as_bytes(std::span(data + sizeof rsp, size - sizeof rsp));
  const rdmablk_login_req& req = login_req();
  try {
    Session s = parse_login_rsp(rsp, payload, req, kPeer);
    FUZZ_CHECK(RDMABLK_LE16(rsp.status) == RDMABLK_S_SUCCESS && payload.size() == sizeof(rdmablk_login_rsp));
    const uint32_t lbs = s.info.min_block_size;
    FUZZ_CHECK(lbs >= RDMABLK_MIN_BLOCK_SIZE && lbs <= RDMABLK_MAX_LOGICAL_BLOCK_SIZE && (lbs & (lbs - 1)) == 0);
    FUZZ_CHECK(s.info.size % lbs == 0);
    FUZZ_CHECK(s.session_id != 0);
    FUZZ_CHECK(s.nr_queues <= RDMABLK_LE16(req.nr_queues));
    FUZZ_CHECK(s.queue_depth >= 1 && s.queue_depth <= RDMABLK_LE16(req.queue_depth));
    FUZZ_CHECK(s.max_io_size >= lbs && s.max_io_size % lbs == 0 && s.max_io_size <= RDMABLK_LE32(req.max_io_size));
    FUZZ_CHECK((s.features & ~RDMABLK_LE32(req.features)) == 0);
    FUZZ_CHECK((s.max_inline != 0) == ((s.features & RDMABLK_FEAT_INLINE_WRITE) != 0));
    FUZZ_CHECK(s.max_inline <= RDMABLK_MAX_INLINE_SIZE);
    if (s.features & RDMABLK_FEAT_DIRECT)
      FUZZ_CHECK(s.region_size == s.info.size && s.region_addr + s.region_size >= s.region_addr);
    else
      FUZZ_CHECK(!s.region_addr && !s.region_rkey && !s.region_size);
  } catch (const Error& e) {
    FUZZ_CHECK(std::string(e.what()).rfind(kPeer, 0) == 0);
  }
}

void discover(const uint8_t* data, size_t size) {
  try {
    auto list = parse_discover(std::as_bytes(std::span(data, size)), kPeer);
    FUZZ_CHECK(list.size() == size / sizeof(rdmablk_discover_entry));
    for (const ExportInfo& e : list) {
      FUZZ_CHECK(!e.name.empty() && e.name.size() <= RDMABLK_EXPORT_NAME_MAX);
      FUZZ_CHECK(e.min_block_size >= RDMABLK_MIN_BLOCK_SIZE && e.size % e.min_block_size == 0);
    }
  } catch (const Error& e) {
    FUZZ_CHECK(e.code() == std::errc::protocol_error);
  }
}

void io_rsp(fuzz::Input& in, const uint8_t* data, size_t size) {
  static const uint8_t kOps[] = {RDMABLK_OP_READ, RDMABLK_OP_WRITE, RDMABLK_OP_FLUSH, RDMABLK_OP_DISCARD,
                                 RDMABLK_OP_WRITE_ZEROES, RDMABLK_OP_KEEPALIVE, RDMABLK_OP_DISCOVER};
  rdmablk_cmd cmd{};
  cmd.opcode = kOps[in.byte() % sizeof kOps];
  cmd.flags = in.byte() & RDMABLK_CMD_F_INVALIDATE;
  cmd.tag = RDMABLK_LE32(in.byte());
  cmd.length = RDMABLK_LE32(uint32_t{in.byte()} << 9);
  cmd.rkey = RDMABLK_LE32(in.byte());
  data += 5;
  size -= std::min<size_t>(size, 5);
  if (size < sizeof(rdmablk_rsp)) return;
  rdmablk_rsp copy;
  std::memcpy(&copy, data, sizeof copy);
  const rdmablk_rsp* rsp = &copy;
  if (rdmablk_check_rsp(rsp, size, &cmd) != RDMABLK_S_SUCCESS) return;
  // Accepted: one 16-byte response to this very command.
  const uint16_t status = RDMABLK_LE16(rsp->status);
  const uint32_t length = RDMABLK_LE32(rsp->length);
  const uint32_t rkey = RDMABLK_LE32(rsp->rkey);
  FUZZ_CHECK(size == sizeof(rdmablk_rsp) && rsp->opcode == cmd.opcode && rsp->rsvd0 == 0);
  FUZZ_CHECK(status < RDMABLK_S_MAX);
  FUZZ_CHECK(!rkey || ((cmd.flags & RDMABLK_CMD_F_INVALIDATE) && rkey == RDMABLK_LE32(cmd.rkey)));
  if (cmd.opcode == RDMABLK_OP_READ || cmd.opcode == RDMABLK_OP_WRITE)
    FUZZ_CHECK(status == RDMABLK_S_SUCCESS ? length == RDMABLK_LE32(cmd.length) : length <= RDMABLK_LE32(cmd.length));
  else if (cmd.opcode != RDMABLK_OP_DISCOVER)
    FUZZ_CHECK(length == 0);
  (void)status_errno(status);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t kind = data[0] % 5;
  ++data;
  --size;
  fuzz::Input in(data, size);
  switch (kind) {
    case 0: cm_rep(in, data, size); break;
    case 1: cm_rej(data, size); break;
    case 2: login_rsp(data, size); break;
    case 3: discover(data, size); break;
    default: io_rsp(in, data, size); break;
  }
  return 0;
}
