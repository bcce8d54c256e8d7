#pragma once
// The NBD handshake (fixed newstyle): connecting, negotiating one export for
// transmission, and listing exports. Each call runs to completion on the
// given io_context in the calling thread, bounded by `timeout`.
#include <chrono>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "nbd_io.hpp"
#include "rdmablk/client.hpp"
#include "rdmablk/url.hpp"

namespace rdmablk::nbd {

// A connection that finished the handshake and is ready for transmission.
struct Session {
  tcp::socket socket;
  ExportInfo info;
  bool structured_replies = false;
};

// "host:port" ("[v6]:port") for messages.
std::string peer_name(const Url& url);

// Connects to url's host and negotiates url's export: NBD_OPT_STRUCTURED_REPLY,
// then NBD_OPT_GO (falling back to NBD_OPT_EXPORT_NAME). Throws rdmablk::Error.
Session open_session(asio::io_context& io, const Url& url, std::chrono::milliseconds timeout);

// NBD_OPT_LIST, then NBD_OPT_INFO for the details of each export (names and
// descriptions only if the server lacks NBD_OPT_INFO). Throws rdmablk::Error.
std::vector<ExportInfo> list_exports(const Url& url, std::chrono::milliseconds timeout);

}  // namespace rdmablk::nbd
