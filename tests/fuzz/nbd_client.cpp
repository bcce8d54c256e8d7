// A hostile NBD server against librdmablk's NBD client: the fuzzer's bytes
// are everything the server sends, over a real loopback TCP connection,
// through the real handshake (initiator/src/nbd_handshake.cpp) and the real
// reply reader (initiator/src/nbd_connection.cpp).
//   byte 0, bit 0: 0 = open the export and send requests; 1 = list exports
//   open: byte 1 picks the number of requests (1-4), then 3 bytes each:
//         command, length, offset (see request_from)
//   the rest: the server's byte stream, sent at once, then end of stream
// Whatever arrives, the client may only fail with a clear error: every
// request completes exactly once, and a READ writes only inside its own
// buffer (each is exactly sized, so ASan sees any byte past it).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "fuzz_util.hpp"
#include "nbd_connection.hpp"
#include "nbd_handshake.hpp"

using namespace rdmablk;

namespace {

using namespace std::chrono_literals;

// One listening socket on 127.0.0.1 for the whole run.
struct Listener {
  int fd = -1;
  uint16_t port = 0;
  Listener() {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    FUZZ_CHECK(fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && ::listen(fd, 8) == 0 &&
               ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port = ntohs(a.sin_port);
  }
};

const Listener& listener() {
  static const Listener l;
  return l;
}

// The server: accepts one connection, sends `stream` while draining what
// the client sends, closes its sending side, then drains until the client
// closes. Bounded by a 5 s deadline (libFuzzer's -timeout catches a hang).
void serve(std::vector<uint8_t> stream) {
  pollfd l{listener().fd, POLLIN, 0};
  if (::poll(&l, 1, 5000) != 1) return;  // the client failed before connecting
  int c = ::accept4(listener().fd, nullptr, nullptr, SOCK_CLOEXEC);
  if (c < 0) return;
  size_t sent = 0;
  bool shut = false;
  std::array<uint8_t, 64 * 1024> sink;
  for (int polls = 0; polls < 5000; ++polls) {
    if (sent == stream.size() && !shut) {
      ::shutdown(c, SHUT_WR);
      shut = true;
    }
    pollfd p{c, static_cast<short>(POLLIN | (shut ? 0 : POLLOUT)), 0};
    if (::poll(&p, 1, 1) < 0) break;
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::recv(c, sink.data(), sink.size(), 0);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) break;  // the client closed
    }
    if (!shut && (p.revents & POLLOUT)) {
      ssize_t n = ::send(c, stream.data() + sent, stream.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && errno != EAGAIN && errno != EINTR) break;
      if (n > 0) sent += static_cast<size_t>(n);
    }
  }
  ::close(c);
}

// serve() on one thread for the whole run: a thread per input would grow
// ASan's memory with every thread ever started. The server of one input
// starts with the Serving object and is waited for when it goes.
class Server {
 public:
  static Server& get() {
    static Server* s = new Server;  // never destroyed: its thread waits on it to the end
    return *s;
  }
  void start(std::vector<uint8_t> stream) {
    std::lock_guard lock(mutex_);
    job_ = std::move(stream);
    cv_.notify_all();
  }
  void wait() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [this] { return !job_ && !busy_; });
  }

 private:
  Server() { std::thread([this] { run(); }).detach(); }
  void run() {
    for (;;) {
      std::vector<uint8_t> stream;
      {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [this] { return job_.has_value(); });
        stream = std::move(*job_);
        job_.reset();
        busy_ = true;
      }
      serve(std::move(stream));
      std::lock_guard lock(mutex_);
      busy_ = false;
      cv_.notify_all();
    }
  }
  std::mutex mutex_;
  std::condition_variable cv_;
  std::optional<std::vector<uint8_t>> job_;
  bool busy_ = false;
};

struct Serving {
  explicit Serving(std::vector<uint8_t> stream) { Server::get().start(std::move(stream)); }
  ~Serving() { Server::get().wait(); }
  Serving(const Serving&) = delete;
  Serving& operator=(const Serving&) = delete;
};

