// NbdConnection end to end over a Unix socketpair: the real handshake and
// transmission code on a real worker, driven by a small blocking client.
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <future>
#include <map>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>

#include "file_backend.hpp"
#include "nbd_connection.hpp"
#include "ram_backend.hpp"
#include "worker.hpp"

namespace rdmablk::target {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

template <typename T>
std::span<const std::byte> bytes_of(const T& v) {
  return std::as_bytes(std::span(&v, 1));
}

std::span<const std::byte> bytes_of(std::string_view s) { return std::as_bytes(std::span(s.data(), s.size())); }

// A blocking NBD client on one end of the socketpair. Receives time out
// after 10 s so a server bug fails the test instead of hanging it.
class Client {
 public:
  explicit Client(int fd) : fd_(fd) {
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~Client() { ::close(fd_); }

  void send(std::span<const std::byte> data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return;  // the server may already have hung up
      data = data.subspan(static_cast<size_t>(n));
    }
  }

  bool recv(void* p, size_t n) {
    auto* out = static_cast<char*>(p);
    while (n > 0) {
      ssize_t r = ::recv(fd_, out, n, 0);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return false;
      out += r;
      n -= static_cast<size_t>(r);
    }
    return true;
  }

  template <typename T>
  T recv_struct() {
    T v;
    EXPECT_TRUE(recv(&v, sizeof v));
    return v;
  }

  // True when the server has closed its end (after any pending bytes).
  bool closed() {
    char c;
    ssize_t r = ::recv(fd_, &c, 1, 0);
    return r == 0 || (r < 0 && errno == ECONNRESET);  // reset: it hung up with bytes unread
  }

  void greet(uint32_t flags = nbd::kFlagCFixedNewstyle | nbd::kFlagCNoZeroes) {
    auto g = recv_struct<nbd::ServerGreeting>();
    EXPECT_EQ(g.magic.value(), nbd::kNbdMagic);
    EXPECT_EQ(g.opt_magic.value(), nbd::kIHaveOpt);
    EXPECT_EQ(g.handshake_flags.value(), nbd::kFlagFixedNewstyle | nbd::kFlagNoZeroes);
    nbd::ClientFlags f;
    f.flags = flags;
    send(bytes_of(f));
  }

  void send_option(uint32_t option, std::span<const std::byte> data = {}, uint64_t magic = nbd::kIHaveOpt) {
    nbd::OptionHeader h;
    h.magic = magic;
    h.option = option;
    h.length = static_cast<uint32_t>(data.size());
    send(bytes_of(h));
    send(data);
  }

  struct OptionReply {
    uint32_t option = 0;
    uint32_t type = 0;
    std::vector<std::byte> data;
  };
  OptionReply recv_option_reply() {
    auto h = recv_struct<nbd::OptionReplyHeader>();
    EXPECT_EQ(h.magic.value(), nbd::kOptReplyMagic);
    OptionReply r{h.option.value(), h.type.value(), std::vector<std::byte>(h.length.value())};
    EXPECT_TRUE(recv(r.data.data(), r.data.size()));
    return r;
  }

  static std::vector<std::byte> info_data(std::string_view name, std::vector<uint16_t> types) {
    std::vector<std::byte> out;
    auto put = [&](std::span<const std::byte> b) { out.insert(out.end(), b.begin(), b.end()); };
    put(bytes_of(nbd::be32(static_cast<uint32_t>(name.size()))));
    put(bytes_of(name));
    put(bytes_of(nbd::be16(static_cast<uint16_t>(types.size()))));
    for (auto t : types) put(bytes_of(nbd::be16(t)));
    return out;
  }

