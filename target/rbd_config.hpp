#pragma once
// The settings of an rbd: export (a Ceph RBD image served through librbd):
// "rbd:POOL/IMAGE" plus conf=, id=, keyring=, timeout= options on the
// command line, the same keys in a TOML [[export]] table. Pure parsing, so
// every rule is unit-tested; rbd_backend.* does the talking to Ceph.
#include <cstdint>
#include <string>
#include <string_view>

namespace rdmablk::target {

inline constexpr std::string_view kRbdPrefix = "rbd:";
// Seconds a mon or OSD operation may take before librbd fails it: below
// the kernel driver's default request timeout (30 s), so the initiator sees
// an I/O error rather than a request timeout when the cluster is gone.
inline constexpr unsigned kRbdDefaultTimeout = 20;
inline constexpr unsigned kRbdMaxTimeout = 3600;

struct RbdConfig {
  std::string pool;
  std::string pool_namespace;  // POOL/NAMESPACE/IMAGE; empty: the default namespace
  std::string image;
  std::string conf;     // ceph.conf to read; empty: librados' default search
  std::string id;       // cephx user without "client."; empty: "admin"
  std::string keyring;  // empty: what the conf says
  unsigned timeout = kRbdDefaultTimeout;  // seconds, for connect and every operation

  bool empty() const { return image.empty(); }
  bool operator==(const RbdConfig&) const = default;
  // "pool/image" or "pool/ns/image", for messages.
  std::string location() const;
};

// "POOL/IMAGE" or "POOL/NAMESPACE/IMAGE" (what follows "rbd:"). `name`
// names the export in errors. Throws ConfigError.
RbdConfig parse_rbd_location(std::string_view text, std::string_view name);

// Applies one export option if it is an RBD one (conf, id, keyring,
// timeout); returns false for keys it does not know. Throws ConfigError on
// a bad value.
bool apply_rbd_option(RbdConfig& rbd, std::string_view key, std::string_view value,
                      std::string_view name);

}  // namespace rdmablk::target
