#pragma once
// A scripted NBD server for unit tests of the client: blocking Asio on
// loopback, one thread per connection. It speaks the fixed newstyle
// handshake and then hands each request to a script, which may answer
// correctly, wrongly or not at all. The default script serves `disk`.
#include <atomic>
#include <cstring>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio.hpp>

#include "rdmablk/nbd_proto.hpp"

namespace rdmablk::test {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
namespace nbd = rdmablk::nbd;

struct FakeRequest {
  uint16_t flags = 0;
  uint16_t type = 0;
  uint64_t cookie = 0;
  uint64_t offset = 0;
  uint32_t length = 0;
  std::vector<std::byte> payload;  // WRITE data
};

class FakeNbdServer;

// One accepted connection, as a script sees it.
class FakeConn {
 public:
  FakeConn(FakeNbdServer& server, tcp::socket& socket, unsigned index) : server(server), index(index), socket_(socket) {}

  void send(const void* p, size_t n) { asio::write(socket_, asio::buffer(p, n)); }
  void send(std::span<const std::byte> b) { send(b.data(), b.size()); }
  template <class T>
  void send_struct(const T& v) { send(&v, sizeof v); }

  void simple_reply(uint64_t cookie, uint32_t error, std::span<const std::byte> data = {}) {
    nbd::SimpleReply r;
    r.magic = nbd::kSimpleReplyMagic;
    r.error = error;
    r.cookie = cookie;
    send_struct(r);
    send(data);
  }
  void chunk_header(uint64_t cookie, uint16_t flags, uint16_t type, uint32_t length) {
    nbd::StructuredReplyHeader h;
    h.magic = nbd::kStructuredReplyMagic;
    h.flags = flags;
    h.type = type;
    h.cookie = cookie;
    h.length = length;
    send_struct(h);
  }
  void data_chunk(uint64_t cookie, uint64_t offset, std::span<const std::byte> data, bool done) {
    chunk_header(cookie, done ? nbd::kReplyFlagDone : 0, nbd::kReplyTypeOffsetData,
                 static_cast<uint32_t>(8 + data.size()));
    nbd::be64 off;
    off = offset;
    send_struct(off);
    send(data);
  }
  void hole_chunk(uint64_t cookie, uint64_t offset, uint32_t length, bool done) {
    chunk_header(cookie, done ? nbd::kReplyFlagDone : 0, nbd::kReplyTypeOffsetHole, 12);
    nbd::be64 off;
    off = offset;
    nbd::be32 len;
    len = length;
    send_struct(off);
    send_struct(len);
  }
  void error_chunk(uint64_t cookie, uint32_t error, std::string_view msg, bool done) {
    chunk_header(cookie, done ? nbd::kReplyFlagDone : 0, nbd::kReplyTypeError,
                 static_cast<uint32_t>(6 + msg.size()));
    nbd::ErrorChunk e;
    e.error = error;
    e.message_length = static_cast<uint16_t>(msg.size());
    send_struct(e);
    send(msg.data(), msg.size());
  }
  void none_chunk(uint64_t cookie) { chunk_header(cookie, nbd::kReplyFlagDone, nbd::kReplyTypeNone, 0); }
  void close() {
    boost::system::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
  }

  // Answers like a correct server backed by server.disk.
  void serve(const FakeRequest& r);

  FakeNbdServer& server;
  unsigned index;  // 0 for the first connection

