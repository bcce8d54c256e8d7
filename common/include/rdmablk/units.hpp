#pragma once
// Human sizes on the command line ("4k", "1M", "2GiB") and in output.
#include <cstdint>
#include <string>
#include <string_view>

namespace rdmablk {

// Parses a byte count with an optional binary suffix, any case: k, kb, kib
// (all 1024), m, g, t, p alike; "b" or none for bytes. Throws
// std::invalid_argument on junk, overflow or an empty string.
uint64_t parse_size(std::string_view text);

// 4096 -> "4 KiB", 1536 -> "1.5 KiB".
std::string format_size(uint64_t bytes);

}  // namespace rdmablk
