// The operator's configuration: an --export spec or a TOML config file,
// then the merge and the cross-field validate() that rdmablk-target's main
// runs. Bad input may only ever raise ConfigError; anything else escaping
// (or a crash in toml++) is a finding. Whatever passes validate() is a
// configuration the backends can be opened with.
// Input: one byte choosing spec (even) or TOML (odd), then the text.
#include <string_view>

#include "config.hpp"
#include "fuzz_util.hpp"

using namespace rdmablk;
using namespace rdmablk::target;

namespace {

void check_valid(const TargetConfig& c) {
  for (const auto& e : c.exports) {
    FUZZ_CHECK(!e.name.empty() && e.name.size() <= RDMABLK_EXPORT_NAME_MAX);
    FUZZ_CHECK(e.is_ram() + !e.path.empty() + e.is_rbd() == 1);
    if (e.block_size) FUZZ_CHECK(e.block_size >= 512 && e.block_size <= 4096 && !(e.block_size & (e.block_size - 1)));
    if (e.is_ram()) FUZZ_CHECK(e.ram_size % (e.block_size ? e.block_size : 512) == 0);
    if (e.mmap) FUZZ_CHECK(!e.is_ram() && !e.is_rbd() && e.read_only);
  }
  FUZZ_CHECK(c.threads >= 1 && c.threads <= 64);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  TargetConfig config;
  try {
    if (data[0] % 2 == 0) {
      ExportConfig e = parse_export_spec(text);
      // The name is the text before the first '='.
      FUZZ_CHECK(text.substr(0, text.find('=')) == e.name);
      add_or_replace_export(config, std::move(e));
    } else {
      config = parse_config_toml(text, "fuzz.toml");
    }
  } catch (const ConfigError&) {
    return 0;
  }
  try {
    validate(config);
  } catch (const ConfigError&) {
    return 0;
  }
  check_valid(config);
  return 0;
}
