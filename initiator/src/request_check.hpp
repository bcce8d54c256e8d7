#pragma once
// Checks a request against what the export allows before any transport sees
// it, so every transport rejects the same requests with the same errno.
#include <cstdint>
#include <system_error>

#include "rdmablk/client.hpp"

namespace rdmablk {

enum class Op { read, write, flush, discard, write_zeroes };

// Returns the errno the request must complete with without being sent, or
// {} when it may go. `fua` may be cleared: FUA on an export without a write
// cache (no flush either) is a no-op.
std::error_code check_request(const ExportInfo& info, Op op, uint64_t offset, uint64_t length, bool& fua);

}  // namespace rdmablk