 private:
  tcp::socket& socket_;
};

struct FakeServerConfig {
  uint64_t size = 1 << 20;
  uint16_t flags = nbd::kFlagHasFlags | nbd::kFlagSendFlush | nbd::kFlagSendFua | nbd::kFlagSendTrim |
                   nbd::kFlagSendWriteZeroes;
  bool structured = true;  // accept NBD_OPT_STRUCTURED_REPLY
  bool go = true;          // know NBD_OPT_GO / NBD_OPT_INFO
  std::optional<std::array<uint32_t, 3>> block_size;  // min, preferred, max
  std::vector<std::pair<std::string, std::string>> exports{{"disk", "a test disk"}};
  // Called for each request; default: conn.serve(r).
  std::function<void(FakeConn&, const FakeRequest&)> on_request;
  // Replaces the whole conversation (handshake included) when set.
  std::function<void(tcp::socket&)> raw;
};

class FakeNbdServer {
 public:
  explicit FakeNbdServer(FakeServerConfig cfg)
      : cfg_(std::move(cfg)), acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    disk.resize(cfg_.size);
    for (size_t i = 0; i < disk.size(); ++i) disk[i] = static_cast<std::byte>(i * 7 + 3);
    accept_thread_ = std::thread([this] { accept_loop(); });
  }
  ~FakeNbdServer() {
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);  // wakes accept()
    accept_thread_.join();
    {
      std::lock_guard lock(mu_);
      for (auto& s : sockets_) ::shutdown(s->native_handle(), SHUT_RDWR);  // wakes blocked reads
    }
    for (auto& t : conn_threads_)
      if (t.joinable()) t.join();
  }

  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::string url(const std::string& export_name = "disk", const std::string& query = "") const {
    return "nbd://127.0.0.1:" + std::to_string(port()) + "/" + export_name + (query.empty() ? "" : "?" + query);
  }
  // Waits until every connection accepted so far has ended.
  void join_connections() {
    std::lock_guard lock(threads_mu_);
    for (auto& t : conn_threads_)
      if (t.joinable()) t.join();
  }

  std::atomic<unsigned> connections{0};
  std::atomic<unsigned> requests{0};
  std::atomic<unsigned> discs{0};
  std::vector<unsigned> requests_per_conn = std::vector<unsigned>(64);
  std::mutex disk_mu;
  std::vector<std::byte> disk;

 private:
  void accept_loop() {
    for (;;) {
      auto socket = std::make_shared<tcp::socket>(io_);
      boost::system::error_code ec;
      acceptor_.accept(*socket, ec);
      if (ec) return;
      socket->set_option(tcp::no_delay(true));  // scripts send replies piecemeal
      unsigned index = connections++;
      {
        std::lock_guard lock(mu_);
        sockets_.push_back(socket);
      }
      std::lock_guard lock(threads_mu_);
      conn_threads_.emplace_back([this, socket, index] {
        try {
          if (cfg_.raw)
            cfg_.raw(*socket);
          else
            converse(*socket, index);
        } catch (const boost::system::system_error&) {
          // the client went away: fine for a test server
        }
        ::shutdown(socket->native_handle(), SHUT_RDWR);  // the script is done: hang up
      });
    }
  }

  template <class T>
  static T read_struct(tcp::socket& s) {
    T v;
    asio::read(s, asio::buffer(&v, sizeof v));
    return v;
  }

  static void option_reply(tcp::socket& s, uint32_t opt, uint32_t type, std::span<const std::byte> data = {}) {
    nbd::OptionReplyHeader h;
    h.magic = nbd::kOptReplyMagic;
    h.option = opt;
    h.type = type;
    h.length = static_cast<uint32_t>(data.size());
    asio::write(s, asio::buffer(&h, sizeof h));
    asio::write(s, asio::buffer(data.data(), data.size()));
  }

  const std::pair<std::string, std::string>* find_export(const std::string& name) const {
    for (const auto& e : cfg_.exports)
      if (e.first == name) return &e;
    return nullptr;
  }

  // NBD_REP_INFO replies and the ACK for NBD_OPT_GO / NBD_OPT_INFO.
  void send_info(tcp::socket& s, uint32_t opt, const std::string& name) {
    nbd::InfoExport ie;
    ie.type = nbd::kInfoExport;
    ie.size = cfg_.size;
    ie.transmission_flags = cfg_.flags;
    option_reply(s, opt, nbd::kRepInfo, std::as_bytes(std::span(&ie, 1)));
    if (cfg_.block_size) {
      nbd::InfoBlockSize b;
      b.type = nbd::kInfoBlockSize;
      b.minimum = (*cfg_.block_size)[0];
      b.preferred = (*cfg_.block_size)[1];
      b.maximum = (*cfg_.block_size)[2];
      option_reply(s, opt, nbd::kRepInfo, std::as_bytes(std::span(&b, 1)));
    }
    std::vector<std::byte> d(2 + find_export(name)->second.size());
    nbd::be16 t;
    t = nbd::kInfoDescription;
    std::memcpy(d.data(), &t, 2);
    std::memcpy(d.data() + 2, find_export(name)->second.data(), d.size() - 2);
    option_reply(s, opt, nbd::kRepInfo, d);
    option_reply(s, opt, nbd::kRepAck);
  }

  void converse(tcp::socket& s, unsigned index) {
    nbd::ServerGreeting g;
    g.magic = nbd::kNbdMagic;
    g.opt_magic = nbd::kIHaveOpt;
    g.handshake_flags = nbd::kFlagFixedNewstyle | nbd::kFlagNoZeroes;
    asio::write(s, asio::buffer(&g, sizeof g));
    read_struct<nbd::ClientFlags>(s);
    for (bool transmission = false; !transmission;) {
      auto h = read_struct<nbd::OptionHeader>(s);
      std::vector<std::byte> data(h.length.value());
      asio::read(s, asio::buffer(data));
      uint32_t opt = h.option.value();
      auto name_of = [&] {
        nbd::be32 len;
        std::memcpy(&len, data.data(), 4);
        return std::string(reinterpret_cast<const char*>(data.data()) + 4, len.value());
      };
      switch (opt) {
        case nbd::kOptStructuredReply:
          option_reply(s, opt, cfg_.structured ? nbd::kRepAck : nbd::kRepErrUnsup);
          structured_ = cfg_.structured;
          break;
        case nbd::kOptGo:
        case nbd::kOptInfo: {
          if (!cfg_.go) {
            option_reply(s, opt, nbd::kRepErrUnsup);
            break;
          }
          std::string name = name_of();
          if (!find_export(name)) {
            std::string_view msg = "no such export";
            option_reply(s, opt, nbd::kRepErrUnknown, std::as_bytes(std::span(msg.data(), msg.size())));
            break;
          }
          send_info(s, opt, name);
          transmission = opt == nbd::kOptGo;
          break;
        }
        case nbd::kOptExportName: {
          std::string name(reinterpret_cast<const char*>(data.data()), data.size());
          if (!find_export(name)) return;  // the old option's only way to say no
          nbd::ExportNameReply r;
          r.size = cfg_.size;
          r.transmission_flags = cfg_.flags;
          asio::write(s, asio::buffer(&r, sizeof r));
          transmission = true;
          break;
        }
        case nbd::kOptList:
          for (const auto& e : cfg_.exports) {
            std::vector<std::byte> d(4 + e.first.size() + e.second.size());
            nbd::be32 len;
            len = static_cast<uint32_t>(e.first.size());
            std::memcpy(d.data(), &len, 4);
            std::memcpy(d.data() + 4, e.first.data(), e.first.size());
            std::memcpy(d.data() + 4 + e.first.size(), e.second.data(), e.second.size());
            option_reply(s, opt, nbd::kRepServer, d);
          }
          option_reply(s, opt, nbd::kRepAck);
          break;
        case nbd::kOptAbort:
          option_reply(s, opt, nbd::kRepAck);
          return;
        default:
          option_reply(s, opt, nbd::kRepErrUnsup);
      }
    }
    FakeConn conn(*this, s, index);
    for (;;) {
      auto h = read_struct<nbd::Request>(s);
      FakeRequest r{h.flags.value(), h.type.value(), h.cookie.value(), h.offset.value(), h.length.value(), {}};
      if (h.magic.value() != nbd::kRequestMagic) return;
      if (r.type == nbd::kCmdDisc) {
        ++discs;
        return;
      }
      if (r.type == nbd::kCmdWrite) {
        r.payload.resize(r.length);
        asio::read(s, asio::buffer(r.payload));
      }
      ++requests;
      if (index < requests_per_conn.size()) ++requests_per_conn[index];
      if (cfg_.on_request)
        cfg_.on_request(conn, r);
      else
        conn.serve(r);
    }
  }

 public:
  bool structured() const { return structured_; }

 private:
  FakeServerConfig cfg_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::atomic<bool> structured_{false};
  std::thread accept_thread_;
  std::mutex mu_;
  std::vector<std::shared_ptr<tcp::socket>> sockets_;
  std::mutex threads_mu_;
  std::vector<std::thread> conn_threads_;
};

inline void FakeConn::serve(const FakeRequest& r) {
  std::lock_guard lock(server.disk_mu);
  auto* at = server.disk.data() + r.offset;
  switch (r.type) {
    case nbd::kCmdRead:
      if (server.structured())
        data_chunk(r.cookie, r.offset, {at, r.length}, true);
      else
        simple_reply(r.cookie, 0, {at, r.length});
      return;
    case nbd::kCmdWrite:
      std::memcpy(at, r.payload.data(), r.length);
      break;
    case nbd::kCmdTrim:
    case nbd::kCmdWriteZeroes:
      std::memset(at, 0, r.length);
      break;
  }
  simple_reply(r.cookie, 0);
}

}  // namespace rdmablk::test
