#pragma once
// The NBD listener: accepts TCP connections on the control thread and hands
// each to a worker (round robin), keeps track of them, and drains them all
// at shutdown.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>  // boost/asio/awaitable.hpp uses std::exchange
#include <unordered_set>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "export.hpp"
#include "nbd_connection.hpp"
#include "worker.hpp"

namespace rdmablk::target {

class NbdServer {
 public:
  NbdServer(boost::asio::io_context& control, WorkerPool& workers, const ExportTable& exports,
            NbdLimits limits = {});

  // Binds and listens; "::" falls back to 0.0.0.0 where IPv6 is off.
  // Returns the bound port (useful with port 0). Throws std::system_error.
  uint16_t listen(const std::string& address, uint16_t port);
  void start();
  // Stops accepting and drains every connection; `drained` then runs on
  // the control context.
  void stop(std::function<void()> drained);
  // Connections open now (any thread).
  size_t connections() const { return live_count_; }

 private:
  boost::asio::awaitable<void> accept_loop();
  void spawn(Worker& worker, std::shared_ptr<NbdConnection> conn);
  void connection_finished();

  boost::asio::io_context& control_;
  WorkerPool& workers_;
  const ExportTable& exports_;
  NbdLimits limits_;
  boost::asio::ip::tcp::acceptor acceptor_;
  // live_[i] is touched only on worker i's thread.
  std::vector<std::unordered_set<std::shared_ptr<NbdConnection>>> live_;
  std::atomic<size_t> live_count_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> drained_posted_{false};
  std::function<void()> drained_;
};

}  // namespace rdmablk::target
