#pragma once
// The persistent map config, /etc/rdmablk/maps.conf: the devices that
// `rdmablk map --all` maps (at boot through rdmablk.service). TOML, one table
// per device, named by the table; the keys are the flags of `rdmablk map`:
//
//   [vol0]
//   url = "rdma://10.0.0.5/vol0"     # required
//   mode = "direct"                  # command (default) or direct
//   queues = 4                       # qd, poll_queues, host_id, secret_file,
//   ctrl_loss_tmo = -1               # reconnect_delay, io_timeout, read_only,
//   fast_io_fail_tmo = 5             # (for dm-multipath paths)
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace rdmablk::cli {

inline constexpr const char* kMapsConfigPath = "/etc/rdmablk/maps.conf";

// What `rdmablk map` takes, from its flags or from one table of maps.conf.
// 0 means the module's default (queues, qd, reconnect_delay, ctrl_loss_tmo,
// io_timeout).
struct MapArgs {
  std::string url;
  unsigned queues = 0;
  unsigned qd = 0;
  unsigned poll_queues = 0;  // extra queues for polled I/O (io_uring hipri)
  std::string mode = "command";
  std::string host_id;
  std::string secret_file;
  unsigned reconnect_delay = 0;
  int ctrl_loss_tmo = 0;
  unsigned io_timeout = 0;  // seconds
  // Seconds after a lost connection from which I/O fails while reconnecting
  // (a dm-multipath path); -1: off, I/O waits until ctrl_loss_tmo.
  int fast_io_fail_tmo = -1;
  bool read_only = false;
};

struct MapEntry {
  std::string name;   // the table's name
  std::string where;  // "FILE:LINE" of the table, for messages
  MapArgs args;
};

// A malformed file: what() is one line, "FILE:LINE: what is wrong".
struct MapsConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The entries of a maps.conf text in file order; `origin` names the file in
// messages. Every value is checked here, so that a mistake names its line
// instead of surfacing at map time.
std::vector<MapEntry> parse_maps_config(std::string_view text, std::string_view origin);
std::vector<MapEntry> load_maps_config(const std::string& path);

}  // namespace rdmablk::cli
