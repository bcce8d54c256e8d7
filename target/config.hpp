#pragma once
// What the operator asked for: the [target] settings and the exports, from
// the command line (--export NAME=BACKEND,opts) and/or a TOML file. Pure
// parsing and validation, no I/O besides reading the config file, so every
// rule here is unit-tested.
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "rbd_config.hpp"

namespace rdmablk::target {

// A bad flag, spec or config entry; what() is one line for the operator.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline constexpr int kPortDisabled = -1;
inline constexpr uint32_t kMinBlockSize = 512;
inline constexpr uint32_t kMaxBlockSize = 4096;

struct ExportConfig {
  std::string name;
  std::string path;                 // file or block device; empty for RAM and RBD
  uint64_t ram_size = 0;            // RAM export when non-zero
  RbdConfig rbd;                    // Ceph RBD export when it names an image
  bool read_only = false;
  uint32_t block_size = 0;          // 0: the backend's natural size
  std::vector<std::string> allow;   // empty: everyone may open it
  std::string secret_file;          // RDMA login secret; never served over NBD
  std::string description;
  // The disk's identity for dm-multipath (RDMA login, RDMABLK_FEAT_EXPORT_ID):
  // declared when several targets serve one shared file; RBD exports default
  // to their image's. Empty: none.
  std::string serial;
  // Map the file into memory: RDMA direct mode and zero-copy reads. Read-only
  // exports only: RDMA writes into mapped page-cache pages escape the
  // kernel's dirty tracking, so FLUSH could not make them durable.
  bool mmap = false;

  bool is_ram() const { return ram_size != 0; }
  bool is_rbd() const { return !rbd.empty(); }
  bool operator==(const ExportConfig&) const = default;
};

// Where the Prometheus endpoint listens (--metrics ADDR:PORT).
struct MetricsEndpoint {
  std::string address;  // an IP address; "::" = all
  uint16_t port = 0;    // 0 = ephemeral (the port file names it)
};

struct TargetConfig {
  std::string listen = "::";        // dual-stack; falls back to 0.0.0.0
  int nbd_port = 10809;             // kPortDisabled: no NBD listener
  int rdma_port = 7471;             // kPortDisabled: no RDMA listener
  unsigned threads = 1;
  std::optional<MetricsEndpoint> metrics;  // no metrics endpoint when empty
  std::vector<ExportConfig> exports;
};

// "127.0.0.1:9100", "[::1]:9100", ":9100" (all addresses). Throws
// ConfigError naming what is wrong.
MetricsEndpoint parse_metrics_endpoint(std::string_view text);

// "vol0=/dev/sdb,ro,bs=4096,allow=10.0.0.0/8,allow=host:abc,desc=fast"
// or "scratch=ram:1G" or "vol1=rbd:pool/image,id=gw,keyring=/k". Throws ConfigError.
ExportConfig parse_export_spec(std::string_view spec);

// Parses a TOML document ([target] table, [[export]] array). `origin` names
// the file in error messages. Throws ConfigError.
TargetConfig parse_config_toml(std::string_view text, std::string_view origin);
TargetConfig load_config_file(const std::string& path);

// A declared export identity: 1..32 characters of A-Z a-z 0-9 . _ : -.
// Throws ConfigError naming the export.
void check_serial(std::string_view serial, std::string_view export_name);

// Adds `spec` to `config`, replacing an export of the same name (command-line
// exports override those from the file).
void add_or_replace_export(TargetConfig& config, ExportConfig spec);

// Cross-field checks once everything is merged: names unique and valid,
// block sizes, allow rules, ports, threads, at least one export.
void validate(const TargetConfig& config);

// "512".."4096", powers of two. Throws ConfigError.
uint32_t parse_block_size(std::string_view text);

}  // namespace rdmablk::target
