#pragma once
// One NBD connection in the transmission phase: a fixed set of request slots
// (queue_depth of them, allocated once), a writer that gathers queued
// requests into one writev, and a reader coroutine that matches replies to
// slots by cookie. Runs on the client's I/O thread only.
#include <chrono>
#include <span>
#include <string>
#include <utility>  // before awaitable.hpp: Boost 1.74 uses std::exchange without it
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "nbd_io.hpp"
#include "read_buffer.hpp"
#include "rdmablk/client.hpp"

namespace rdmablk::nbd {

using Clock = std::chrono::steady_clock;

// A request on its way from a submit call to a slot.
struct Submission {
  uint16_t type = kCmdRead;
  uint16_t flags = 0;
  uint64_t offset = 0;
  uint32_t length = 0;
  std::byte* data = nullptr;  // READ: destination; WRITE: source (never written)
  Completion done;
  bool local = false;         // complete with `status` without sending
  std::error_code status;
};

// Runs a completion. Completions must not throw: an exception escaping one
// would leave a connection half updated, so it ends the program instead.
inline void invoke(Completion& done, std::error_code ec) noexcept { done(ec); }

// What a connection tells its client.
class ConnectionEvents {
 public:
  virtual void on_slot_free() = 0;  // queued requests may go now
  virtual void on_dead() = 0;       // the connection failed for good

 protected:
  ~ConnectionEvents() = default;
};

class Connection {
 public:
  Connection(tcp::socket socket, bool structured_replies, unsigned depth, std::string peer, ConnectionEvents& events);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Starts reading replies.
  void start();

  bool alive() const { return !dead_; }
  bool has_free_slot() const { return !free_.empty(); }
  bool idle() const { return free_.size() == slots_.size(); }

  // Takes a free slot (has_free_slot() must hold) and queues the request for
  // the next write; `deadline` bounds the wait for its reply.
  void enqueue(Submission&& r, Clock::time_point deadline);
  // Writes what enqueue() queued, unless a write is already under way (its
  // completion picks the rest up).
  void start_writing();
  // Fails the connection with ETIMEDOUT if a request's deadline has passed.
  void check_deadlines(Clock::time_point now);
  // After the last reply: NBD_CMD_DISC, then close.
  void disconnect();
  // Closes the socket and completes every request in a slot with `why`.
  void fail(std::error_code why);

 private:
  struct Slot {
    enum class State : uint8_t {
      free,     // on the free list
      queued,   // header built, waiting for the writer
      sending,  // in the write under way (a fast reply may beat its completion)
      waiting,  // sent, waiting for the reply
    };
    State state = State::free;
    uint32_t generation = 0;      // upper half of the cookie: stale replies never match
    Submission req;
    Clock::time_point deadline;
    uint64_t bytes_done = 0;      // structured READ: payload bytes received so far
    std::error_code error;        // first error chunk of a structured reply
    nbd::Request header;          // wire header, sent from here
  };

  // A large READ payload on its way from the socket straight into the
  // caller's buffer, bypassing the read buffer.
  struct Payload {
    Slot* slot = nullptr;  // none under way
    std::span<std::byte> rest;  // what is still to come
    size_t length = 0;
    bool chunk = false;  // OFFSET_DATA (else a simple reply)
    uint16_t flags = 0;  // of the chunk
  };

  // The reader: one coroutine that parses what is buffered without
  // suspending, so no coroutine frame is allocated per reply.
  asio::awaitable<void> read_replies();
  // Each returns 0 after handling (or failing) a reply or chunk at the front
  // of the buffer, or the number of bytes the buffer must hold to go on.
  size_t parse_one();
  size_t parse_simple();
  size_t parse_chunk();
  size_t take_data(Slot& s, size_t header, std::byte* dst, size_t n, bool chunk, uint16_t flags);
  void data_done(Slot& s, size_t n, bool chunk, uint16_t flags);
  void chunk_done(Slot& s, uint16_t flags);
  void on_written(boost_error ec);
  Slot* find(uint64_t cookie);
  void complete(Slot& s, std::error_code ec);
  void protocol_error(const std::string& what);

  tcp::socket socket_;
  bool structured_;
  std::string peer_;  // "host:port", for logs
  ConnectionEvents& events_;
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_;     // slot indexes
  std::vector<uint32_t> queued_;   // slot indexes in submission order
  std::vector<uint32_t> writing_;  // slot indexes in the write under way
  std::vector<asio::const_buffer> iov_;  // the write under way: header, data, header...
  ReadBuffer in_;
  Payload payload_;
  bool write_busy_ = false;
  bool disconnecting_ = false;
  nbd::Request disc_;  // NBD_CMD_DISC, sent once when disconnecting
  bool dead_ = false;
};

}  // namespace rdmablk::nbd
