#include "request_check.hpp"

namespace rdmablk {

namespace {

std::error_code err(std::errc e) { return std::make_error_code(e); }

}  // namespace

std::error_code check_request(const ExportInfo& info, Op op, uint64_t offset, uint64_t length, bool& fua) {
  if (op == Op::flush) return {};
  if (op != Op::read && info.read_only) return err(std::errc::operation_not_permitted);
  if (op == Op::discard && !info.can_trim) return err(std::errc::operation_not_supported);
  if (op == Op::write_zeroes && !info.can_write_zeroes) return err(std::errc::operation_not_supported);
  if (fua && !info.can_fua) {
    if (info.can_flush) return err(std::errc::operation_not_supported);
    fua = false;
  }
  // NBD leaves zero-length requests undefined; the wire length is 32 bits.
  if (length == 0 || length > UINT32_MAX) return err(std::errc::invalid_argument);
  if (offset > info.size || length > info.size - offset) return err(std::errc::invalid_argument);
  if (offset % info.min_block_size != 0 || length % info.min_block_size != 0)
    return err(std::errc::invalid_argument);
  // Only payload-carrying requests are bounded by the maximum block size.
  if ((op == Op::read || op == Op::write) && length > info.max_block_size)
    return err(std::errc::invalid_argument);
  return {};
}

}  // namespace rdmablk
