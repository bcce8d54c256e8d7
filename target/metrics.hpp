#pragma once
// The Prometheus endpoint (--metrics ADDR:PORT): an HTTP/1.1 server on the
// control io_context, built on Boost.Beast, that answers GET /metrics with
// the text exposition format (version 0.0.4). render_metrics() is pure so
// the format is unit-tested; the server only frames it.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>  // boost/asio/awaitable.hpp uses std::exchange

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "config.hpp"
#include "export.hpp"
#include "stats.hpp"

namespace rdmablk::target {

// Figures that only the listeners know, read on the control thread at scrape time.
struct ListenerFigures {
  bool nbd = false, rdma = false;  // which transports serve
  size_t nbd_connections = 0;      // one queue each
  size_t rdma_queues = 0;          // connected queues, logged in or not
};

// The whole exposition: every export of `exports` (the live ones), the
// listeners and the target-wide counters.
std::string render_metrics(const ExportTable& exports, const ListenerFigures& listeners,
                           const stats::TargetStats& target);

class MetricsServer {
 public:
  using Render = std::function<std::string()>;

  MetricsServer(boost::asio::io_context& control, Render render);
  // Binds and listens; returns the bound port. Throws std::system_error.
  uint16_t listen(const MetricsEndpoint& endpoint);
  void start();
  void stop();

 private:
  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> serve(boost::asio::ip::tcp::socket socket);

  boost::asio::io_context& control_;
  Render render_;
  boost::asio::ip::tcp::acceptor acceptor_;
  bool stopping_ = false;
};

}  // namespace rdmablk::target