  // Full handshake into transmission; returns the transmission flags.
  uint16_t open(std::string_view name, bool structured) {
    greet();
    if (structured) {
      send_option(nbd::kOptStructuredReply);
      EXPECT_EQ(recv_option_reply().type, nbd::kRepAck);
    }
    send_option(nbd::kOptGo, info_data(name, {}));
    uint16_t flags = 0;
    for (;;) {
      auto r = recv_option_reply();
      if (r.type == nbd::kRepAck) break;
      EXPECT_EQ(r.type, nbd::kRepInfo);
      if (r.type != nbd::kRepInfo) break;
      nbd::InfoExport info;
      if (r.data.size() == sizeof info) {
        std::memcpy(&info, r.data.data(), sizeof info);
        flags = info.transmission_flags.value();
      }
    }
    structured_ = structured;
    return flags;
  }

  void request(uint16_t type, uint64_t cookie, uint64_t offset, uint32_t length,
               std::span<const std::byte> payload = {}, uint16_t flags = 0) {
    nbd::Request r;
    r.magic = nbd::kRequestMagic;
    r.flags = flags;
    r.type = type;
    r.cookie = cookie;
    r.offset = offset;
    r.length = length;
    send(bytes_of(r));
    send(payload);
  }

  struct Reply {
    uint32_t error = 0;
    uint64_t cookie = 0;
    std::vector<std::byte> data;
    std::string message;
    bool ok = false;  // a well-formed reply arrived
  };
  // One reply; `read_length` is the data length a simple READ reply carries.
  Reply recv_reply(uint32_t read_length = 0) {
    Reply reply;
    nbd::be32 magic;
    if (!recv(&magic, sizeof magic)) return reply;
    if (magic.value() == nbd::kSimpleReplyMagic) {
      nbd::be32 error;
      nbd::be64 cookie;
      if (!recv(&error, 4) || !recv(&cookie, 8)) return reply;
      reply.error = error.value();
      reply.cookie = cookie.value();
      if (reply.error == 0 && read_length) {
        reply.data.resize(read_length);
        if (!recv(reply.data.data(), read_length)) return reply;
      }
      reply.ok = true;
      return reply;
    }
    EXPECT_EQ(magic.value(), nbd::kStructuredReplyMagic);
    for (bool first = true;; first = false) {
      if (!first && !recv(&magic, sizeof magic)) return reply;
      nbd::be16 flags, type;
      nbd::be64 cookie;
      nbd::be32 length;
      if (!recv(&flags, 2) || !recv(&type, 2) || !recv(&cookie, 8) || !recv(&length, 4)) return reply;
      reply.cookie = cookie.value();
      std::vector<std::byte> payload(length.value());
      if (!recv(payload.data(), payload.size())) return reply;
      if (type.value() == nbd::kReplyTypeOffsetData) {
        reply.data.assign(payload.begin() + 8, payload.end());
      } else if (type.value() == nbd::kReplyTypeError) {
        nbd::ErrorChunk e;
        std::memcpy(&e, payload.data(), sizeof e);
        reply.error = e.error.value();
        reply.message.assign(reinterpret_cast<const char*>(payload.data()) + sizeof e, e.message_length.value());
      }
      if (flags.value() & nbd::kReplyFlagDone) break;
    }
    reply.ok = true;
    return reply;
  }

 private:
  int fd_;
  bool structured_ = false;
};

std::vector<std::byte> pattern(size_t n, int seed) {
  std::vector<std::byte> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<std::byte>((i * 13 + seed) & 0xff);
  return v;
}

class NbdConnectionTest : public ::testing::Test {
 protected:
  NbdConnectionTest() : worker_(0, blocking_) {
    char name[] = "/tmp/rdmablk-nbd-XXXXXX";
    int fd = ::mkstemp(name);
    EXPECT_EQ(::ftruncate(fd, 1 << 20), 0);
    ::close(fd);
    file_path_ = name;
    std::vector<std::unique_ptr<Export>> v;
    auto ram = [&](const std::string& spec) {
      ExportConfig c = parse_export_spec(spec);
      v.push_back(std::make_unique<Export>(c, std::make_unique<RamBackend>(c.ram_size, 512)));
    };
    ram("mem=ram:1M,desc=test memory");
    ram("ro=ram:1M,ro");
    ram("secret=ram:1M,secret=/etc/key");
    ram("private=ram:1M,allow=10.0.0.0/8");
    ExportConfig fc = parse_export_spec("file=" + file_path_);
    v.push_back(std::make_unique<Export>(fc, std::make_unique<FileBackend>(file_path_, false)));
    exports_ = ExportTable(std::move(v));
    worker_.start();
  }

