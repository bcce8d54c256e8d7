#include "nbd_handshake.hpp"

#include <array>
#include <optional>
#include <string>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/system/system_error.hpp>
#include <fmt/format.h>

namespace rdmablk::nbd {

namespace {

using asio::awaitable;
using asio::use_awaitable;

// Option replies carry at most a name, a description and a few fields.
constexpr uint32_t kMaxOptionReply = 64 * 1024;
// The reply to NBD_OPT_EXPORT_NAME is padded with zeroes unless NO_ZEROES.
constexpr size_t kExportNamePadding = 124;
// "NBD_OPT_GO" and "NBD_OPT_INFO" ask for these besides NBD_INFO_EXPORT.
constexpr uint16_t kInfoRequests[] = {kInfoName, kInfoDescription, kInfoBlockSize};

// Server-supplied text, made safe to print on one line.
std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 200)) out.push_back(static_cast<unsigned char>(c) < 0x20 ? '?' : c);
  return out;
}

std::string_view as_text(std::span<const std::byte> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

void apply_transmission_flags(ExportInfo& info, uint16_t flags) {
  info.read_only = flags & kFlagReadOnly;
  info.can_flush = flags & kFlagSendFlush;
  info.can_fua = flags & kFlagSendFua;
  info.rotational = flags & kFlagRotational;
  info.can_trim = flags & kFlagSendTrim;
  info.can_write_zeroes = flags & kFlagSendWriteZeroes;
  info.can_multi_conn = flags & kFlagCanMultiConn;
}

struct Negotiated {
  ExportInfo info;
  bool structured_replies = false;
};

struct OptionReply {
  uint32_t type = 0;
  std::vector<std::byte> data;
};

// One handshake on one socket. Protocol violations throw Error(EPROTO);
// socket errors throw boost::system::system_error and are worded by run().
class Negotiator {
 public:
  Negotiator(tcp::socket& socket, const Url& url) : socket_(socket), url_(url), peer_(peer_name(url)) {}

  const std::string& peer() const { return peer_; }

  // Called by the deadline: every pending operation fails at once.
  void abort_io() {
    boost_error ignored;
    resolver_.cancel();
    socket_.close(ignored);
  }

  awaitable<void> connect() {
    boost_error ec;
    auto endpoints = co_await resolver_.async_resolve(url_.host, std::to_string(url_.port),
                                                      asio::redirect_error(use_awaitable, ec));
    if (ec) throw Error(to_errno(ec), fmt::format("cannot resolve host '{}': {}", url_.host, ec.message()));
    co_await asio::async_connect(socket_, endpoints, asio::redirect_error(use_awaitable, ec));
    if (ec) throw Error(to_errno(ec), fmt::format("cannot connect to {}: {}", peer_, ec.message()));
    socket_.set_option(tcp::no_delay(true));
  }

  // Reads the greeting and answers with our flags.
  awaitable<void> greet() {
    ServerGreeting g;
    co_await asio::async_read(socket_, asio::buffer(&g, sizeof g), use_awaitable);
    if (g.magic.value() != kNbdMagic) throw protocol("not an NBD server (bad greeting)");
    if (g.opt_magic.value() != kIHaveOpt)
      throw Error(std::errc::protocol_not_supported,
                  fmt::format("{} speaks the oldstyle NBD handshake, which rdmablk does not support", peer_));
    uint16_t flags = g.handshake_flags.value();
    fixed_newstyle_ = flags & kFlagFixedNewstyle;
    no_zeroes_ = flags & kFlagNoZeroes;
    ClientFlags reply;
    reply.flags = (fixed_newstyle_ ? kFlagCFixedNewstyle : 0) | (no_zeroes_ ? kFlagCNoZeroes : 0);
    co_await asio::async_write(socket_, asio::buffer(&reply, sizeof reply), use_awaitable);
  }

  // Negotiates the URL's export for transmission.
  awaitable<Negotiated> open_export() {
    co_await greet();
    Negotiated n;
    // Without fixed newstyle only NBD_OPT_EXPORT_NAME is safe to send.
    if (fixed_newstyle_) {
      n.structured_replies = co_await request_structured_replies();
      if (auto info = co_await export_info(kOptGo, url_.export_name)) {
        n.info = std::move(*info);
        co_return n;
      }
    }
    n.info = co_await export_name();
    co_return n;
  }

  awaitable<std::vector<ExportInfo>> list() {
    co_await greet();
    if (!fixed_newstyle_)
      throw Error(std::errc::not_supported, fmt::format("{} cannot list exports (no fixed newstyle handshake)", peer_));
    co_await send_option(kOptList, {});
    std::vector<ExportInfo> exports;
    for (;;) {
      auto r = co_await read_reply(kOptList);
      if (r.type == kRepAck) break;
      if (r.type == kRepServer) {
        exports.push_back(parse_server_reply(r.data));
        continue;
      }
      if (r.type == kRepErrPolicy)
        throw Error(std::errc::permission_denied, fmt::format("{} does not allow listing exports{}", peer_, server_says(r)));
      if (r.type == kRepErrUnsup)
        throw Error(std::errc::not_supported, fmt::format("{} does not support listing exports{}", peer_, server_says(r)));
      throw unexpected(kOptList, r);
    }
    bool info_supported = true;
    for (auto& e : exports) {
      if (!info_supported) break;
      try {
        auto info = co_await export_info(kOptInfo, e.name);
        if (!info) {
          info_supported = false;
          continue;
        }
        if (info->description.empty()) info->description = e.description;
        e = std::move(*info);
      } catch (const Error& err) {
        // An export that vanished or is refused still shows up by name; a
        // broken connection ends the listing.
        if (err.code() != std::errc::no_such_file_or_directory && err.code() != std::errc::permission_denied) throw;
      }
    }
    co_await send_option(kOptAbort, {});
    boost_error ignored;  // the server may ACK or just close
    OptionReplyHeader h;
    co_await asio::async_read(socket_, asio::buffer(&h, sizeof h), asio::redirect_error(use_awaitable, ignored));
    co_return exports;
  }

 private:
  Error protocol(const std::string& what) const {
    return Error(std::errc::protocol_error, fmt::format("{}: NBD protocol error: {}", peer_, what));
  }

  Error unexpected(uint32_t opt, const OptionReply& r) const {
    return protocol(fmt::format("unexpected reply {} ({:#x}) to {}{}", reply_type_name(r.type), r.type,
                                option_name(opt), server_says(r)));
  }

  // The text an error reply carries, as " (server: ...)".
  static std::string server_says(const OptionReply& r) {
    if (!(r.type & kRepFlagError) || r.data.empty()) return {};
    return fmt::format(" (server: {})", printable(as_text(r.data)));
  }

  awaitable<void> send_option(uint32_t opt, std::span<const std::byte> data) {
    OptionHeader h;
    h.magic = kIHaveOpt;
    h.option = opt;
    h.length = static_cast<uint32_t>(data.size());
    std::array<asio::const_buffer, 2> bufs{asio::buffer(&h, sizeof h), asio::buffer(data.data(), data.size())};
    co_await asio::async_write(socket_, bufs, use_awaitable);
  }

  awaitable<OptionReply> read_reply(uint32_t opt) {
    OptionReplyHeader h;
    co_await asio::async_read(socket_, asio::buffer(&h, sizeof h), use_awaitable);
    if (h.magic.value() != kOptReplyMagic) throw protocol("bad option reply magic");
    if (h.option.value() != opt)
      throw protocol(fmt::format("reply names {} while {} is pending", option_name(h.option.value()), option_name(opt)));
    if (h.length.value() > kMaxOptionReply) throw protocol(fmt::format("option reply of {} bytes", h.length.value()));
    OptionReply r{h.type.value(), std::vector<std::byte>(h.length.value())};
    co_await asio::async_read(socket_, asio::buffer(r.data), use_awaitable);
    co_return r;
  }

  awaitable<bool> request_structured_replies() {
    co_await send_option(kOptStructuredReply, {});
    auto r = co_await read_reply(kOptStructuredReply);
    if (r.type == kRepAck) co_return true;
    if (r.type & kRepFlagError) co_return false;  // simple replies only
    throw unexpected(kOptStructuredReply, r);
  }

  // NBD_OPT_GO or NBD_OPT_INFO for one export; nullopt if the server does not
  // know the option (NBD_REP_ERR_UNSUP).
  awaitable<std::optional<ExportInfo>> export_info(uint32_t opt, const std::string& name) {
    std::vector<std::byte> payload(4 + name.size() + 2 + 2 * std::size(kInfoRequests));
    auto* p = payload.data();
    be32 name_len;
    name_len = static_cast<uint32_t>(name.size());
    std::memcpy(p, &name_len, 4);
    std::memcpy(p + 4, name.data(), name.size());
    p += 4 + name.size();
    be16 count;
    count = static_cast<uint16_t>(std::size(kInfoRequests));
    std::memcpy(p, &count, 2);
    for (size_t i = 0; i < std::size(kInfoRequests); ++i) {
      be16 type;
      type = kInfoRequests[i];
      std::memcpy(p + 2 + 2 * i, &type, 2);
    }
    co_await send_option(opt, payload);

    ExportInfo info;
    info.name = name;
    bool have_export = false;
    for (;;) {
      auto r = co_await read_reply(opt);
      if (r.type == kRepAck) break;
      if (r.type == kRepInfo) {
        have_export |= parse_info_reply(r.data, info);
        continue;
      }
      switch (r.type) {
        case kRepErrUnsup:
          co_return std::nullopt;
        case kRepErrUnknown:
          throw Error(std::errc::no_such_file_or_directory,
                      fmt::format("export '{}' not found on {}{}", printable(name), peer_, server_says(r)));
        case kRepErrPolicy:
          throw Error(std::errc::permission_denied,
                      fmt::format("{} refused export '{}'{}", peer_, printable(name), server_says(r)));
        case kRepErrTlsReqd:
          throw Error(std::errc::permission_denied,
                      fmt::format("{} requires TLS, which rdmablk does not support{}", peer_, server_says(r)));
        case kRepErrShutdown:
          throw Error(std::error_code(ESHUTDOWN, std::generic_category()),
                      fmt::format("{} is shutting down{}", peer_, server_says(r)));
        default:
          if (r.type & kRepFlagError)
            throw Error(std::errc::protocol_error,
                        fmt::format("{} rejected {} for export '{}': {}{}", peer_, option_name(opt),
                                    printable(name), reply_type_name(r.type), server_says(r)));
          throw unexpected(opt, r);
      }
    }
    if (!have_export) throw protocol(fmt::format("{} finished without NBD_INFO_EXPORT", option_name(opt)));
    co_return info;
  }

  // Fills `info` from one NBD_REP_INFO; true if it was NBD_INFO_EXPORT.
  bool parse_info_reply(std::span<const std::byte> d, ExportInfo& info) const {
    if (d.size() < 2) throw protocol("short NBD_REP_INFO");
    switch (load<be16>(d.data()).value()) {
      case kInfoExport: {
        if (d.size() != sizeof(InfoExport)) throw protocol("bad NBD_INFO_EXPORT length");
        auto e = load<InfoExport>(d.data());
        info.size = e.size.value();
        apply_transmission_flags(info, e.transmission_flags.value());
        return true;
      }
      case kInfoName:
        info.name = std::string(as_text(d.subspan(2)));
        return false;
      case kInfoDescription:
        info.description = std::string(as_text(d.subspan(2)));
        return false;
      case kInfoBlockSize: {
        if (d.size() != sizeof(InfoBlockSize)) throw protocol("bad NBD_INFO_BLOCK_SIZE length");
        auto b = load<InfoBlockSize>(d.data());
        uint32_t min = b.minimum.value(), pref = b.preferred.value(), max = b.maximum.value();
        if (min == 0 || (min & (min - 1)) || min > 65536 || pref < min || max < min)
          throw protocol(fmt::format("invalid block sizes {}/{}/{}", min, pref, max));
        info.min_block_size = min;
        info.preferred_block_size = pref;
        // Stay within the payload every server must accept, in whole blocks.
        info.max_block_size = std::min(max, kMaxPayload) / min * min;
        return false;
      }
      default:
        return false;  // an answer we did not ask for: harmless
    }
  }

  ExportInfo parse_server_reply(std::span<const std::byte> d) const {
    if (d.size() < 4) throw protocol("short NBD_REP_SERVER");
    uint32_t len = load<be32>(d.data()).value();
    if (len > d.size() - 4) throw protocol("NBD_REP_SERVER name overruns the reply");
    ExportInfo e;
    e.name = std::string(as_text(d.subspan(4, len)));
    e.description = std::string(as_text(d.subspan(4 + len)));
    return e;
  }

  awaitable<ExportInfo> export_name() {
    const auto& name = url_.export_name;
    co_await send_option(kOptExportName, std::as_bytes(std::span(name.data(), name.size())));
    std::array<std::byte, sizeof(ExportNameReply) + kExportNamePadding> buf;
    size_t want = sizeof(ExportNameReply) + (no_zeroes_ ? 0 : kExportNamePadding);
    boost_error ec;
    co_await asio::async_read(socket_, asio::buffer(buf.data(), want), asio::redirect_error(use_awaitable, ec));
    // The only way this old option can say "no" is by hanging up.
    if (ec == asio::error::eof)
      throw Error(std::errc::no_such_file_or_directory,
                  fmt::format("export '{}' not found on {} (server closed the connection)", printable(name), peer_));
    if (ec) throw boost::system::system_error(ec);
    auto r = load<ExportNameReply>(buf.data());
    ExportInfo info;
    info.name = name;
    info.size = r.size.value();
    apply_transmission_flags(info, r.transmission_flags.value());
    co_return info;
  }

  tcp::socket& socket_;
  const Url& url_;
  std::string peer_;
  tcp::resolver resolver_{socket_.get_executor()};
  bool fixed_newstyle_ = false;
  bool no_zeroes_ = false;
};

// Runs `op` on `io` in this thread until it finishes or `timeout` passes,
// and turns socket errors into one-line rdmablk::Errors.
template <class T>
T run(asio::io_context& io, Negotiator& n, std::chrono::milliseconds timeout, awaitable<T> op) {
  bool timed_out = false;
  asio::steady_timer deadline(io, timeout);
  deadline.async_wait([&](boost_error ec) {
    if (ec) return;
    timed_out = true;
    n.abort_io();
  });
  std::exception_ptr failure;
  std::optional<T> result;
  asio::co_spawn(io, std::move(op), [&](std::exception_ptr e, T value) {
    failure = e;
    if (!e) result.emplace(std::move(value));
    deadline.cancel();
  });
  io.restart();
  io.run();
  if (timed_out)
    throw Error(std::errc::timed_out, fmt::format("no answer from {} within {} ms", n.peer(), timeout.count()));
  if (!failure) return std::move(*result);
  try {
    std::rethrow_exception(failure);
  } catch (const boost::system::system_error& e) {
    if (e.code() == asio::error::eof)
      throw Error(std::errc::connection_reset, fmt::format("{} closed the connection during the handshake", n.peer()));
    throw Error(to_errno(e.code()), fmt::format("connection to {} failed: {}", n.peer(), e.code().message()));
  }
}

}  // namespace

std::string peer_name(const Url& url) {
  bool v6 = url.host.find(':') != std::string::npos;
  return fmt::format("{}{}{}:{}", v6 ? "[" : "", url.host, v6 ? "]" : "", url.port);
}

namespace {

awaitable<Negotiated> connect_and_open(Negotiator& n) {
  co_await n.connect();
  co_return co_await n.open_export();
}

awaitable<std::vector<ExportInfo>> connect_and_list(Negotiator& n) {
  co_await n.connect();
  co_return co_await n.list();
}

}  // namespace

Session open_session(asio::io_context& io, const Url& url, std::chrono::milliseconds timeout) {
  tcp::socket socket(io);
  Negotiator n(socket, url);
  auto negotiated = run(io, n, timeout, connect_and_open(n));
  return Session{std::move(socket), std::move(negotiated.info), negotiated.structured_replies};
}

std::vector<ExportInfo> list_exports(const Url& url, std::chrono::milliseconds timeout) {
  asio::io_context io;
  tcp::socket socket(io);
  Negotiator n(socket, url);
  return run(io, n, timeout, connect_and_list(n));
}

}  // namespace rdmablk::nbd
