#pragma once
// Start-up probe for RDMA devices (libibverbs), so the log says up front
// which transports this target can serve.
#include <string>
#include <vector>

namespace rdmablk::target {

// Names of the RDMA devices (e.g. "rxe0", "mlx5_0"); empty when there are
// none or libibverbs finds no provider.
std::vector<std::string> rdma_devices();

}  // namespace rdmablk::target
