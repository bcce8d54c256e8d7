#pragma once
// Asio plumbing shared by the NBD handshake and the NBD connection.
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <system_error>
#include <utility>  // Boost 1.74 awaitable.hpp uses std::exchange without it

#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>

#include "rdmablk/nbd_proto.hpp"

namespace rdmablk::nbd {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost_error = boost::system::error_code;

// An Asio error as the errno a request completes with: end of stream or a
// reset is ECONNRESET ("the connection died"), other system errors keep
// their errno, anything else is EIO.
inline std::error_code to_errno(const boost_error& ec) {
  if (ec == asio::error::eof || ec == asio::error::connection_reset || ec == asio::error::broken_pipe)
    return std::make_error_code(std::errc::connection_reset);
  if (ec.category() == boost::system::system_category() || ec.category() == boost::system::generic_category())
    return {ec.value(), std::generic_category()};
  return std::make_error_code(std::errc::io_error);
}

// An error number from an NBD reply as an errno; the spec fixes the numbers.
inline std::error_code from_nbd_error(uint32_t error) {
  switch (error) {
    case kEPerm: return std::make_error_code(std::errc::operation_not_permitted);
    case kEIo: return std::make_error_code(std::errc::io_error);
    case kENoMem: return std::make_error_code(std::errc::not_enough_memory);
    case kEInval: return std::make_error_code(std::errc::invalid_argument);
    case kENoSpc: return std::make_error_code(std::errc::no_space_on_device);
    case kEOverflow: return std::make_error_code(std::errc::value_too_large);
    case kENotSup: return std::make_error_code(std::errc::operation_not_supported);
    case kEShutdown: return {ESHUTDOWN, std::generic_category()};
    default: return std::make_error_code(std::errc::io_error);  // the spec says: treat as EIO-like
  }
}

// Reads a wire struct (boost::endian buffer types: no padding, no alignment).
template <class T>
T load(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace rdmablk::nbd
