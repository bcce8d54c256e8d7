// The private data of an rdma_cm connect request, judged the way
// RdmaServer::on_connect_request does: read_cm_req (protocol steps 1..5),
// then for an I/O queue judge_join against a table of one session (6, 7).
// The input is the private data as it arrived.
#include "fuzz_util.hpp"
#include "rdma_login.hpp"

using namespace rdmablk;
using namespace rdmablk::target;

namespace {

const SessionKeys& session() {
  static const SessionKeys keys = [] {
    SessionKeys k;
    k.id = 0x1122334455667788ull;  // tests/fuzz/make-corpus's join seeds use these
    k.ticket.fill(0x5a);
    k.nr_queues = 4;
    k.queue_depth = 32;
    return k;
  }();
  return keys;
}
constexpr uint16_t kConnectedQid = 2;  // already in use in that session

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  rdmablk_cm_req req;
  // libFuzzer's buffer is exactly `size` bytes: ASan catches any over-read.
  const rdmablk_status status = read_cm_req(size ? data : nullptr, size, req);
  if (status != RDMABLK_S_SUCCESS) {
    FUZZ_CHECK(status == RDMABLK_S_BAD_MESSAGE || status == RDMABLK_S_VERSION ||
               status == RDMABLK_S_QUEUE_LIMIT);
    return 0;
  }
  // Accepted: the struct is all there and every field within the protocol.
  FUZZ_CHECK(size >= sizeof req);
  FUZZ_CHECK(std::memcmp(&req, data, sizeof req) == 0);
  FUZZ_CHECK(RDMABLK_LE32(req.magic) == RDMABLK_MAGIC && RDMABLK_LE16(req.version) == RDMABLK_PROTO_VERSION);
  FUZZ_CHECK(req.flags == 0 && req.rsvd0 == 0 && rdmablk_is_zero(req.rsvd1, sizeof req.rsvd1));
  const uint16_t qid = RDMABLK_LE16(req.qid);
  const uint16_t depth = RDMABLK_LE16(req.queue_depth);
  FUZZ_CHECK(qid < RDMABLK_MAX_QUEUES && depth >= 1 && depth <= RDMABLK_MAX_QUEUE_DEPTH);
  if (qid == 0) {
    FUZZ_CHECK(req.session_id == 0 && rdmablk_is_zero(req.ticket, sizeof req.ticket));
    return 0;
  }
  FUZZ_CHECK(req.session_id != 0);

  const SessionKeys& keys = session();
  const SessionKeys* s = RDMABLK_LE64(req.session_id) == keys.id ? &keys : nullptr;
  const bool connected = s && qid == kConnectedQid;
  const bool ticket_ok = s && std::memcmp(keys.ticket.data(), req.ticket, sizeof req.ticket) == 0;
  switch (judge_join(req, s, connected)) {
    case RDMABLK_S_SUCCESS:
      // Only the holder of the ticket joins, within the granted queues.
      FUZZ_CHECK(ticket_ok && qid <= keys.nr_queues && !connected);
      break;
    case RDMABLK_S_BAD_TICKET:
      FUZZ_CHECK(!ticket_ok);
      break;
    case RDMABLK_S_QUEUE_LIMIT:
      FUZZ_CHECK(ticket_ok && (qid > keys.nr_queues || connected));
      break;
    default:
      FUZZ_CHECK(!"judge_join returned an undocumented status");
  }
  return 0;
}
