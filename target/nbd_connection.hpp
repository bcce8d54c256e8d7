#pragma once
// One NBD client: the fixed-newstyle handshake, then transmission with many
// requests in flight. The reader coroutine parses requests and hands them to
// the backend; replies leave in completion order through one write queue,
// so replies never interleave and a burst of them shares one writev.
#include <chrono>
#include <memory>
#include <string>
#include <utility>  // boost/asio/awaitable.hpp uses std::exchange
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/steady_timer.hpp>

#include "buffer_pool.hpp"
#include "export.hpp"
#include "io_engine.hpp"
#include "rdmablk/nbd_proto.hpp"

namespace rdmablk::target {

struct NbdLimits {
  unsigned max_in_flight = 128;                     // requests per connection
  uint64_t max_in_flight_bytes = uint64_t{64} << 20;  // payload bytes held
  std::chrono::milliseconds handshake_timeout{30'000};
  std::chrono::milliseconds drain_timeout{10'000};  // at shutdown
};

class NbdConnection : public std::enable_shared_from_this<NbdConnection> {
 public:
  // TCP in production, a Unix socketpair in unit tests.
  using Socket = boost::asio::generic::stream_protocol::socket;

  NbdConnection(Socket socket, boost::asio::ip::address peer, std::string peer_name,
                const ExportTable& exports, IoEngine& engine, BufferPool& buffers,
                NbdLimits limits = {});
  ~NbdConnection();
  NbdConnection(const NbdConnection&) = delete;
  NbdConnection& operator=(const NbdConnection&) = delete;

  // Serves the client until it leaves, the link fails or stop() drains it;
  // returns only when no request of this connection is in flight. Never throws.
  boost::asio::awaitable<void> run();

  // Server shutdown (call on the connection's executor): no new requests;
  // those already received are finished and answered, then the socket closes.
  void stop();

 private:
  struct Request;
  enum class Phase { handshake, transmission, finished };

  boost::asio::awaitable<bool> handshake(std::string& reason);
  boost::asio::awaitable<std::string> transmission();
  boost::asio::awaitable<boost::system::error_code> read_exact(std::span<std::byte> dest);
  boost::asio::awaitable<boost::system::error_code> skip(uint64_t len);
  boost::asio::awaitable<boost::system::error_code> write_all(std::span<const std::byte> data);
  boost::asio::awaitable<boost::system::error_code> receive_payload(Request& r, bool keep);
  boost::asio::awaitable<void> wait_for_change();
  boost::asio::awaitable<void> drain();

  Request& acquire(const nbd::Request& header, IoOp op);
  void execute(Request& r);
  void on_backend_done(Request& r, int error);
  void finish(Request& r, uint32_t error, const char* message);
  void release(Request& r);
  void start_write();
  void on_write_done(const boost::system::error_code& ec);
  void append_reply(Request& r);
  void uncork();
  void wake();
  void close_socket();
  std::string describe(const boost::system::error_code& ec) const;

  Socket socket_;
  boost::asio::ip::address peer_;
  std::string peer_name_;
  const ExportTable& exports_;
  IoEngine& engine_;
  BufferPool& buffers_;
  NbdLimits limits_;
  boost::asio::steady_timer deadline_;  // handshake timeout, then drain timeout
  boost::asio::steady_timer wake_;      // the reader waits here; wake() cancels it

  Phase phase_ = Phase::handshake;
  bool stopping_ = false;
  bool timed_out_ = false;
  bool no_zeroes_ = false;
  bool structured_ = false;
  const Export* export_ = nullptr;
  stats::SessionCount session_count_;  // in the export's sessions gauge once negotiated

  // Input buffer: many small requests arrive in one read.
  std::vector<std::byte> in_;
  size_t in_begin_ = 0;
  size_t in_end_ = 0;

  // Requests: all_ owns them, free_ holds the idle ones.
  std::vector<std::unique_ptr<Request>> all_;
  std::vector<Request*> free_;
  unsigned in_flight_ = 0;
  uint64_t in_flight_bytes_ = 0;
  uint64_t served_ = 0;
  bool reader_waiting_ = false;

  // Write side: queue_ waits while sending_ is on the wire as iov_.
  std::vector<Request*> queue_;
  std::vector<Request*> sending_;
  std::vector<boost::asio::const_buffer> iov_;
  bool writing_ = false;
  bool corked_ = false;  // the reader is running: replies wait for one batch
  bool broken_ = false;  // a send failed; replies are dropped
};

}  // namespace rdmablk::target
