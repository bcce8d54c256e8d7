// rdmablk info: what an export is (size, block sizes, flags), or which
// exports a server offers.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli.hpp"
#include "rdmablk/units.hpp"
#include "rdmablk/url.hpp"

namespace rdmablk::cli {

namespace {

struct InfoArgs {
  std::string url;
  bool json = false;
  bool list = false;
  ClientOptions opts;
};

nlohmann::json to_json(const ExportInfo& e) {
  return {{"name", e.name},
          {"description", e.description},
          {"size", e.size},
          {"min_block_size", e.min_block_size},
          {"preferred_block_size", e.preferred_block_size},
          {"max_block_size", e.max_block_size},
          {"read_only", e.read_only},
          {"can_flush", e.can_flush},
          {"can_fua", e.can_fua},
          {"can_trim", e.can_trim},
          {"can_write_zeroes", e.can_write_zeroes},
          {"can_multi_conn", e.can_multi_conn},
          {"rotational", e.rotational},
          {"can_direct", e.can_direct}};
}

std::string display_name(const std::string& name) { return name.empty() ? "(default)" : name; }

void print_export(const ExportInfo& e) {
  fmt::print("export:      {}\n", display_name(e.name));
  if (!e.description.empty()) fmt::print("description: {}\n", e.description);
  fmt::print("size:        {} ({})\n", e.size, format_size(e.size));
  fmt::print("block size:  minimum {}, preferred {}, maximum {}\n", e.min_block_size, e.preferred_block_size,
             e.max_block_size);
  fmt::print("flags:       {}\n", fmt::join(flag_names(e), " "));
}

void print_list(const std::vector<ExportInfo>& exports) {
  if (exports.empty()) {
    fmt::print("no exports\n");
    return;
  }
  size_t width = 6;
  for (const auto& e : exports) width = std::max(width, display_name(e.name).size());
  fmt::print("{:<{}}  {:>10}  {:<10}  {}\n", "EXPORT", width, "SIZE", "ACCESS", "DESCRIPTION");
  for (const auto& e : exports)
    fmt::print("{:<{}}  {:>10}  {:<10}  {}\n", display_name(e.name), width, format_size(e.size),
               e.read_only ? "read-only" : "read-write", e.description);
}

int run_info(const InfoArgs& a) {
  Url url;
  try {
    url = parse_host_url(a.url);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  if (a.list || url.export_name.empty()) {
    std::vector<ExportInfo> exports = list_exports(a.url, a.opts);
    if (a.json) {
      auto list = nlohmann::json::array();
      for (const auto& e : exports) list.push_back(to_json(e));
      fmt::print("{}\n", nlohmann::json{{"exports", list}}.dump(2));
    } else {
      print_list(exports);
    }
    return 0;
  }
  auto client = open_client(a.url, a.opts);
  if (a.json)
    fmt::print("{}\n", to_json(client->info()).dump(2));
  else
    print_export(client->info());
  return 0;
}

}  // namespace

Command register_info(CLI::App& parent) {
  auto args = std::make_shared<InfoArgs>();
  auto* app = parent.add_subcommand("info", "Show an export's size, block sizes and flags, or list a server's exports");
  app->add_option("URL", args->url,
                  "nbd:// or rdma://host[:port]/export; without an export: list the exports")
      ->required();
  app->add_flag("--json", args->json, "Print one JSON object");
  app->add_flag("-l,--list", args->list, "List the server's exports even if the URL names one");
  add_rdma_options(app, args->opts, false);
  return {app, [args] { return run_info(*args); }};
}

}  // namespace rdmablk::cli
