#include "export.hpp"

#include <algorithm>
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
      block_size_(config_.block_size ? config_.block_size : backend_->block_size()),
      serial_(config_.serial.empty() ? backend_->identity() : config_.serial) {}

rdmablk_status Export::check(IoOp op, uint64_t offset, uint64_t length) const {
  bool writes = op == IoOp::write || op == IoOp::discard || op == IoOp::write_zeroes;
  if (writes && read_only()) return RDMABLK_S_READ_ONLY;
  if (op == IoOp::flush) return RDMABLK_S_SUCCESS;
  if (offset > size_ || length > size_ - offset) return RDMABLK_S_OUT_OF_RANGE;
  if ((op == IoOp::read || op == IoOp::write) && length > kMaxIoSize) return RDMABLK_S_TOO_LARGE;
  return RDMABLK_S_SUCCESS;
}

namespace {

std::unique_ptr<Export> open_export(const ExportConfig& c) {
  std::unique_ptr<Export> exp;
  try {
    exp = std::make_unique<Export>(c, open_backend(c));
  } catch (const std::system_error& e) {
    throw ConfigError(fmt::format("export '{}': {}", c.name, e.what()));
  }
  if (exp->size() % exp->block_size() != 0)
    spdlog::warn("export '{}': size {} is not a multiple of its block size {}", exp->name(), exp->size(),
                 exp->block_size());
  return exp;
}

}  // namespace

ExportTable::ExportTable(std::vector<std::unique_ptr<Export>> exports) {
  for (auto& e : exports) exports_.push_back(std::move(e));
}

ExportTable::ExportTable(ExportTable&& other) noexcept {
  std::lock_guard lock(other.mutex_);
  exports_ = std::move(other.exports_);
  retired_ = std::move(other.retired_);
}

ExportTable& ExportTable::operator=(ExportTable&& other) noexcept {
  if (this != &other) {
    std::scoped_lock lock(mutex_, other.mutex_);
    exports_ = std::move(other.exports_);
    retired_ = std::move(other.retired_);
  }
  return *this;
}

ExportTable ExportTable::open(const std::vector<ExportConfig>& configs) {
  std::vector<std::unique_ptr<Export>> exports;
  for (const auto& c : configs) exports.push_back(open_export(c));
  return ExportTable(std::move(exports));
}

const Export* ExportTable::find(std::string_view name) const {
  std::lock_guard lock(mutex_);
  for (const auto& e : exports_)
    if (e->name() == name) return e.get();
  return nullptr;
}

std::vector<std::shared_ptr<Export>> ExportTable::all() const {
  std::lock_guard lock(mutex_);
  return exports_;
}

ReloadSummary ExportTable::reload(const std::vector<ExportConfig>& configs) {
  ReloadSummary summary;
  const auto current = all();
  auto find_current = [&](const std::string& name) -> std::shared_ptr<Export> {
    for (const auto& e : current)
      if (e->name() == name) return e;
    return nullptr;
  };
  // Open what is new or changed before touching the table: a backend that
  // fails leaves everything as it was.
  std::vector<std::shared_ptr<Export>> next;
  for (const auto& c : configs) {
    auto old = find_current(c.name);
    if (old && old->config() == c) {
      next.push_back(old);
      summary.kept.push_back(c.name);
      continue;
    }
    next.push_back(open_export(c));
    (old ? summary.changed : summary.added).push_back(c.name);
  }
  std::lock_guard lock(mutex_);
  for (const auto& e : exports_) {
    bool stays = std::any_of(next.begin(), next.end(), [&](const auto& n) { return n == e; });
    if (stays) continue;
    if (std::none_of(configs.begin(), configs.end(), [&](const auto& c) { return c.name == e->name(); }))
      summary.removed.push_back(e->name());
    retired_.push_back(e);
  }
  exports_ = std::move(next);
  return summary;
}

bool ExportTable::sync_all() const {
  std::vector<std::shared_ptr<Export>> every;
  {
    std::lock_guard lock(mutex_);
    every = exports_;
    every.insert(every.end(), retired_.begin(), retired_.end());
  }
  bool ok = true;
  for (const auto& e : every) {
    if (int err = e->backend().sync(); err != 0) {
      spdlog::warn("export '{}': fdatasync failed: {}", e->name(), std::strerror(err));
      ok = false;
    }
  }
  return ok;
}

}  // namespace rdmablk::target
