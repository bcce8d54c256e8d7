#pragma once
// Exports: what both transports (NBD now, RDMA next) serve. An Export binds
// a name to a backend with its flags and access rules, and validates every
// request before a backend sees it, so no transport can reach bytes outside
// the export or write a read-only one.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/address.hpp>

#include "allow.hpp"
#include "backend.hpp"
#include "config.hpp"
#include "rdmablk/proto.h"

namespace rdmablk::target {

// Largest READ/WRITE payload any transport accepts (the NBD spec's 32 MiB
// limit; the RDMA login negotiates less).
inline constexpr uint32_t kMaxIoSize = 32u << 20;

class Export {
 public:
  Export(ExportConfig config, std::unique_ptr<Backend> backend);

  const std::string& name() const { return config_.name; }
  const std::string& description() const { return config_.description; }
  bool read_only() const { return config_.read_only; }
  uint64_t size() const { return size_; }
  // The logical block size clients are told (config bs= or the backend's).
  uint32_t block_size() const { return block_size_; }
  // RDMA login needs an HMAC from initiators of this export; plain NBD
  // cannot authenticate, so NBD refuses such exports.
  bool needs_secret() const { return !config_.secret_file.empty(); }
  const std::string& secret_file() const { return config_.secret_file; }
  // Anyone who can connect may open it: no secret, no allow list.
  bool open_to_all() const { return !needs_secret() && allow_.empty(); }

  // The peer address plus, for RDMA logins, the initiator's host id.
  bool allows(const boost::asio::ip::address& peer,
              std::optional<std::string_view> host_id = std::nullopt) const {
    return allow_.allows(peer, host_id);
  }

  // Validates a request: RDMABLK_S_SUCCESS, or READ_ONLY (write-type
  // operation on a read-only export), OUT_OF_RANGE (past the end) or
  // TOO_LARGE (READ/WRITE over kMaxIoSize). FLUSH ignores offset/length.
  rdmablk_status check(IoOp op, uint64_t offset, uint64_t length) const;

  Backend& backend() const { return *backend_; }

 private:
  ExportConfig config_;
  std::unique_ptr<Backend> backend_;
  AllowList allow_;
  uint64_t size_;
  uint32_t block_size_;
};

class ExportTable {
 public:
  ExportTable() = default;
  explicit ExportTable(std::vector<std::unique_ptr<Export>> exports) : exports_(std::move(exports)) {}

  // Opens every export's backend; throws ConfigError naming the export.
  static ExportTable open(const std::vector<ExportConfig>& configs);

  const Export* find(std::string_view name) const;
  std::span<const std::unique_ptr<Export>> all() const { return exports_; }
  // Blocking fdatasync of every export (shutdown); logs failures, returns
  // false if any failed.
  bool sync_all() const;

 private:
  std::vector<std::unique_ptr<Export>> exports_;
};

}  // namespace rdmablk::target
