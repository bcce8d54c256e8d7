#include "nbd_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace rdmablk::target {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

std::string endpoint_name(const asio::ip::address& a, uint16_t port) {
  return a.is_v6() ? fmt::format("[{}]:{}", a.to_string(), port) : fmt::format("{}:{}", a.to_string(), port);
}

}  // namespace

NbdServer::NbdServer(asio::io_context& control, WorkerPool& workers, const ExportTable& exports,
                     NbdLimits limits)
    : control_(control),
      workers_(workers),
      exports_(exports),
      limits_(limits),
      acceptor_(control),
      live_(workers.all().size()) {}

uint16_t NbdServer::listen(const std::string& address, uint16_t port) {
  error_code ec;
  asio::ip::address addr = asio::ip::make_address(address, ec);
  if (ec) throw std::system_error(EINVAL, std::generic_category(), fmt::format("bad listen address '{}'", address));
  tcp::endpoint ep(addr, port);
  auto try_bind = [&](const tcp::endpoint& e) {
    error_code err;
    acceptor_.close(err);
    acceptor_.open(e.protocol(), err);
    if (!err && e.address().is_v6() && e.address().is_unspecified())
      acceptor_.set_option(asio::ip::v6_only(false), err);  // IPv4 clients too
    if (!err) acceptor_.set_option(tcp::acceptor::reuse_address(true), err);
    if (!err) acceptor_.bind(e, err);
    if (!err) acceptor_.listen(asio::socket_base::max_listen_connections, err);
    return err;
  };
  ec = try_bind(ep);
  if (ec && addr.is_v6() && addr.is_unspecified()) {
    spdlog::debug("nbd: cannot listen on [::]:{} ({}), trying 0.0.0.0", port, ec.message());
    ep = tcp::endpoint(asio::ip::address_v4::any(), port);
    ec = try_bind(ep);
  }
  if (ec) throw std::system_error(ec, fmt::format("cannot listen on {} port {}", address, port));
  uint16_t bound = acceptor_.local_endpoint().port();
  spdlog::info("nbd: listening on {}", endpoint_name(ep.address(), bound));
  return bound;
}

void NbdServer::start() { asio::co_spawn(control_, accept_loop(), asio::detached); }

asio::awaitable<void> NbdServer::accept_loop() {
  for (;;) {
    Worker& worker = workers_.next();
    NbdConnection::Socket socket(worker.context());
    error_code ec;
    co_await acceptor_.async_accept(socket, asio::redirect_error(asio::use_awaitable, ec));
    if (stopping_) co_return;
    if (ec) {
      // EMFILE and friends: back off instead of spinning.
      spdlog::warn("nbd: accept: {}", ec.message());
      asio::steady_timer pause(control_, std::chrono::milliseconds(100));
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    // The generic endpoint holds the peer's sockaddr; read it as TCP.
    auto remote = socket.remote_endpoint(ec);
    if (ec) continue;  // already gone
    tcp::endpoint peer;
    std::memcpy(peer.data(), remote.data(), remote.size());
    auto peer_addr = unmap_v4(peer.address());
    std::string name = endpoint_name(peer_addr, peer.port());
    spdlog::debug("nbd {}: connected (worker {})", name, worker.index());
    auto conn = std::make_shared<NbdConnection>(std::move(socket), peer_addr, std::move(name), exports_,
                                                worker.engine(), worker.buffers(), limits_);
    ++live_count_;
    spawn(worker, std::move(conn));
  }
}

void NbdServer::spawn(Worker& worker, std::shared_ptr<NbdConnection> conn) {
  asio::co_spawn(
      worker.context(),
      [this, &worker, conn]() -> asio::awaitable<void> {
        auto& live = live_[worker.index()];
        live.insert(conn);
        if (stopping_) conn->stop();
        co_await conn->run();
        live.erase(conn);
        connection_finished();
      },
      asio::detached);
}

void NbdServer::connection_finished() {
  if (live_count_.fetch_sub(1) == 1 && stopping_ && !drained_posted_.exchange(true))
    asio::post(control_, drained_);
}

void NbdServer::stop(std::function<void()> drained) {
  drained_ = std::move(drained);
  stopping_ = true;
  error_code ignored;
  acceptor_.close(ignored);
  for (auto& worker : workers_.all()) {
    asio::post(worker->context(), [this, index = worker->index()] {
      for (const auto& conn : live_[index]) conn->stop();
    });
  }
  if (live_count_ == 0 && !drained_posted_.exchange(true)) asio::post(control_, drained_);
}

}  // namespace rdmablk::target