  ~NbdConnectionTest() override {
    for (auto& f : finished_) EXPECT_EQ(f.wait_for(10s), std::future_status::ready);
    worker_.stop();
    std::filesystem::remove(file_path_);
  }

  std::unique_ptr<Client> connect(NbdLimits limits = {}) {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    auto done = std::make_shared<std::promise<void>>();
    finished_.push_back(done->get_future());
    asio::post(worker_.context(), [this, fd = sv[1], done, limits] {
      NbdConnection::Socket socket(worker_.context());
      socket.assign(asio::generic::stream_protocol(AF_UNIX, 0), fd);
      auto conn = std::make_shared<NbdConnection>(std::move(socket), asio::ip::make_address("127.0.0.1"),
                                                  "test", exports_, worker_.engine(), worker_.buffers(), limits);
      last_ = conn;
      asio::co_spawn(
          worker_.context(),
          [conn, done]() -> asio::awaitable<void> {
            co_await conn->run();
            done->set_value();
          },
          asio::detached);
    });
    return std::make_unique<Client>(sv[0]);
  }

  // The most recent connection finished (its run() returned).
  bool finished() { return finished_.back().wait_for(10s) == std::future_status::ready; }

  void stop_last() {
    std::promise<void> posted;
    asio::post(worker_.context(), [&] {
      last_->stop();
      posted.set_value();
    });
    posted.get_future().wait();
  }

  asio::thread_pool blocking_{1};
  std::string file_path_;
  ExportTable exports_;
  Worker worker_;
  std::shared_ptr<NbdConnection> last_;  // touched on the worker thread only
  std::vector<std::future<void>> finished_;
};

TEST_F(NbdConnectionTest, GoReportsInfoAndServesStructuredReads) {
  auto c = connect();
  c->greet();
  c->send_option(nbd::kOptStructuredReply);
  EXPECT_EQ(c->recv_option_reply().type, nbd::kRepAck);
  c->send_option(nbd::kOptGo, Client::info_data("mem", {nbd::kInfoName, nbd::kInfoDescription, nbd::kInfoBlockSize}));
  std::map<uint16_t, std::vector<std::byte>> infos;
  for (;;) {
    auto r = c->recv_option_reply();
    EXPECT_EQ(r.option, nbd::kOptGo);
    if (r.type == nbd::kRepAck) break;
    ASSERT_EQ(r.type, nbd::kRepInfo);
    nbd::be16 type;
    std::memcpy(&type, r.data.data(), 2);
    infos[type.value()] = r.data;
  }
  ASSERT_EQ(infos.size(), 4u);
  nbd::InfoExport info;
  std::memcpy(&info, infos[nbd::kInfoExport].data(), sizeof info);
  EXPECT_EQ(info.size.value(), 1u << 20);
  EXPECT_TRUE(info.transmission_flags.value() & nbd::kFlagSendDf);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(infos[nbd::kInfoName].data()) + 2, 3), "mem");
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(infos[nbd::kInfoDescription].data()) + 2, 11), "test memory");
  nbd::InfoBlockSize bs;
  std::memcpy(&bs, infos[nbd::kInfoBlockSize].data(), sizeof bs);
  EXPECT_EQ(bs.minimum.value(), 512u);
  EXPECT_EQ(bs.maximum.value(), 32u << 20);

  auto data = pattern(8192, 1);
  c->request(nbd::kCmdWrite, 7, 4096, 8192, data, nbd::kCmdFlagFua);
  auto w = c->recv_reply();
  EXPECT_TRUE(w.ok);
  EXPECT_EQ(w.cookie, 7u);
  EXPECT_EQ(w.error, 0u);
  c->request(nbd::kCmdRead, 8, 4096, 8192);
  auto r = c->recv_reply();
  EXPECT_EQ(r.cookie, 8u);
  EXPECT_EQ(r.data, data);
  c->request(nbd::kCmdRead, 9, 0, 0);  // zero length: a NONE chunk
  EXPECT_TRUE(c->recv_reply().ok);
  c->request(nbd::kCmdDisc, 10, 0, 0);
  EXPECT_TRUE(c->closed());
  EXPECT_TRUE(finished());
}

