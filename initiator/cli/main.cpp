// rdmablk: the command line front end of librdmablk. Each subcommand lives in
// its own cmd_*.cpp; kernel device management (map, unmap, list) lives in
// cmd_map.cpp.
#include <cstdio>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "cli.hpp"

namespace {

// Log lines go to stderr so stdout stays clean for data and --json.
void setup_logging(bool verbose) {
  auto logger = spdlog::stderr_color_st("rdmablk");
  logger->set_pattern("rdmablk: %v");
  logger->set_level(verbose ? spdlog::level::debug : spdlog::level::info);
  spdlog::set_default_logger(logger);
}

int fail(int status, std::string_view message) {
  fmt::print(stderr, "rdmablk: {}\n", message);
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace rdmablk::cli;
  CLI::App app{"rdmablk - client for rdmablk-target and any NBD server"};
  app.set_version_flag("--version", RDMABLK_VERSION);
  app.require_subcommand(1);
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "Log protocol details to stderr");
  app.footer("URLs: nbd://host[:port]/export or rdma://host[:port]/export, with options\n"
             "?queues=N&qd=N&timeout=MS (rdma:// also &mode=command|direct&host_id=ID&secret_file=PATH).\n"
             "See rdmablk(8).");

  std::vector<Command> commands{register_info(app), register_get(app), register_put(app), register_bench(app),
                                register_discover(app), register_map(app), register_unmap(app),
                                register_list(app), register_status(app),
                                register_udev_id(app)};

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return fail(2, fmt::format("{} (see --help)", e.what()));
  }
  setup_logging(verbose);

  for (auto& c : commands) {
    if (!c.app->parsed()) continue;
    try {
      return c.run();
    } catch (const UsageError& e) {
      return fail(2, fmt::format("{} (see rdmablk {} --help)", e.what(), c.app->get_name()));
    } catch (const std::exception& e) {
      return fail(1, e.what());
    }
  }
  return fail(2, "no command given (see --help)");
}
