#pragma once
// Kernel devices /dev/rdmablkN through /dev/rdmablk-control, for the
// subcommands built on `map` and `list`: map --all (cmd_map_all.cpp) and
// udev-id (cmd_udev.cpp). Implemented in cmd_map.cpp. Failures throw
// Failure or UsageError (cli.hpp) with one line.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "maps_config.hpp"
#include "rdmablk/ctl.h"

namespace rdmablk::cli {

// Maps one device as `rdmablk map` does; returns its path /dev/rdmablkN.
std::string map_device(const MapArgs& a);
// Every mapped device (the LIST ioctl).
std::vector<rdmablk_ctl_info> mapped_devices();
// N of "/dev/rdmablkN" or "rdmablkN".
uint32_t device_number(const std::string& arg);
// A device's "addr:port" ("[v6]:port"), export, host id and state word.
std::string device_target(const rdmablk_ctl_info& info);
std::string device_export(const rdmablk_ctl_info& info);
// Whether the device maps export @name of the target at @family/@addr/@port
// (@addr: 16 bytes as in the ioctl structs; @port: the resolved port).
bool maps_export(const rdmablk_ctl_info& info, uint16_t family, const uint8_t* addr, uint16_t port,
                 const std::string& name);
std::string device_host_id(const rdmablk_ctl_info& info);
const char* device_state(const rdmablk_ctl_info& info);

// map --all [--config FILE] (cmd_map_all.cpp): adds the options to `map`,
// whose other options then cannot be combined with --all.
struct MapAllArgs {
  bool all = false;
  bool json = false;  // one object listing every entry's outcome
  std::string config = kMapsConfigPath;
};
std::shared_ptr<MapAllArgs> add_map_all_options(CLI::App* map);
int run_map_all(const MapAllArgs& a);

}  // namespace rdmablk::cli
