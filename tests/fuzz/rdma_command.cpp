// One received SEND on an RDMA queue, judged the way RdmaQueue::dispatch
// does (judge_command -> rdmablk_check_cmd), against session limits that a
// login could have granted, and the response header the target would send
// checked with the initiator's rdmablk_check_rsp.
// Input: 12 bytes choosing the session state and limits, then the message.
#include "fuzz_util.hpp"
#include "rdma_login.hpp"

using namespace rdmablk;
using namespace rdmablk::target;

namespace {

// Limits as evaluate_login grants them: a power-of-two block size, a size
// and max I/O in whole blocks, inline writes only with their feature.
rdmablk_export_limits limits_from(fuzz::Input& in) {
  rdmablk_export_limits l{};
  l.logical_block_size = 512u << (in.byte() % 4);
  const uint32_t bs = l.logical_block_size;
  l.size = uint64_t{in.value<uint32_t>()} * bs;  // up to 16 TiB
  l.max_io_size = (uint32_t{in.byte()} % (RDMABLK_MAX_IO_SIZE / 4096) + 1) * 4096;
  l.features = in.byte() & RDMABLK_FEAT_ALL;
  l.export_flags = RDMABLK_EXPORT_F_MULTI_CONN;
  if (in.byte() & 1) {
    l.export_flags |= RDMABLK_EXPORT_F_READ_ONLY;
    l.features &= ~(RDMABLK_FEAT_FUA | RDMABLK_FEAT_DISCARD | RDMABLK_FEAT_WRITE_ZEROES);
  }
  const uint32_t inl = (in.value<uint16_t>() % RDMABLK_MAX_INLINE_SIZE) + 1;
  l.max_inline = l.features & RDMABLK_FEAT_INLINE_WRITE ? std::min(inl, l.max_io_size) : 0;
  return l;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input in(data, size);
  uint8_t head[12];  // fixed size, so seeds keep their layout
  in.take(head, sizeof head);
  fuzz::Input h(head, sizeof head);
  const uint8_t state = h.byte();
  const bool logged_in = state & 1;
  const bool stopping = state & 2;
  const rdmablk_export_limits lim = limits_from(h);
  const std::vector<uint8_t> msg = in.rest();

  // The queue copies the capsule out of its receive buffer (dispatch()).
  rdmablk_cmd cmd{};
  if (!msg.empty()) std::memcpy(&cmd, msg.data(), std::min(msg.size(), sizeof cmd));
  const CommandVerdict v = judge_command(cmd, msg.size(), logged_in ? &lim : nullptr, stopping);

  FUZZ_CHECK(v.disconnect == (msg.size() < sizeof cmd));
  if (v.disconnect) {
    FUZZ_CHECK(v.status == RDMABLK_S_BAD_MESSAGE);
    return 0;
  }
  const uint8_t op = cmd.opcode;
  const uint32_t length = RDMABLK_LE32(cmd.length);
  const uint64_t offset = RDMABLK_LE64(cmd.offset);
  const size_t payload = msg.size() - sizeof cmd;
  const bool in_line = cmd.flags & RDMABLK_CMD_F_INLINE;

  // A key is only invalidated for a command that asked and may ask.
  if (v.invalidate) {
    FUZZ_CHECK(logged_in && (lim.features & RDMABLK_FEAT_REMOTE_INV));
    FUZZ_CHECK((cmd.flags & RDMABLK_CMD_F_INVALIDATE) &&
               (op == RDMABLK_OP_READ || (op == RDMABLK_OP_WRITE && !in_line)));
  }
  const bool valid = v.status == RDMABLK_S_SUCCESS || (stopping && v.status == RDMABLK_S_SHUTTING_DOWN);
  if (stopping) FUZZ_CHECK(v.status != RDMABLK_S_SUCCESS);
  if (valid) {
    // What the target is about to execute.
    FUZZ_CHECK(cmd.rsvd0 == 0 && rdmablk_is_zero(cmd.rsvd1, sizeof cmd.rsvd1));
    FUZZ_CHECK((cmd.flags & ~rdmablk_op_flags(op, logged_in ? lim.features : 0)) == 0);
    switch (op) {
      case RDMABLK_OP_READ:
      case RDMABLK_OP_WRITE:
      case RDMABLK_OP_DISCARD:
      case RDMABLK_OP_WRITE_ZEROES: {
        FUZZ_CHECK(logged_in);
        FUZZ_CHECK(length > 0 && offset % lim.logical_block_size == 0 && length % lim.logical_block_size == 0);
        // Never past the end of the export, overflow included.
        FUZZ_CHECK(offset <= lim.size && length <= lim.size - offset);
        const bool data_op = op == RDMABLK_OP_READ || op == RDMABLK_OP_WRITE;
        FUZZ_CHECK(length <= (data_op ? lim.max_io_size : RDMABLK_MAX_DISCARD_SIZE));
        if (op != RDMABLK_OP_READ) FUZZ_CHECK(!(lim.export_flags & RDMABLK_EXPORT_F_READ_ONLY));
        if (op == RDMABLK_OP_DISCARD) FUZZ_CHECK(lim.features & RDMABLK_FEAT_DISCARD);
        if (op == RDMABLK_OP_WRITE_ZEROES) FUZZ_CHECK(lim.features & RDMABLK_FEAT_WRITE_ZEROES);
        // Inline data is exactly the length and fits the receive buffer.
        FUZZ_CHECK(payload == (in_line ? length : 0));
        if (in_line) FUZZ_CHECK(op == RDMABLK_OP_WRITE && length <= lim.max_inline);
        break;
      }
      case RDMABLK_OP_FLUSH:
        FUZZ_CHECK(logged_in && (lim.features & RDMABLK_FEAT_FLUSH) && payload == 0);
        break;
      case RDMABLK_OP_KEEPALIVE:
        FUZZ_CHECK(payload == 0 && length == 0 && offset == 0);
        break;
      case RDMABLK_OP_LOGIN:
        // dispatch() copies a login_req out of the payload.
        FUZZ_CHECK(!logged_in && payload == sizeof(rdmablk_login_req) && length == payload);
        break;
      case RDMABLK_OP_DISCOVER:
        FUZZ_CHECK(!logged_in && payload == 0 && length <= RDMABLK_MAX_IO_SIZE);
        break;
      default:
        FUZZ_CHECK(!"an unknown opcode was accepted");
    }
  }

  // The response the target sends (a successful LOGIN carries its payload,
  // a DISCOVER the list size) passes the initiator's check.
  uint32_t rsp_length = 0;
  size_t rsp_len = sizeof(rdmablk_rsp);
  if (v.status == RDMABLK_S_SUCCESS && op == RDMABLK_OP_LOGIN) {
    rsp_length = sizeof(rdmablk_login_rsp);
    rsp_len += sizeof(rdmablk_login_rsp);
  } else if (v.status == RDMABLK_S_SUCCESS && op == RDMABLK_OP_DISCOVER) {
    rsp_length = 7 * sizeof(rdmablk_discover_entry);
  }
  const rdmablk_rsp rsp = make_response(cmd, v.status, rsp_length, v.invalidate);
  FUZZ_CHECK(rsp.tag == cmd.tag && RDMABLK_LE16(rsp.status) == v.status);
  FUZZ_CHECK(rdmablk_check_rsp(&rsp, rsp_len, &cmd) == RDMABLK_S_SUCCESS);
  return 0;
}
