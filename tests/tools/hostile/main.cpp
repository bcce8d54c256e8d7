// rdmablk-rdma-hostile: a misbehaving RDMA initiator. It speaks just enough
// of the rdmablk protocol (raw librdmacm and verbs through rdmablk/verbs.hpp,
// the login of rdmablk/login.hpp, no librdmablk) to send what a correct
// initiator never sends, and checks that the target answers each with the
// status docs/protocol.md prescribes and still serves good I/O afterwards.
// One scenario per subcommand, each in a file of its own here:
//
//   rdmablk-rdma-hostile --host HOST --port PORT --rw EXPORT --ro EXPORT SUBCOMMAND [OPTIONS]
//
//   basics    malformed connects, commands before and after login, read-only
//             writes, a bogus rkey, a truncated capsule
//   tickets   another session's ticket, a stale one, one from --alt-host
//   garbage   every unknown opcode, random capsules, lengths past every limit
//   forged    the target's RDMA READ/WRITE against forged keys (command mode)
//   direct    the initiator's own RDMA against forged keys (--rw and --ro
//             grant direct mode)
//   access    --denied EXPORT (repeatable): an allow list refusing this
//             host; --secret EXPORT: logins without the secret; no byte moves
//   stall     --file EXPORT: a client that stops reading its responses must
//             not hold them from other sessions of a file export
//   burst     N queue-0 connects at once that never log in: all answered,
//             another session (via --alt-host) still served
//   all       basics, tickets, garbage, forged, and with their options
//             direct (--direct), access, stall (--file), burst (--burst N)
// Two scenarios run on their own while the calling case measures
// well-behaved sessions:
//   drip      --file EXPORT --seconds N [--interval MS] [--stop FILE]: one
//             response taken every MS (2000), the queue kept full of READs
//   flood     --src ADDR (repeatable) [--per N] [--cap N] [--login-timeout S]:
//             queue-0 connects from each address that never log in (see
//             flood.cpp)
// Only the first MiB of --rw is written (by the checks that succeed or by
// transfers whose result is unspecified); the rest of it, and --ro, must stay
// unchanged, which the calling VM case verifies.
// Exit status: 0 every expectation met, 1 otherwise (each check prints "ok:"
// or "FAIL:"), 2 for a bad command line.
#include <exception>
#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "hostile.hpp"