TEST_F(NbdConnectionTest, FileExportWithSimpleReplies) {
  auto c = connect();
  uint16_t flags = c->open("file", false);
  EXPECT_FALSE(flags & nbd::kFlagSendDf);
  auto data = pattern(4096 + 100, 2);
  c->request(nbd::kCmdWrite, 1, 1000, static_cast<uint32_t>(data.size()), data);  // unaligned
  EXPECT_EQ(c->recv_reply().error, 0u);
  c->request(nbd::kCmdFlush, 2, 0, 0);
  EXPECT_EQ(c->recv_reply().error, 0u);
  c->request(nbd::kCmdRead, 3, 1000, static_cast<uint32_t>(data.size()));
  EXPECT_EQ(c->recv_reply(static_cast<uint32_t>(data.size())).data, data);
  c->request(nbd::kCmdWriteZeroes, 4, 1000, 100, {}, nbd::kCmdFlagFua);
  EXPECT_EQ(c->recv_reply().error, 0u);
  c->request(nbd::kCmdTrim, 5, 8192, 8192);
  EXPECT_EQ(c->recv_reply().error, 0u);
  c->request(nbd::kCmdRead, 6, 1000, 200);
  auto r = c->recv_reply(200);
  EXPECT_EQ(std::vector<std::byte>(r.data.begin(), r.data.begin() + 100), std::vector<std::byte>(100));
  EXPECT_EQ(std::vector<std::byte>(r.data.begin() + 100, r.data.end()),
            std::vector<std::byte>(data.begin() + 100, data.begin() + 200));
  c->request(nbd::kCmdDisc, 7, 0, 0);
  EXPECT_TRUE(c->closed());
}

TEST_F(NbdConnectionTest, ExportNameSendsZeroesUnlessNegotiatedAway) {
  auto c = connect();
  c->greet(nbd::kFlagCFixedNewstyle);
  c->send_option(nbd::kOptExportName, bytes_of(std::string_view("mem")));
  auto reply = c->recv_struct<nbd::ExportNameReply>();
  EXPECT_EQ(reply.size.value(), 1u << 20);
  std::array<char, 124> zeroes{};
  ASSERT_TRUE(c->recv(zeroes.data(), zeroes.size()));
  EXPECT_EQ(zeroes, (std::array<char, 124>{}));
  c->request(nbd::kCmdRead, 1, 0, 512);
  EXPECT_EQ(c->recv_reply(512).data.size(), 512u);
}

TEST_F(NbdConnectionTest, ExportNameUnknownHangsUp) {
  auto c = connect();
  c->greet();
  c->send_option(nbd::kOptExportName, bytes_of(std::string_view("nope")));
  EXPECT_TRUE(c->closed());
  EXPECT_TRUE(finished());
}

