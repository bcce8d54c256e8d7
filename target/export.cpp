#include "export.hpp"

#include <cstring>
#include <system_error>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace rdmablk::target {

Export::Export(ExportConfig config, std::unique_ptr<Backend> backend)
    : config_(std::move(config)),
      backend_(std::move(backend)),
      allow_(config_.allow),
      size_(backend_->size()),
      block_size_(config_.block_size ? config_.block_size : backend_->block_size()) {}

rdmablk_status Export::check(IoOp op, uint64_t offset, uint64_t length) const {
  bool writes = op == IoOp::write || op == IoOp::discard || op == IoOp::write_zeroes;
  if (writes && read_only()) return RDMABLK_S_READ_ONLY;
  if (op == IoOp::flush) return RDMABLK_S_SUCCESS;
  if (offset > size_ || length > size_ - offset) return RDMABLK_S_OUT_OF_RANGE;
  if ((op == IoOp::read || op == IoOp::write) && length > kMaxIoSize) return RDMABLK_S_TOO_LARGE;
  return RDMABLK_S_SUCCESS;
}

ExportTable ExportTable::open(const std::vector<ExportConfig>& configs) {
  std::vector<std::unique_ptr<Export>> exports;
  for (const auto& c : configs) {
    try {
      exports.push_back(std::make_unique<Export>(c, open_backend(c)));
    } catch (const std::system_error& e) {
      throw ConfigError(fmt::format("export '{}': {}", c.name, e.what()));
    }
    const Export& e = *exports.back();
    if (e.size() % e.block_size() != 0)
      spdlog::warn("export '{}': size {} is not a multiple of its block size {}", e.name(), e.size(),
                   e.block_size());
  }
  return ExportTable(std::move(exports));
}

const Export* ExportTable::find(std::string_view name) const {
  for (const auto& e : exports_)
    if (e->name() == name) return e.get();
  return nullptr;
}

bool ExportTable::sync_all() const {
  bool ok = true;
  for (const auto& e : exports_) {
    if (int err = e->backend().sync(); err != 0) {
      spdlog::warn("export '{}': fdatasync failed: {}", e->name(), std::strerror(err));
      ok = false;
    }
  }
  return ok;
}

}  // namespace rdmablk::target
