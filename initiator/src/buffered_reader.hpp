#pragma once
// Reads a TCP stream through a buffer so that many small reply headers cost
// one recv(); large payloads bypass the buffer and land in the caller's
// memory directly.
#include <cstddef>
#include <memory>
#include <span>

#include "nbd_io.hpp"  // first: it includes <utility> for Boost 1.74's awaitable.hpp

#include <boost/asio/awaitable.hpp>

namespace rdmablk::nbd {

class BufferedReader {
 public:
  BufferedReader(tcp::socket& socket, size_t capacity);

  size_t size() const { return end_ - begin_; }
  const std::byte* data() const { return buf_.get() + begin_; }
  void consume(size_t n) { begin_ += n; }

  // Makes at least n (<= capacity) bytes available at data().
  asio::awaitable<boost_error> fill(size_t n);
  // Moves exactly dst.size() bytes of the stream into dst.
  asio::awaitable<boost_error> read_into(std::span<std::byte> dst);
  // Drops exactly n bytes of the stream.
  asio::awaitable<boost_error> skip(size_t n);

 private:
  tcp::socket& socket_;
  std::unique_ptr<std::byte[]> buf_;
  size_t capacity_;
  size_t begin_ = 0;  // [begin_, end_) holds unread bytes
  size_t end_ = 0;
};

}  // namespace rdmablk::nbd
