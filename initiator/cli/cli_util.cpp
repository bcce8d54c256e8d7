#include <fmt/format.h>

#include "cli.hpp"
#include "rdmablk/units.hpp"

namespace rdmablk::cli {

uint64_t size_arg(std::string_view name, const std::string& text) {
  try {
    return parse_size(text);
  } catch (const std::invalid_argument& e) {
    throw UsageError(fmt::format("{}: {}", name, e.what()));
  }
}

std::unique_ptr<Client> open_client(const std::string& url, const ClientOptions& opts) {
  try {
    return Client::open(url, opts);
  } catch (const Error& e) {
    // Before any connection, EINVAL can only mean the URL or its options.
    if (e.code() == std::errc::invalid_argument) throw UsageError(e.what());
    throw;
  }
}

}  // namespace rdmablk::cli
