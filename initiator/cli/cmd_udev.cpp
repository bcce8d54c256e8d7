// rdmablk udev-id DEVICE: the udev properties of /dev/rdmablkN, as KEY=VALUE
// lines for IMPORT{program} in 60-rdmablk.rules, which names the stable
// links /dev/disk/by-id/rdmablk-<export> after them. Values are reduced to
// the characters udev keeps in a link name, so they are safe in a path.
#include <sys/stat.h>

#include <chrono>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "cli.hpp"
#include "devices.hpp"

namespace rdmablk::cli {

namespace {

// udev's own set for link names (udev_replace_chars): anything else is '_'.
std::string path_safe(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              std::string_view("#+-.:=@_").find(c) != std::string_view::npos;
    if (!ok) c = '_';
  }
  return out;
}

std::optional<rdmablk_ctl_info> find_device(uint32_t index) {
  for (const auto& d : mapped_devices())
    if (d.index == index) return d;
  return std::nullopt;
}

int run_udev_id(const std::string& device) {
  uint32_t index = device_number(device);
  // The disk's add event comes from add_disk(), a moment before the driver
  // lists the device: wait for it while the disk exists.
  std::string sys = fmt::format("/sys/block/rdmablk{}", index);
  std::optional<rdmablk_ctl_info> d;
  struct stat st;
  for (int i = 0; i < 100 && !(d = find_device(index)) && stat(sys.c_str(), &st) == 0; i++)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  if (!d) throw Failure(fmt::format("/dev/rdmablk{}: no such device", index));
  fmt::print("RDMABLK_EXPORT={}\n", path_safe(device_export(*d)));
  fmt::print("RDMABLK_TARGET={}\n", path_safe(device_target(*d)));
  fmt::print("RDMABLK_HOST_ID={}\n", path_safe(device_host_id(*d)));
  fmt::print("RDMABLK_MODE={}\n", d->mode == RDMABLK_CTL_MODE_DIRECT ? "direct" : "command");
  fmt::print("RDMABLK_STATE={}\n", device_state(*d));
  return 0;
}

}  // namespace

Command register_udev_id(CLI::App& parent) {
  auto device = std::make_shared<std::string>();
  auto* app = parent.add_subcommand("udev-id", "Print udev properties of a device (for 60-rdmablk.rules)");
  app->add_option("DEVICE", *device, "rdmablkN or /dev/rdmablkN")->required();
  return {app, [device] { return run_udev_id(*device); }};
}

}  // namespace rdmablk::cli
