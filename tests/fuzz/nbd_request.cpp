// NBD transmission requests as NbdConnection::transmission reads them:
// 28-byte headers (a WRITE's payload follows), judged by
// nbd_codec::check_request on an opened export. Whatever is served must
// stay inside the export (RAM exports are read and written in place), and
// whatever is refused gets an error the spec allows.
// Input: export choice, structured-replies flag, then the request stream.
#include "fuzz_util.hpp"
#include "nbd_codec.hpp"

using namespace rdmablk;
using namespace rdmablk::target;
using Action = nbd_codec::Verdict::Action;

extern "C" int LLVMFuzzerInitialize(int*, char***) { return fuzz::init_with_exports(); }

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input in(data, size);
  auto all = fuzz::exports().all();
  const Export& e = *all[in.byte() % all.size()];
  const bool structured = in.byte() & 1;
  const auto region = e.backend().region();

  for (int n = 0; n < 64 && in.left() >= sizeof(nbd::Request); ++n) {
    auto req = in.value<nbd::Request>();
    if (req.magic.value() != nbd::kRequestMagic) return 0;  // hang up
    const uint16_t type = req.type.value(), flags = req.flags.value();
    if (type == nbd::kCmdDisc) return 0;
    const uint64_t offset = req.offset.value();
    const uint32_t length = req.length.value();
    const auto v = nbd_codec::check_request(req, e, structured);

    if (v.action == Action::disconnect) {
      // Only a payload too big to buffer or skip ends the connection.
      FUZZ_CHECK(type == nbd::kCmdWrite && length > nbd::kMaxPayload);
      return 0;
    }
    if (type == nbd::kCmdWrite) FUZZ_CHECK(length <= nbd::kMaxPayload);
    if (v.action == Action::fail) {
      FUZZ_CHECK(v.error == nbd::kEInval || v.error == nbd::kEPerm || v.error == nbd::kENoSpc);
      FUZZ_CHECK(v.message && *v.message);  // structured error replies carry it
    } else {
      FUZZ_CHECK(v.error == 0);
      uint16_t allowed = nbd::kCmdFlagFua;
      switch (type) {
        case nbd::kCmdRead:
          FUZZ_CHECK(v.op == IoOp::read);
          if (structured) allowed |= nbd::kCmdFlagDf;
          break;
        case nbd::kCmdWrite:
          FUZZ_CHECK(v.op == IoOp::write);
          break;
        case nbd::kCmdFlush:
          FUZZ_CHECK(v.op == IoOp::flush);
          break;
        case nbd::kCmdTrim:
          FUZZ_CHECK(v.op == IoOp::discard);
          break;
        case nbd::kCmdWriteZeroes:
          FUZZ_CHECK(v.op == IoOp::write_zeroes);
          allowed |= nbd::kCmdFlagNoHole;
          break;
        default:
          FUZZ_CHECK(!"an unknown command was served");
      }
      FUZZ_CHECK((flags & ~allowed) == 0);
      if (v.op != IoOp::read && v.op != IoOp::flush) FUZZ_CHECK(!e.read_only());
      if (v.op != IoOp::flush) {
        // Inside the export, overflow included; RAM data moves in place.
        FUZZ_CHECK(offset <= e.size() && length <= e.size() - offset);
        FUZZ_CHECK(offset + length <= region.size());
      }
      if (v.op == IoOp::read || v.op == IoOp::write) FUZZ_CHECK(length <= kMaxIoSize);
    }
    if (type == nbd::kCmdWrite) in.bytes(length);  // the payload, received or skipped
  }
  return 0;
}
