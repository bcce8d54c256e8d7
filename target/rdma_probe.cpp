#include "rdma_probe.hpp"

#include <infiniband/verbs.h>

#include <memory>

namespace rdmablk::target {

std::vector<std::string> rdma_devices() {
  int count = 0;
  std::unique_ptr<ibv_device*, decltype(&ibv_free_device_list)> list(ibv_get_device_list(&count),
                                                                      &ibv_free_device_list);
  std::vector<std::string> names;
  if (!list) return names;
  for (int i = 0; i < count; ++i) names.emplace_back(ibv_get_device_name(list.get()[i]));
  return names;
}

}  // namespace rdmablk::target