TEST_F(NbdConnectionTest, OptionErrorsKeepTheSessionUsable) {
  auto c = connect();
  c->greet();
  auto expect_reply = [&](uint32_t option, std::span<const std::byte> data, uint32_t type) {
    c->send_option(option, data);
    auto r = c->recv_option_reply();
    EXPECT_EQ(r.option, option);
    EXPECT_EQ(r.type, type) << nbd::reply_type_name(r.type) << " for " << nbd::option_name(option);
  };
  expect_reply(42, {}, nbd::kRepErrUnsup);
  expect_reply(nbd::kOptStartTls, {}, nbd::kRepErrUnsup);
  expect_reply(nbd::kOptSetMetaContext, {}, nbd::kRepErrUnsup);
  expect_reply(nbd::kOptList, bytes_of(std::string_view("x")), nbd::kRepErrInvalid);
  expect_reply(nbd::kOptStructuredReply, bytes_of(std::string_view("x")), nbd::kRepErrInvalid);
  expect_reply(nbd::kOptGo, bytes_of(std::string_view("junk")), nbd::kRepErrInvalid);
  expect_reply(nbd::kOptInfo, Client::info_data("nope", {}), nbd::kRepErrUnknown);
  expect_reply(nbd::kOptGo, Client::info_data("secret", {}), nbd::kRepErrPolicy);
  expect_reply(nbd::kOptGo, Client::info_data("private", {}), nbd::kRepErrPolicy);
  std::vector<std::byte> huge(64 * 1024);
  expect_reply(nbd::kOptInfo, huge, nbd::kRepErrTooBig);
  // INFO leaves negotiation going; then GO enters transmission.
  c->send_option(nbd::kOptInfo, Client::info_data("mem", {}));
  EXPECT_EQ(c->recv_option_reply().type, nbd::kRepInfo);
  EXPECT_EQ(c->recv_option_reply().type, nbd::kRepAck);
  c->send_option(nbd::kOptGo, Client::info_data("", {}));  // default export
  EXPECT_EQ(c->recv_option_reply().type, nbd::kRepInfo);
  EXPECT_EQ(c->recv_option_reply().type, nbd::kRepAck);
  c->request(nbd::kCmdRead, 1, 0, 512);
  EXPECT_EQ(c->recv_reply(512).error, 0u);
}

TEST_F(NbdConnectionTest, ListShowsVisibleExportsAndAbortEnds) {
  auto c = connect();
  c->greet();
  c->send_option(nbd::kOptList);
  std::vector<std::string> names;
  for (;;) {
    auto r = c->recv_option_reply();
    if (r.type == nbd::kRepAck) break;
    ASSERT_EQ(r.type, nbd::kRepServer);
    nbd::be32 len;
    std::memcpy(&len, r.data.data(), 4);
    names.emplace_back(reinterpret_cast<const char*>(r.data.data()) + 4, len.value());
  }
  EXPECT_EQ(names, (std::vector<std::string>{"mem", "ro", "file"}));
  c->send_option(nbd::kOptAbort);
  EXPECT_EQ(c->recv_option_reply().type, nbd::kRepAck);
  EXPECT_TRUE(c->closed());
}

TEST_F(NbdConnectionTest, ProtocolViolationsDuringHandshakeHangUp) {
  {
    auto c = connect();
    c->greet(1u << 7);  // unknown client flag
    EXPECT_TRUE(c->closed());
  }
  {
    auto c = connect();
    c->greet();
    c->send_option(nbd::kOptList, {}, 0x1234);  // bad option magic
    EXPECT_TRUE(c->closed());
  }
  {
    auto c = connect();
    c->greet();
    c->send_option(nbd::kOptGo, std::vector<std::byte>(2u << 20));  // not worth skipping
    EXPECT_TRUE(c->closed());
  }
}

TEST_F(NbdConnectionTest, RequestErrors) {
  auto c = connect();
  c->open("mem", true);
  c->request(nbd::kCmdRead, 1, (1 << 20) - 512, 1024);
  auto r = c->recv_reply();
  EXPECT_EQ(r.cookie, 1u);
  EXPECT_EQ(r.error, nbd::kEInval);
  EXPECT_FALSE(r.message.empty());
  auto data = pattern(4096, 3);
  c->request(nbd::kCmdWrite, 2, 1 << 20, 4096, data);  // payload is skipped
  EXPECT_EQ(c->recv_reply().error, nbd::kENoSpc);
  c->request(nbd::kCmdCache, 3, 0, 4096);
  EXPECT_EQ(c->recv_reply().error, nbd::kEInval);
  c->request(nbd::kCmdWrite, 4, 0, 4096, data, 1u << 12);  // unknown flag
  EXPECT_EQ(c->recv_reply().error, nbd::kEInval);
  c->request(nbd::kCmdRead, 5, 0, 4096);  // the stream is still in sync
  auto ok = c->recv_reply();
  EXPECT_EQ(ok.error, 0u);
  EXPECT_EQ(ok.data.size(), 4096u);
  c->request(nbd::kCmdRead, 6, 0, 4096, {}, 0);
  nbd::Request bad;
  std::memset(&bad, 0, sizeof bad);
  c->send(bytes_of(bad));  // bad magic: hang up after answering the rest
  EXPECT_EQ(c->recv_reply().cookie, 6u);
  EXPECT_TRUE(c->closed());
  EXPECT_TRUE(finished());
}

