#pragma once
// The one work-request id encoding the initiator, the target and the test
// tools use: a completion must find the slot it belongs to, and a stale one
// (a slot reused since) must not match. Bits 63..62 the kind, 47..32 the
// slot's generation, 31..0 its index. Pure, so unit-tested without a device.
#include <cstdint>

namespace rdmablk::verbs {

// What a work request was posted for.
enum class WrKind : uint8_t {
  recv = 0,  // a receive buffer
  send = 1,  // a SEND (capsule or response)
  rdma = 2,  // an RDMA READ or WRITE of a request's data
};

constexpr uint64_t wr_id(WrKind kind, uint32_t index, uint16_t generation = 0) {
  return uint64_t{static_cast<uint8_t>(kind)} << 62 | uint64_t{generation} << 32 | index;
}
constexpr WrKind wr_kind(uint64_t id) { return static_cast<WrKind>(id >> 62); }
constexpr uint16_t wr_generation(uint64_t id) { return static_cast<uint16_t>(id >> 32); }
constexpr uint32_t wr_index(uint64_t id) { return static_cast<uint32_t>(id); }

}  // namespace rdmablk::verbs
