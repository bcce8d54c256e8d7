// An RDMA session from the target's side: a LOGIN payload judged by
// evaluate_login against a table of exports (open, read-only, restricted,
// secret, odd-sized), the DISCOVER list for the peer, then the commands of
// the session judged with the limits the login granted.
// Input: peer choice, region flag, the 256-byte rdmablk_login_req, then
// messages as [u16 length][bytes].
#include <array>

#include <boost/asio/ip/address.hpp>

#include "fuzz_util.hpp"
#include "rdma_login.hpp"
#include "rdmablk/auth.hpp"

using namespace rdmablk;
using namespace rdmablk::target;

namespace {

// make-corpus signs its "locked" seed with this nonce: byte i is i.
std::array<uint8_t, RDMABLK_NONCE_LEN> nonce() {
  std::array<uint8_t, RDMABLK_NONCE_LEN> n{};
  for (size_t i = 0; i < n.size(); ++i) n[i] = static_cast<uint8_t>(i);
  return n;
}

boost::asio::ip::address peer(uint8_t choice) {
  static const std::array<boost::asio::ip::address, 4> peers = {
      boost::asio::ip::make_address("127.0.0.1"), boost::asio::ip::make_address("10.1.2.3"),
      boost::asio::ip::make_address("::1"), boost::asio::ip::make_address("192.0.2.7")};
  return peers[choice % peers.size()];
}

std::string_view field(const uint8_t* f, size_t len) {
  return {reinterpret_cast<const char*>(f), ::strnlen(reinterpret_cast<const char*>(f), len)};
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) { return fuzz::init_with_exports(); }

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input in(data, size);
  const ExportTable& table = fuzz::exports();
  const auto addr = peer(in.byte());
  const bool registered = in.byte() & 1;  // the device registered open RAM exports

  // Like the server: only exports open to every host are handed out.
  auto region = [&](const Export& e) -> std::optional<ExportRegion> {
    auto mem = e.backend().region();
    if (!registered || mem.empty() || !e.open_to_all()) return std::nullopt;
    return ExportRegion{reinterpret_cast<uintptr_t>(mem.data()), 0x1234};
  };

  // DISCOVER before login: only admitted exports, each a valid entry.
  for (const auto& entry : discover_entries(table, addr, region)) {
    FUZZ_CHECK(rdmablk_check_discover_entry(&entry) == RDMABLK_S_SUCCESS);
    const Export* e = table.find(field(entry.export_name, sizeof entry.export_name));
    FUZZ_CHECK(e && e->allows(addr));
  }

  rdmablk_login_req req;
  in.take(&req, sizeof req);
  LoginInput li;
  li.exports = &table;
  li.peer = addr;
  li.nonce = nonce();
  li.secret = [](const Export& e) { return e.name() == "locked" ? &fuzz::kSecret : nullptr; };
  li.region = region;
  const LoginOutcome out = evaluate_login(req, li);

  const rdmablk_export_limits* lim = nullptr;
  if (out.status == RDMABLK_S_SUCCESS) {
    const Export* e = out.exp;
    const auto name = field(req.export_name, sizeof req.export_name);
    const auto host = field(req.host_id, sizeof req.host_id);
    FUZZ_CHECK(e && e->name() == name && e->allows(addr, host));
    if (e->needs_secret()) {
      Mac mac = login_mac(fuzz::kSecret, li.nonce, req.export_name, req.host_id);
      FUZZ_CHECK(std::memcmp(mac.data(), req.mac, mac.size()) == 0);
    }
    // The initiator accepts what we answer (the caller fills in the id).
    rdmablk_login_rsp rsp = out.rsp;
    rsp.session_id = __cpu_to_le64(1);
    FUZZ_CHECK(rdmablk_check_login_rsp(&rsp, &req) == RDMABLK_S_SUCCESS);
    // Grants stay within what was asked, our limits and the export.
    FUZZ_CHECK(out.limits.size <= e->size() && out.limits.size == RDMABLK_LE64(rsp.size));
    FUZZ_CHECK(out.limits.logical_block_size == e->block_size());
    FUZZ_CHECK(out.limits.max_io_size <= li.limits.max_io_size && out.limits.max_io_size > 0);
    FUZZ_CHECK(out.limits.max_inline <= li.limits.max_inline);
    FUZZ_CHECK(out.nr_queues <= li.limits.max_io_queues && out.queue_depth <= li.limits.max_queue_depth);
    FUZZ_CHECK(out.limits.features == RDMABLK_LE32(rsp.features));
    if (e->read_only())
      FUZZ_CHECK((out.limits.export_flags & RDMABLK_EXPORT_F_READ_ONLY) &&
                 !(out.limits.features & (RDMABLK_FEAT_DISCARD | RDMABLK_FEAT_WRITE_ZEROES | RDMABLK_FEAT_FUA)));
    if (out.limits.features & RDMABLK_FEAT_DIRECT)
      FUZZ_CHECK(e->open_to_all() && RDMABLK_LE64(rsp.region_size) <= e->backend().region().size());
    lim = &out.limits;
  } else {
    FUZZ_CHECK(out.exp == nullptr && out.status != RDMABLK_S_INTERNAL);
  }

  // The session's commands: an accepted one stays inside the export.
  for (int n = 0; n < 64 && in.left() >= 2; ++n) {
    const std::vector<uint8_t> msg = in.bytes(in.value<uint16_t>());
    rdmablk_cmd cmd{};
    if (!msg.empty()) std::memcpy(&cmd, msg.data(), std::min(msg.size(), sizeof cmd));
    const CommandVerdict v = judge_command(cmd, msg.size(), lim, false);
    if (v.status != RDMABLK_S_SUCCESS || !rdmablk_op_is_io(cmd.opcode) || cmd.opcode == RDMABLK_OP_FLUSH)
      continue;
    FUZZ_CHECK(lim != nullptr);
    const uint64_t offset = RDMABLK_LE64(cmd.offset);
    const uint32_t length = RDMABLK_LE32(cmd.length);
    FUZZ_CHECK(offset + length <= out.exp->size() && offset + length >= offset);
    FUZZ_CHECK(offset + length <= out.exp->backend().region().size());
    if (cmd.opcode != RDMABLK_OP_READ) FUZZ_CHECK(!out.exp->read_only());
    if (cmd.flags & RDMABLK_CMD_F_INLINE) FUZZ_CHECK(length <= li.limits.max_inline);
  }
  return 0;
}
