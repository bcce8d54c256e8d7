#include "metrics.hpp"

#include <chrono>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace rdmablk::target {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr auto kRequestTimeout = std::chrono::seconds(10);
constexpr size_t kMaxRequestBytes = 16 * 1024;

// Label values escape backslash, double quote and newline.
std::string escape(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

// Machine names of the rdmablk statuses a connect or login is refused with.
const char* reason_name(size_t status) {
  switch (status) {
    case RDMABLK_S_INVALID_OPCODE: return "invalid_opcode";
    case RDMABLK_S_INVALID_FIELD: return "invalid_field";
    case RDMABLK_S_VERSION: return "version";
    case RDMABLK_S_BAD_MESSAGE: return "bad_message";
    case RDMABLK_S_UNKNOWN_EXPORT: return "unknown_export";
    case RDMABLK_S_HOST_DENIED: return "host_denied";
    case RDMABLK_S_AUTH_FAILED: return "auth_failed";
    case RDMABLK_S_BAD_TICKET: return "bad_ticket";
    case RDMABLK_S_QUEUE_LIMIT: return "queue_limit";
    case RDMABLK_S_NO_RESOURCES: return "no_resources";
    case RDMABLK_S_SHUTTING_DOWN: return "shutting_down";
    case RDMABLK_S_INTERNAL: return "internal";
    default: return nullptr;  // not a login refusal: folded into "other"
  }
}

class Writer {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  }
  template <typename V>
  void sample(std::string_view name, std::string_view labels, V value) {
    if (labels.empty())
      fmt::format_to(std::back_inserter(out_), "{} {}\n", name, value);
    else
      fmt::format_to(std::back_inserter(out_), "{}{{{}}} {}\n", name, labels, value);
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

uint64_t load(const stats::Counter& c) { return c.load(std::memory_order_relaxed); }

}  // namespace

const char* stats::transport_name(Transport t) { return t == Transport::nbd ? "nbd" : "rdma"; }

const char* stats::op_name(IoOp op) {
  switch (op) {
    case IoOp::read: return "read";
    case IoOp::write: return "write";
    case IoOp::flush: return "flush";
    case IoOp::discard: return "discard";
    case IoOp::write_zeroes: return "write_zeroes";
  }
  return "unknown";
}

stats::TargetStats& stats::target() {
  static TargetStats instance;
  return instance;
}

std::string render_metrics(const ExportTable& table, const ListenerFigures& listeners,
                           const stats::TargetStats& target) {
  using stats::Transport;
  const auto exports = table.all();
  std::vector<Transport> transports;
  if (listeners.nbd) transports.push_back(Transport::nbd);
  if (listeners.rdma) transports.push_back(Transport::rdma);
  // One label set per export and transport.
  auto each = [&](auto&& fn) {
    for (const auto& e : exports)
      for (Transport t : transports)
        fn(fmt::format("export=\"{}\",transport=\"{}\"", escape(e->name()), stats::transport_name(t)),
           e->stats(t));
  };
  Writer w;
  w.family("rdmablk_exports", "gauge", "Exports served now.");
  w.sample("rdmablk_exports", "", exports.size());
  w.family("rdmablk_export_size_bytes", "gauge", "Size of each export.");
  for (const auto& e : exports)
    w.sample("rdmablk_export_size_bytes", fmt::format("export=\"{}\"", escape(e->name())), e->size());

  w.family("rdmablk_requests_total", "counter",
           "Requests answered through the target, by export, transport and operation (RDMA direct mode bypasses it).");
  each([&](const std::string& labels, const stats::IoStats& s) {
    for (size_t op = 0; op < stats::kOps; ++op)
      w.sample("rdmablk_requests_total", fmt::format("{},op=\"{}\"", labels, stats::op_name(static_cast<IoOp>(op))),
               load(s.requests[op]));
  });
  w.family("rdmablk_request_errors_total", "counter", "Requests answered with an error, by export, transport and operation.");
  each([&](const std::string& labels, const stats::IoStats& s) {
    for (size_t op = 0; op < stats::kOps; ++op)
      w.sample("rdmablk_request_errors_total",
               fmt::format("{},op=\"{}\"", labels, stats::op_name(static_cast<IoOp>(op))), load(s.errors[op]));
  });
  w.family("rdmablk_read_bytes_total", "counter", "Bytes read by successful READ requests.");
  each([&](const std::string& labels, const stats::IoStats& s) {
    w.sample("rdmablk_read_bytes_total", labels, load(s.bytes_read));
  });
  w.family("rdmablk_written_bytes_total", "counter", "Bytes written by successful WRITE requests.");
  each([&](const std::string& labels, const stats::IoStats& s) {
    w.sample("rdmablk_written_bytes_total", labels, load(s.bytes_written));
  });
  w.family("rdmablk_request_duration_seconds", "histogram",
           "Time from a request's arrival to its answer being queued, by export and transport.");
  each([&](const std::string& labels, const stats::IoStats& s) {
    uint64_t cumulative = 0;
    for (size_t b = 0; b < stats::kLatencyBoundsNs.size(); ++b) {
      cumulative += load(s.latency_buckets[b]);
      w.sample("rdmablk_request_duration_seconds_bucket",
               fmt::format("{},le=\"{}\"", labels, static_cast<double>(stats::kLatencyBoundsNs[b]) / 1e9), cumulative);
    }
    cumulative += load(s.latency_buckets.back());
    w.sample("rdmablk_request_duration_seconds_bucket", fmt::format("{},le=\"+Inf\"", labels), cumulative);
    w.sample("rdmablk_request_duration_seconds_sum", labels, static_cast<double>(load(s.latency_sum_ns)) / 1e9);
    w.sample("rdmablk_request_duration_seconds_count", labels, cumulative);
  });
  w.family("rdmablk_sessions", "gauge", "Open sessions (NBD connections, RDMA logins), by export and transport.");
  each([&](const std::string& labels, const stats::IoStats& s) {
    w.sample("rdmablk_sessions", labels, s.sessions.load(std::memory_order_relaxed));
  });
  w.family("rdmablk_queues", "gauge", "Connected queues by transport (an NBD connection is one queue).");
  if (listeners.nbd) w.sample("rdmablk_queues", "transport=\"nbd\"", listeners.nbd_connections);
  if (listeners.rdma) w.sample("rdmablk_queues", "transport=\"rdma\"", listeners.rdma_queues);

  w.family("rdmablk_bounce_buffers", "gauge", "Registered RDMA bounce buffers (file and block-device exports).");
  w.sample("rdmablk_bounce_buffers", "", target.bounce_total.load(std::memory_order_relaxed));
  w.family("rdmablk_bounce_buffers_in_use", "gauge", "RDMA bounce buffers lent to requests now.");
  w.sample("rdmablk_bounce_buffers_in_use", "", target.bounce_in_use.load(std::memory_order_relaxed));
  w.family("rdmablk_bounce_waits_total", "counter", "Requests that waited for an RDMA bounce buffer.");
  w.sample("rdmablk_bounce_waits_total", "", load(target.bounce_waits));

  w.family("rdmablk_login_rejects_total", "counter", "RDMA connections and logins refused, by reason.");
  uint64_t other = 0;
  for (size_t i = 0; i < stats::kStatuses; ++i) {
    if (const char* name = reason_name(i))
      w.sample("rdmablk_login_rejects_total", fmt::format("reason=\"{}\"", name), load(target.login_rejects[i]));
    else
      other += load(target.login_rejects[i]);
  }
  w.sample("rdmablk_login_rejects_total", "reason=\"other\"", other);

  w.family("rdmablk_reloads_total", "counter", "Export list reloads (SIGHUP) applied.");
  w.sample("rdmablk_reloads_total", "", load(target.reloads));
  w.family("rdmablk_reload_failures_total", "counter", "Export list reloads refused (bad config; nothing changed).");
  w.sample("rdmablk_reload_failures_total", "", load(target.reload_failures));
  return w.take();
}

MetricsServer::MetricsServer(asio::io_context& control, Render render)
    : control_(control), render_(std::move(render)), acceptor_(control) {}

uint16_t MetricsServer::listen(const MetricsEndpoint& endpoint) {
  error_code ec;
  auto addr = asio::ip::make_address(endpoint.address, ec);
  if (ec)
    throw std::system_error(EINVAL, std::generic_category(), fmt::format("bad metrics address '{}'", endpoint.address));
  tcp::endpoint ep(addr, endpoint.port);
  auto try_bind = [&](const tcp::endpoint& e) {
    error_code err;
    acceptor_.close(err);
    acceptor_.open(e.protocol(), err);
    if (!err && e.address().is_v6() && e.address().is_unspecified()) acceptor_.set_option(asio::ip::v6_only(false), err);
    if (!err) acceptor_.set_option(tcp::acceptor::reuse_address(true), err);
    if (!err) acceptor_.bind(e, err);
    if (!err) acceptor_.listen(asio::socket_base::max_listen_connections, err);
    return err;
  };
  ec = try_bind(ep);
  if (ec && addr.is_v6() && addr.is_unspecified()) ec = try_bind(tcp::endpoint(asio::ip::address_v4::any(), endpoint.port));
  if (ec)
    throw std::system_error(ec, fmt::format("metrics: cannot listen on {} port {}", endpoint.address, endpoint.port));
  uint16_t bound = acceptor_.local_endpoint().port();
  spdlog::info("metrics: serving http://{}:{}/metrics", addr.is_v6() ? "[" + addr.to_string() + "]" : addr.to_string(),
               bound);
  return bound;
}

void MetricsServer::start() { asio::co_spawn(control_, accept_loop(), asio::detached); }

void MetricsServer::stop() {
  stopping_ = true;
  error_code ignored;
  acceptor_.close(ignored);
}

asio::awaitable<void> MetricsServer::accept_loop() {
  while (!stopping_) {
    tcp::socket socket(control_);
    error_code ec;
    co_await acceptor_.async_accept(socket, asio::redirect_error(asio::use_awaitable, ec));
    if (stopping_) co_return;
    if (ec) {
      spdlog::warn("metrics: accept: {}", ec.message());
      asio::steady_timer pause(control_, std::chrono::milliseconds(100));
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    asio::co_spawn(control_, serve(std::move(socket)), asio::detached);
  }
}

// One client: requests answered in order while it keeps the connection alive.
asio::awaitable<void> MetricsServer::serve(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer(kMaxRequestBytes);
  for (;;) {
    http::request_parser<http::empty_body> parser;
    parser.header_limit(kMaxRequestBytes);
    parser.body_limit(0);
    stream.expires_after(kRequestTimeout);
    error_code ec;
    co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;  // closed, timed out, or not HTTP: nothing to answer
    const auto& req = parser.get();
    http::response<http::string_body> res;
    res.version(req.version());
    res.set(http::field::server, "rdmablk-target");
    res.keep_alive(req.keep_alive());
    const auto target = req.target();
    const bool metrics_path = target == "/metrics" || target.starts_with("/metrics?");
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      res.result(http::status::method_not_allowed);
      res.set(http::field::allow, "GET, HEAD");
      res.set(http::field::content_type, "text/plain");
      res.body() = "only GET and HEAD\n";
    } else if (!metrics_path) {
      res.result(http::status::not_found);
      res.set(http::field::content_type, "text/plain");
      res.body() = "metrics are at /metrics\n";
    } else {
      res.result(http::status::ok);
      res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      res.body() = render_();
    }
    res.prepare_payload();
    if (req.method() == http::verb::head) res.body().clear();
    stream.expires_after(kRequestTimeout);
    co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || !res.keep_alive() || stopping_) break;
  }
  error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

}  // namespace rdmablk::target
