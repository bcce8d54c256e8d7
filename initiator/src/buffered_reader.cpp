#include "buffered_reader.hpp"

#include <algorithm>
#include <cstring>

#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace rdmablk::nbd {

BufferedReader::BufferedReader(tcp::socket& socket, size_t capacity)
    : socket_(socket), buf_(new std::byte[capacity]), capacity_(capacity) {}

asio::awaitable<boost_error> BufferedReader::fill(size_t n) {
  if (begin_ == end_) begin_ = end_ = 0;
  if (capacity_ - begin_ < n) {  // not enough room behind the unread bytes
    std::memmove(buf_.get(), buf_.get() + begin_, size());
    end_ -= begin_;
    begin_ = 0;
  }
  boost_error ec;
  while (size() < n) {
    size_t got = co_await socket_.async_read_some(asio::buffer(buf_.get() + end_, capacity_ - end_),
                                                  asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return ec;
    end_ += got;
  }
  co_return ec;
}

asio::awaitable<boost_error> BufferedReader::read_into(std::span<std::byte> dst) {
  size_t from_buf = std::min(size(), dst.size());
  std::memcpy(dst.data(), data(), from_buf);
  consume(from_buf);
  dst = dst.subspan(from_buf);
  boost_error ec;
  if (dst.empty()) co_return ec;
  // A short rest goes through the buffer, so the headers behind it come
  // with the same recv(); a long one goes straight into dst.
  if (dst.size() <= capacity_ / 2) {
    ec = co_await fill(dst.size());
    if (ec) co_return ec;
    std::memcpy(dst.data(), data(), dst.size());
    consume(dst.size());
    co_return ec;
  }
  co_await asio::async_read(socket_, asio::buffer(dst.data(), dst.size()),
                            asio::redirect_error(asio::use_awaitable, ec));
  co_return ec;
}

asio::awaitable<boost_error> BufferedReader::skip(size_t n) {
  while (n > 0) {
    if (size() == 0) {
      auto ec = co_await fill(std::min(n, capacity_));
      if (ec) co_return ec;
    }
    size_t k = std::min(n, size());
    consume(k);
    n -= k;
  }
  co_return boost_error{};
}

}  // namespace rdmablk::nbd