namespace {

using hostile::check;

// Runs one scenario under its "== name" header; an exception (the target
// unreachable, a verbs call failing) is one failure, not the end of the run.
template <class F>
bool section(const std::string& name, F&& run) {
  if (!name.empty()) fmt::print("== {}\n", name);
  try {
    if constexpr (std::is_same_v<decltype(run()), bool>)
      return run();
    else
      run();
  } catch (const std::exception& e) {
    check(false, fmt::format("setup failed: {}", e.what()));
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"A misbehaving RDMA initiator: checks that rdmablk-target answers what a correct initiator never "
               "sends with the status the protocol prescribes."};
  app.require_subcommand(1);
  app.fallthrough();
  hostile::Target t;
  app.add_option("--host", t.host, "the target's address")->required();
  app.add_option("--port", t.port, "the target's RDMA port")->required();
  app.add_option("--rw", t.rw, "a read-write export (only its first MiB is written)")->required();
  app.add_option("--ro", t.ro, "a read-only export")->required();

  std::string alt_host, file, secret;
  std::vector<std::string> denied;
  bool direct = false;
  unsigned burst = 0;
  auto alt_opt = [&](CLI::App* s) {
    s->add_option("--alt-host", alt_host, "another address of the same target: a stolen ticket used from there is "
                                          "refused, a burst does not lock it out");
  };
  auto access_opts = [&](CLI::App* s) {
    s->add_option("--denied", denied, "an export whose allow list refuses this host (repeatable)");
    s->add_option("--secret", secret, "an export with a secret");
  };

  auto* basics = app.add_subcommand("basics", "malformed connects and capsules, read-only writes, a bogus rkey");
  auto* tickets = app.add_subcommand("tickets", "another session's ticket, a stale one, one from another address");
  alt_opt(tickets);
  auto* garbage = app.add_subcommand("garbage", "every unknown opcode, random capsules, lengths past every limit");
  auto* forged = app.add_subcommand("forged", "the target's RDMA against forged keys and addresses (command mode)");
  auto* direct_cmd =
      app.add_subcommand("direct", "the initiator's own RDMA against forged keys and addresses (direct mode)");
  auto* access = app.add_subcommand("access", "a denied host, a missing or wrong secret: no byte moves");
  access_opts(access);
  auto* stall = app.add_subcommand("stall", "a client that stops reading its responses");
  stall->add_option("--file", file, "a file export (served through the shared bounce buffers)")->required();
  auto* burst_cmd = app.add_subcommand("burst", "N queue-0 connects at once that never log in");
  burst_cmd->add_option("N", burst, "how many")->required()->check(CLI::PositiveNumber);
  alt_opt(burst_cmd);
  auto* all = app.add_subcommand("all", "basics, tickets, garbage, forged, and the others their options ask for");
  all->add_option("--file", file, "a file export: run stall");
  all->add_flag("--direct", direct, "--rw and --ro grant direct mode: run direct");
  all->add_option("--burst", burst, "run burst with N connects");
  alt_opt(all);
  access_opts(all);

  hostile::DripOptions drip;
  auto* drip_cmd = app.add_subcommand("drip", "a client that takes its responses slowly (runs on its own)");
  drip_cmd->add_option("--file", drip.file, "the file export")->required();
  drip_cmd->add_option("--seconds", drip.seconds, "how long")->required();
  drip_cmd->add_option("--interval", drip.interval_ms, "one response taken every MS")->capture_default_str();
  drip_cmd->add_option("--stop", drip.stop, "stop once this file exists");
  hostile::FloodOptions flood;
  auto* flood_cmd = app.add_subcommand("flood", "a connect flood from many source addresses (runs on its own)");
  flood_cmd->add_option("--src", flood.src, "a source address of the flood (repeatable)")->required();
  flood_cmd->add_option("--per", flood.per, "connects from each address")->capture_default_str();
  flood_cmd->add_option("--cap", flood.cap, "the target's --rdma-max-pending")->capture_default_str();
  flood_cmd->add_option("--login-timeout", flood.login_timeout, "the target's --rdma-login-timeout (seconds)")
      ->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) ? 2 : 0;
  }

  const bool everything = all->parsed();
  bool go = true;
  if (basics->parsed() || everything) go = section("", [&] { return hostile::run_basics(t); });
  if (go && (tickets->parsed() || everything)) section("tickets", [&] { hostile::run_tickets(t, alt_host); });
  if (go && (garbage->parsed() || everything)) section("garbage and limits", [&] { hostile::run_garbage(t); });
  if (go && (forged->parsed() || everything))
    section("forged keys and addresses, command mode", [&] { hostile::run_forged(t); });
  if (go && (direct_cmd->parsed() || (everything && direct)))
    section("forged keys and addresses, direct mode", [&] { hostile::run_direct(t); });
  if (go && (access->parsed() || (everything && (!denied.empty() || !secret.empty()))))
    section("access", [&] { hostile::run_access(t, denied, secret); });
  if (go && (stall->parsed() || (everything && !file.empty())))
    section("a client that stops reading", [&] { hostile::run_stall(t, file); });
  if (go && (burst_cmd->parsed() || (everything && burst)))
    section("connect burst", [&] { hostile::run_burst(t, burst, alt_host); });
  if (drip_cmd->parsed()) section("a client that takes its responses slowly", [&] { hostile::run_drip(t, drip); });
  if (flood_cmd->parsed())
    section(fmt::format("a connect flood from {} addresses", flood.src.size()), [&] { hostile::run_flood(t, flood); });

  fmt::print("rdmablk-rdma-hostile: {} failure(s)\n", hostile::failures());
  return hostile::failures() ? 1 : 0;
}
