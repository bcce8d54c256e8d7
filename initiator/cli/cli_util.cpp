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

void add_rdma_options(CLI::App* app, ClientOptions& opts, bool mode) {
  if (mode) {
    app->add_option_function<std::string>(
           "--mode", [&opts](const std::string& v) { opts.mode = v == "direct" ? RdmaMode::direct : RdmaMode::command; },
           "rdma://: command (the target moves the data) or direct (RDMA READ/WRITE of the export's memory; "
           "falls back to command if the export does not offer it)")
        ->check(CLI::IsMember({"command", "direct"}))
        ->option_text("command|direct");
    app->add_flag("--poll", opts.poll,
                  "rdma://: busy-poll completions while requests are in flight (lower latency, a busy core)");
  }
  app->add_option("--host-id", opts.host_id, "rdma://: host id for the login (default: /etc/machine-id)");
  app->add_option("--secret-file", opts.secret_file, "rdma://: file holding the export's secret (mode 0600)");
}

std::vector<std::string> flag_names(const ExportInfo& e) {
  std::vector<std::string> f{e.read_only ? "read-only" : "read-write"};
  if (e.can_flush) f.push_back("flush");
  if (e.can_fua) f.push_back("fua");
  if (e.can_trim) f.push_back("trim");
  if (e.can_write_zeroes) f.push_back("write-zeroes");
  if (e.can_multi_conn) f.push_back("multi-conn");
  if (e.rotational) f.push_back("rotational");
  if (e.can_direct) f.push_back("direct");
  return f;
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

std::vector<ExportInfo> list_exports(const std::string& host_url, const ClientOptions& opts) {
  try {
    return Client::list_exports(host_url, opts);
  } catch (const Error& e) {
    if (e.code() == std::errc::invalid_argument) throw UsageError(e.what());
    throw;
  }
}

}  // namespace rdmablk::cli
