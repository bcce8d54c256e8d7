// rdmablk discover: the exports a target lets this host see. Over rdma:// a
// DISCOVER on a fresh queue-0 connection before login; over nbd:// the
// server's export list (NBD_OPT_LIST).
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli.hpp"
#include "rdmablk/units.hpp"
#include "rdmablk/url.hpp"

namespace rdmablk::cli {

namespace {

struct DiscoverArgs {
  std::string url;
  bool json = false;
  ClientOptions opts;
};

int run_discover(const DiscoverArgs& a) {
  try {
    parse_host_url(a.url);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  std::vector<ExportInfo> exports = list_exports(a.url, a.opts);
  if (a.json) {
    auto list = nlohmann::json::array();
    for (const auto& e : exports)
      list.push_back({{"name", e.name},
                      {"size", e.size},
                      {"block_size", e.min_block_size},
                      {"read_only", e.read_only},
                      {"flags", flag_names(e)},
                      {"can_direct", e.can_direct},
                      {"needs_secret", e.needs_secret}});
    fmt::print("{}\n", nlohmann::json{{"exports", list}}.dump(2));
    return 0;
  }
  if (exports.empty()) {
    fmt::print("no exports\n");
    return 0;
  }
  size_t width = 6;
  for (const auto& e : exports) width = std::max(width, e.name.size());
  fmt::print("{:<{}}  {:>10}  {:>5}  {:<6}  {}\n", "EXPORT", width, "SIZE", "BLOCK", "SECRET", "FLAGS");
  for (const auto& e : exports)
    fmt::print("{:<{}}  {:>10}  {:>5}  {:<6}  {}\n", e.name, width, format_size(e.size), e.min_block_size,
               e.needs_secret ? "yes" : "no", fmt::join(flag_names(e), " "));
  return 0;
}

}  // namespace

Command register_discover(CLI::App& parent) {
  auto a = std::make_shared<DiscoverArgs>();
  auto* app = parent.add_subcommand("discover", "List the exports a target offers this host");
  app->add_option("URL", a->url, "rdma://host[:port] (or nbd://host[:port])")->required();
  app->add_flag("--json", a->json, "Print one JSON object");
  return {app, [a] { return run_discover(*a); }};
}

}  // namespace rdmablk::cli
