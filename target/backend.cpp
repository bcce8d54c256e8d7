#include "backend.hpp"

#include "config.hpp"
#include "file_backend.hpp"
#include "ram_backend.hpp"
#include "rbd_backend.hpp"

namespace rdmablk::target {

std::unique_ptr<Backend> open_backend(const ExportConfig& config) {
  if (config.is_ram())
    return std::make_unique<RamBackend>(config.ram_size,
                                        config.block_size ? config.block_size : kMinBlockSize);
  if (config.is_rbd()) return std::make_unique<RbdBackend>(config.rbd, config.read_only);
  return std::make_unique<FileBackend>(config.path, config.read_only, config.mmap);
}

}  // namespace rdmablk::target