TEST_F(NbdConnectionTest, ReadOnlyExportRefusesWrites) {
  auto c = connect();
  uint16_t flags = c->open("ro", false);
  EXPECT_TRUE(flags & nbd::kFlagReadOnly);
  auto data = pattern(512, 4);
  c->request(nbd::kCmdWrite, 1, 0, 512, data);
  EXPECT_EQ(c->recv_reply().error, nbd::kEPerm);
  c->request(nbd::kCmdTrim, 2, 0, 512);
  EXPECT_EQ(c->recv_reply().error, nbd::kEPerm);
  c->request(nbd::kCmdRead, 3, 0, 512);
  EXPECT_EQ(c->recv_reply(512).data, std::vector<std::byte>(512));
}

TEST_F(NbdConnectionTest, OversizedWriteHangsUp) {
  auto c = connect();
  c->open("mem", false);
  c->request(nbd::kCmdWrite, 1, 0, (32u << 20) + 512);
  EXPECT_TRUE(c->closed());
}

class NbdPipelineTest : public NbdConnectionTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(NbdPipelineTest, ManyRequestsInFlightWithFlowControl) {
  NbdLimits limits;
  limits.max_in_flight = 4;
  auto c = connect(limits);
  c->open(GetParam(), true);
  constexpr int kCount = 64;
  for (int i = 0; i < kCount; ++i) {
    auto data = pattern(4096, i);
    c->request(nbd::kCmdWrite, 1000 + i, uint64_t(i) * 4096, 4096, data);
  }
  std::set<uint64_t> cookies;
  for (int i = 0; i < kCount; ++i) {
    auto r = c->recv_reply();
    EXPECT_EQ(r.error, 0u);
    cookies.insert(r.cookie);
  }
  EXPECT_EQ(cookies.size(), size_t{kCount});
  for (int i = 0; i < kCount; ++i) c->request(nbd::kCmdRead, 2000 + i, uint64_t(i) * 4096, 4096);
  for (int i = 0; i < kCount; ++i) {
    auto r = c->recv_reply();
    ASSERT_GE(r.cookie, 2000u);
    EXPECT_EQ(r.data, pattern(4096, static_cast<int>(r.cookie - 2000)));
  }
}

INSTANTIATE_TEST_SUITE_P(Exports, NbdPipelineTest, ::testing::Values("mem", "file"));

TEST_F(NbdConnectionTest, ClientVanishingMidPayloadIsCleanedUp) {
  auto c = connect();
  c->open("file", false);
  c->request(nbd::kCmdWrite, 1, 0, 65536, pattern(1000, 5));
  c.reset();
  EXPECT_TRUE(finished());
}

TEST_F(NbdConnectionTest, StopDuringHandshakeAndTransmission) {
  {
    auto c = connect();
    c->greet();
    stop_last();
    EXPECT_TRUE(c->closed());
    EXPECT_TRUE(finished());
  }
  auto c = connect();
  c->open("mem", false);
  c->request(nbd::kCmdRead, 1, 0, 4096);
  EXPECT_EQ(c->recv_reply(4096).error, 0u);
  stop_last();
  EXPECT_TRUE(c->closed());
  EXPECT_TRUE(finished());
}

TEST_F(NbdConnectionTest, HandshakeTimeout) {
  NbdLimits limits;
  limits.handshake_timeout = 10ms;
  auto c = connect(limits);
  EXPECT_TRUE(finished());
}

}  // namespace
}  // namespace rdmablk::target
