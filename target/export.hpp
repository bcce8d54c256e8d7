#pragma once
// Exports: what both transports (NBD, RDMA) serve. An Export binds a name
// to a backend with its flags and access rules, and validates every request
// before a backend sees it, so no transport can reach bytes outside the
// export or write a read-only one. It also keeps the export's counters
// (stats.hpp).
//
// The ExportTable may be reloaded while sessions run (SIGHUP): lookups take
// a short lock (they happen at login and negotiation, never per request),
// and an export that leaves the table is retired, not destroyed, so the
// sessions still using it keep a valid export until the target exits.
#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
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
#include "stats.hpp"

namespace rdmablk::target {

// Largest READ/WRITE payload any transport accepts (the NBD spec's 32 MiB
// limit; the RDMA login negotiates less).
inline constexpr uint32_t kMaxIoSize = 32u << 20;

class Export {
 public:
  Export(ExportConfig config, std::unique_ptr<Backend> backend);

  const std::string& name() const { return config_.name; }
  const std::string& description() const { return config_.description; }
  // The disk's identity told at RDMA login (serial=, else the backend's,
  // e.g. an RBD image's); empty: none.
  const std::string& serial() const { return serial_; }
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
  const ExportConfig& config() const { return config_; }

  // Counters of this export's traffic over one transport; any thread.
  stats::IoStats& stats(stats::Transport t) const { return stats_[static_cast<size_t>(t)]; }

 private:
  ExportConfig config_;
  mutable std::array<stats::IoStats, stats::kTransports> stats_{};
  std::unique_ptr<Backend> backend_;
  AllowList allow_;
  uint64_t size_;
  uint32_t block_size_;
  std::string serial_;
};

// What a reload changed, for the log.
struct ReloadSummary {
  std::vector<std::string> added, removed, changed, kept;
};

class ExportTable {
 public:
  ExportTable() = default;
  explicit ExportTable(std::vector<std::unique_ptr<Export>> exports);
  ExportTable(ExportTable&& other) noexcept;
  ExportTable& operator=(ExportTable&& other) noexcept;

  // Opens every export's backend; throws ConfigError naming the export.
  static ExportTable open(const std::vector<ExportConfig>& configs);

  // Any thread. The pointer stays valid for the table's life.
  const Export* find(std::string_view name) const;
  // Any thread: the exports served now, in config order.
  std::vector<std::shared_ptr<Export>> all() const;

  // Control thread: serve `configs` from now on. Exports whose config is
  // unchanged stay as they are (their sessions never notice); new and
  // changed ones are opened first, and if any cannot be opened nothing
  // changes (throws ConfigError). Removed and replaced exports refuse new
  // sessions; the sessions they have go on until they end.
  ReloadSummary reload(const std::vector<ExportConfig>& configs);

  // Blocking fdatasync of every export, retired ones too (shutdown); logs
  // failures, returns false if any failed.
  bool sync_all() const;

 private:
  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<Export>> exports_;
  std::vector<std::shared_ptr<Export>> retired_;
};

}  // namespace rdmablk::target
