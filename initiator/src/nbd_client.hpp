#pragma once
// The NBD transport of librdmablk: a Client over one or more NBD connections
// to one export, driven by one I/O thread.
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "fifo.hpp"
#include "nbd_connection.hpp"
#include "request_check.hpp"
#include "rdmablk/client.hpp"
#include "rdmablk/url.hpp"

namespace rdmablk::nbd {

class NbdClient final : public Client, private ConnectionEvents {
 public:
  // Connects `opts.queues` connections (1 unless the server allows more)
  // and starts the I/O thread. Throws rdmablk::Error.
  static std::unique_ptr<Client> open(const Url& url, const ClientOptions& opts);
  ~NbdClient() override;

  const ExportInfo& info() const override { return info_; }
  const ClientOptions& options() const override { return opts_; }
  Buffer alloc_buffer(size_t size) override { return Buffer(size); }

  void read(uint64_t offset, std::span<std::byte> buf, Completion done) override;
  void write(uint64_t offset, std::span<const std::byte> buf, Completion done, bool fua) override;
  void flush(Completion done) override;
  void discard(uint64_t offset, uint64_t length, Completion done) override;
  void write_zeroes(uint64_t offset, uint64_t length, Completion done, bool fua) override;

 private:
  NbdClient(const Url& url, const ClientOptions& opts);
  void connect();
  void submit(Op op, uint16_t type, uint64_t offset, uint64_t length, std::byte* data, bool fua,
              Completion done);

  // I/O thread only:
  void pump();
  void schedule_pump();
  Connection* pick_connection();
  bool any_alive() const;
  void arm_ticker();
  void maybe_finish();
  void on_slot_free() override;
  void on_dead() override;

  // Destroyed last: sockets and timers below belong to it.
  asio::io_context io_;
  Url url_;
  ClientOptions opts_;
  ExportInfo info_;
  std::vector<std::unique_ptr<Connection>> conns_;
  asio::steady_timer ticker_{io_};  // checks request deadlines
  // Keeps the I/O thread running while idle; dropped once finished.
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;

  std::mutex mu_;                // guards the two below
  Fifo<Submission> pending_;     // submitted, waiting for a slot
  bool pump_posted_ = false;

  size_t next_conn_ = 0;   // round robin over connections
  bool closing_ = false;   // the destructor is waiting for the last reply
  bool finished_ = false;  // NBD_CMD_DISC sent, the I/O thread is ending
  std::thread io_thread_;
};

}  // namespace rdmablk::nbd
