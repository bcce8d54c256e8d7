#pragma once
// Login authentication (docs/protocol.md, "Login"): the shared secret, the
// HMAC an initiator proves it with, and the random nonces and tickets.
#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rdmablk/proto.h"

namespace rdmablk {

using Mac = std::array<uint8_t, RDMABLK_MAC_LEN>;

// Reads a secret file: at most 1 KiB, not empty, one trailing newline
// stripped, and not accessible by group or others (like ssh keys). Throws
// std::runtime_error (std::system_error for OS errors) naming the file.
std::string read_secret_file(const std::filesystem::path& path);

// HMAC-SHA256(key, data).
Mac hmac_sha256(std::span<const uint8_t> key, std::span<const uint8_t> data);

// The LOGIN mac: HMAC-SHA256(secret, nonce || export_name || host_id) over
// the full NUL-padded fields, exactly as they travel in rdmablk_login_req.
Mac login_mac(std::string_view secret, std::span<const uint8_t, RDMABLK_NONCE_LEN> nonce,
              std::span<const uint8_t, RDMABLK_EXPORT_NAME_MAX> export_name,
              std::span<const uint8_t, RDMABLK_HOST_ID_MAX> host_id);

// n bytes from OpenSSL's CSPRNG; throws std::runtime_error if it fails.
std::vector<uint8_t> random_bytes(size_t n);

// Compares in time independent of the contents (for MACs and tickets).
// Different sizes compare unequal.
bool constant_time_equal(std::span<const uint8_t> a, std::span<const uint8_t> b);

}  // namespace rdmablk