// The errors a client may report: a clear errno, never a crash or a hang.
bool known_error(const std::error_code& e) {
  static const std::errc allowed[] = {
      std::errc::protocol_error,     std::errc::protocol_not_supported, std::errc::not_supported,
      std::errc::permission_denied,  std::errc::no_such_file_or_directory, std::errc::connection_reset,
      std::errc::timed_out,          std::errc::io_error,                std::errc::operation_not_permitted,
      std::errc::not_enough_memory,  std::errc::invalid_argument,        std::errc::no_space_on_device,
      std::errc::value_too_large,    std::errc::operation_not_supported, std::errc::broken_pipe,
      std::errc::connection_aborted, std::errc::connection_refused,   std::errc::not_connected};
  for (auto a : allowed)
    if (e == a) return true;
  return e.value() == ESHUTDOWN;
}

struct Events : nbd::ConnectionEvents {
  bool dead = false;
  void on_slot_free() override {}
  void on_dead() override { dead = true; }
};

// A request drawn from three bytes: command, length, offset.
nbd::Submission request_from(fuzz::Input& in, std::vector<std::byte>& buf) {
  static const uint16_t commands[] = {nbd::kCmdRead, nbd::kCmdWrite, nbd::kCmdFlush, nbd::kCmdTrim};
  // Small, a block, and both sides of the reader's bypass (payloads over
  // half of its 256 KiB buffer go straight from the socket).
  static const uint32_t lengths[] = {1, 512, 4096, 65536, 130000, 200000};
  nbd::Submission r;
  r.type = commands[in.byte() % 4];
  r.length = lengths[in.byte() % 6];
  r.offset = uint64_t{in.byte()} * 4096;
  if (r.type == nbd::kCmdFlush) r.length = r.offset = 0;
  if (r.type == nbd::kCmdRead || r.type == nbd::kCmdWrite) {
    buf.assign(r.length, std::byte{0x5a});
    r.data = buf.data();
  }
  return r;
}

void open_and_transmit(fuzz::Input& in, const Url& url) {
  const unsigned n = 1 + in.byte() % 4;
  std::vector<std::vector<std::byte>> bufs(n);
  std::vector<nbd::Submission> reqs;
  for (unsigned i = 0; i < n; ++i) reqs.push_back(request_from(in, bufs[i]));
  Serving server(in.rest());  // waited for however this returns
  // One io_context for the run: each new one starts its own resolver thread.
  static boost::asio::io_context io;
  try {
    nbd::Session s = nbd::open_session(io, url, 5s);
    FUZZ_CHECK(s.info.min_block_size >= 1 && s.info.min_block_size <= 65536 &&
               (s.info.min_block_size & (s.info.min_block_size - 1)) == 0);
    FUZZ_CHECK(s.info.max_block_size <= nbd::kMaxPayload);
    Events events;
    nbd::Connection conn(std::move(s.socket), s.structured_replies, n, "fuzz", events);
    std::vector<int> completions(n, 0);
    for (unsigned i = 0; i < n; ++i) {
      reqs[i].done = [&completions, i](std::error_code ec) {
        ++completions[i];
        FUZZ_CHECK(!ec || known_error(ec));
      };
      FUZZ_CHECK(conn.has_free_slot());
      conn.enqueue(std::move(reqs[i]), nbd::Clock::now() + 5s);
    }
    conn.start();
    conn.start_writing();
    io.restart();
    io.run();  // ends once the server's stream ended and the reader failed
    FUZZ_CHECK(events.dead && conn.idle());
    for (int c : completions) FUZZ_CHECK(c == 1);
  } catch (const Error& e) {
    FUZZ_CHECK(known_error(e.code()));
  }
}

void list(fuzz::Input& in, const Url& url) {
  Serving server(in.rest());
  try {
    for (const auto& e : nbd::list_exports(url, 5s)) FUZZ_CHECK(e.max_block_size <= nbd::kMaxPayload);
  } catch (const Error& e) {
    FUZZ_CHECK(known_error(e.code()));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool once = (fuzz::quiet_logs(), true);
  (void)once;
  Url url;
  url.host = "127.0.0.1";
  url.port = listener().port;
  url.export_name = "vol";
  fuzz::Input in(data, size);
  if (in.byte() & 1)
    list(in, url);
  else
    open_and_transmit(in, url);
  return 0;
}
