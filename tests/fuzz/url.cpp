// Export URLs (nbd://, rdma://) as the CLI and librdmablk parse them.
// Bad input may only raise std::invalid_argument; a URL that parses has a
// host and a port, and survives to_string() and back unchanged (the CLI
// prints URLs that users paste again).
#include <stdexcept>
#include <string_view>

#include "fuzz_util.hpp"
#include "rdmablk/url.hpp"

using namespace rdmablk;

namespace {

bool same(const Url& a, const Url& b) {
  return a.transport == b.transport && a.host == b.host && a.port == b.port && a.export_name == b.export_name &&
         a.options == b.options;
}

void check(const Url& url, bool need_export) {
  FUZZ_CHECK(!url.host.empty() && url.port != 0);
  if (need_export) FUZZ_CHECK(url.export_name.size() <= RDMABLK_EXPORT_NAME_MAX);
  const std::string text = url.to_string();
  Url again;
  try {
    again = need_export ? parse_url(text) : parse_host_url(text);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "to_string() gave '%s', which does not parse: %s\n", text.c_str(), e.what());
    FUZZ_CHECK(!"to_string() result does not parse");
  }
  if (!same(url, again)) std::fprintf(stderr, "round trip changed the URL: '%s'\n", text.c_str());
  FUZZ_CHECK(same(url, again));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (bool need_export : {true, false}) {
    try {
      check(need_export ? parse_url(text) : parse_host_url(text), need_export);
    } catch (const std::invalid_argument&) {
    }
  }
  return 0;
}
