#pragma once
// A login response rdmablk_check_login_rsp() accepts for a request of every
// feature, shared by the unit tests of the shared login (login_test.cpp) and
// of librdmablk's (initiator/rdma_login_test.cpp).
#include <cstring>

#include "rdmablk/proto_check.h"  // the byte-order helpers

namespace rdmablk::login_fixtures {

inline rdmablk_login_rsp good_login_rsp() {
  rdmablk_login_rsp r{};
  r.features = __cpu_to_le32(RDMABLK_FEAT_INLINE_WRITE | RDMABLK_FEAT_FLUSH | RDMABLK_FEAT_DIRECT);
  r.export_flags = __cpu_to_le32(RDMABLK_EXPORT_F_MULTI_CONN);
  r.session_id = __cpu_to_le64(42);
  std::memset(r.ticket, 0x5a, sizeof r.ticket);
  r.size = __cpu_to_le64(64ull << 20);
  r.nr_queues = __cpu_to_le16(2);
  r.queue_depth = __cpu_to_le16(32);
  r.max_io_size = __cpu_to_le32(512 * 1024);
  r.max_inline = __cpu_to_le32(4096);
  r.logical_block_size = __cpu_to_le32(512);
  r.physical_block_size = __cpu_to_le32(4096);
  r.optimal_io_size = __cpu_to_le32(128 * 1024);
  r.region_addr = __cpu_to_le64(0x7f0000000000ull);
  r.region_rkey = __cpu_to_le32(0x1234);
  r.region_size = r.size;
  return r;
}

}  // namespace rdmablk::login_fixtures
