#pragma once
// The RDMA transport of librdmablk: a Client over one session (queue 0,
// which logs in, and I/O queues 1..N that join it), driven by one I/O
// thread. docs/protocol.md is the contract.
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "fifo.hpp"
#include "rdma_login.hpp"
#include "rdma_memory.hpp"
#include "rdma_queue.hpp"
#include "request_check.hpp"
#include "rdmablk/client.hpp"
#include "rdmablk/url.hpp"

namespace rdmablk::rdma {

// Largest transfer librdmablk asks for at login; the target grants at most
// this, and bounce buffers grow only as far as requests need.
constexpr uint32_t kMaxIoSize = RDMABLK_MAX_IO_SIZE;

class RdmaClient final : public Client, private QueueEvents {
 public:
  // Connects queue 0, logs in, joins the granted I/O queues and starts the
  // I/O thread. Throws rdmablk::Error with one line naming the reason.
  static std::unique_ptr<Client> open(const Url& url, const ClientOptions& opts);
  ~RdmaClient() override;

  const ExportInfo& info() const override { return info_; }
  const ClientOptions& options() const override { return opts_; }
  Buffer alloc_buffer(size_t size) override;

  void read(uint64_t offset, std::span<std::byte> buf, Completion done) override;
  void write(uint64_t offset, std::span<const std::byte> buf, Completion done, bool fua) override;
  void flush(Completion done) override;
  void discard(uint64_t offset, uint64_t length, Completion done) override;
  void write_zeroes(uint64_t offset, uint64_t length, Completion done, bool fua) override;

 private:
  RdmaClient(const Url& url, const ClientOptions& opts);
  void connect();
  Session login(Queue& q0, uint16_t queue_depth, const std::optional<std::string>& secret,
                Clock::time_point deadline);
  void submit(Op op, uint8_t opcode, uint64_t offset, uint64_t length, std::byte* data, bool fua, Completion done);
  void push(Request&& r);
  QueueEvents& events() { return *this; }

  // I/O thread only:
  void pump();
  void schedule_pump();
  Queue* pick(const Request& r);
  bool any_alive() const;
  void arm_ticker();
  void keepalive(Clock::time_point now);
  void maybe_finish();
  std::shared_ptr<MemoryRegistry> registry_for(ibv_context* device) override;
  void on_slot_free() override;
  void on_dead(uint16_t qid) override;

  // Destroyed last: descriptors and timers below belong to it.
  asio::io_context io_;
  Url url_;
  ClientOptions opts_;
  std::string peer_;
  ExportInfo info_;
  std::shared_ptr<MemoryRegistry> registry_;
  std::vector<std::unique_ptr<Queue>> queues_;  // index = qid
  asio::steady_timer ticker_{io_};  // request deadlines and keepalive
  // Keeps the I/O thread running while idle; dropped once finished.
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;

  std::mutex mu_;             // guards the two below
  Fifo<Request> pending_;     // submitted, waiting for a slot
  bool pump_posted_ = false;

  size_t next_queue_ = 0;  // round robin
  bool closing_ = false;   // the destructor waits for the last answer
  bool finished_ = false;  // queues disconnected, the I/O thread is ending
  bool warned_unregistered_ = false;
  std::thread io_thread_;
};

// DISCOVER on a queue-0 connection before login: the exports this host may
// see (docs/protocol.md, "Discover"). Throws rdmablk::Error.
std::vector<ExportInfo> discover(const Url& url, const ClientOptions& opts);

// "host:port" ([v6]:port) for messages.
std::string peer_name(const Url& url);

}  // namespace rdmablk::rdma
