#pragma once
// The receive side of a connection: bytes read from the socket and not yet
// parsed. Replies are parsed straight out of it, so a burst of small replies
// costs one recv(); large payloads bypass it (see Connection).
#include <cstddef>
#include <cstring>
#include <memory>

#include <boost/asio/buffer.hpp>

namespace rdmablk::nbd {

class ReadBuffer {
 public:
  explicit ReadBuffer(size_t capacity) : buf_(new std::byte[capacity]), capacity_(capacity) {}

  size_t capacity() const { return capacity_; }
  size_t size() const { return end_ - begin_; }
  const std::byte* data() const { return buf_.get() + begin_; }
  void consume(size_t n) { begin_ += n; }

  // Where the next recv() goes: after the unread bytes, with room for at
  // least `total` (<= capacity) unread bytes in all.
  boost::asio::mutable_buffer space_for(size_t total) {
    if (begin_ == end_) begin_ = end_ = 0;
    if (capacity_ - begin_ < total) {
      std::memmove(buf_.get(), data(), size());
      end_ -= begin_;
      begin_ = 0;
    }
    return {buf_.get() + end_, capacity_ - end_};
  }
  void commit(size_t n) { end_ += n; }

 private:
  std::unique_ptr<std::byte[]> buf_;
  size_t capacity_;
  size_t begin_ = 0;  // [begin_, end_) holds unread bytes
  size_t end_ = 0;
};

}  // namespace rdmablk::nbd
