#pragma once
// Pieces shared by the rdmablk subcommands. Each subcommand lives in its own
// cmd_*.cpp and is registered from main.cpp.
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "rdmablk/client.hpp"

namespace rdmablk::cli {

// A mistake on the command line (bad URL, size or combination): exit 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A failure worth one line on stderr and exit status 1.
struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A subcommand: its CLI11 app and what runs it once parsed (exit status).
struct Command {
  CLI::App* app;
  std::function<int()> run;
};

Command register_info(CLI::App& parent);
Command register_get(CLI::App& parent);
Command register_put(CLI::App& parent);
Command register_bench(CLI::App& parent);
Command register_discover(CLI::App& parent);
Command register_map(CLI::App& parent);
Command register_unmap(CLI::App& parent);
Command register_list(CLI::App& parent);
Command register_udev_id(CLI::App& parent);
Command register_status(CLI::App& parent);

// "4k", "1M"... for option `name`; throws UsageError.
uint64_t size_arg(std::string_view name, const std::string& text);

// The rdma:// login options (--host-id, --secret-file and, with `mode`,
// --mode), stored into `opts`. URL options (?host_id=...) override them.
void add_rdma_options(CLI::App* app, ClientOptions& opts, bool mode);

// Feature words of an export ("read-write flush fua trim ... direct").
std::vector<std::string> flag_names(const ExportInfo& e);

// Client::open, with a bad URL or URL option reported as a UsageError.
std::unique_ptr<Client> open_client(const std::string& url, const ClientOptions& opts);
// Client::list_exports, with a bad URL or URL option reported as a UsageError.
std::vector<ExportInfo> list_exports(const std::string& host_url, const ClientOptions& opts);

}  // namespace rdmablk::cli
