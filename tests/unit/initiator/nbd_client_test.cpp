// librdmablk's NBD transport against a scripted server: handshake variants,
// reply parsing, and every way a server can go wrong. No test depends on
// timing except through ClientOptions::timeout, and every wait is bounded so
// a hang fails the test instead of blocking it.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <numeric>

#include "error_of.hpp"
#include "fake_nbd_server.hpp"
#include "rdmablk/client.hpp"

namespace rdmablk::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kHangGuard = 30s;  // far beyond any correct answer

std::error_code errc(std::errc e) { return std::make_error_code(e); }

// Runs one asynchronous call and returns its result, failing on a hang.
template <class Submit>
std::error_code run(Submit submit) {
  auto done = std::make_shared<std::promise<std::error_code>>();
  auto result = done->get_future();
  submit([done](std::error_code ec) { done->set_value(ec); });
  if (result.wait_for(kHangGuard) != std::future_status::ready) {
    ADD_FAILURE() << "request never completed";
    std::abort();  // the client would hang in its destructor too
  }
  return result.get();
}

std::error_code read(Client& c, uint64_t off, std::span<std::byte> buf) {
  return run([&](Completion d) { c.read(off, buf, std::move(d)); });
}

std::error_code write(Client& c, uint64_t off, std::span<const std::byte> buf, bool fua = false) {
  return run([&](Completion d) { c.write(off, buf, std::move(d), fua); });
}

std::vector<std::byte> pattern(size_t n, unsigned seed) {
  std::vector<std::byte> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<std::byte>((i * 31 + seed) & 0xff);
  return v;
}

using rdmablk::test_util::error_of;

// --- Handshake ------------------------------------------------------------------

TEST(NbdHandshake, GoReportsExportDetails) {
  FakeServerConfig cfg;
  cfg.block_size = {{512, 4096, 1 << 20}};
  FakeNbdServer server(cfg);
  auto c = Client::open(server.url());
  const auto& i = c->info();
  EXPECT_EQ(i.name, "disk");
  EXPECT_EQ(i.description, "a test disk");
  EXPECT_EQ(i.size, cfg.size);
  EXPECT_EQ(i.min_block_size, 512u);
  EXPECT_EQ(i.preferred_block_size, 4096u);
  EXPECT_EQ(i.max_block_size, 1u << 20);
  EXPECT_FALSE(i.read_only);
  EXPECT_TRUE(i.can_flush && i.can_fua && i.can_trim && i.can_write_zeroes);
  EXPECT_FALSE(i.can_multi_conn);
}

TEST(NbdHandshake, UnknownExportIsEnoent) {
  FakeNbdServer server({});
  auto e = error_of([&] { Client::open(server.url("nope")); });
  EXPECT_EQ(e.code(), errc(std::errc::no_such_file_or_directory));
  EXPECT_NE(std::string(e.what()).find("'nope'"), std::string::npos) << e.what();
  EXPECT_NE(std::string(e.what()).find("no such export"), std::string::npos) << e.what();  // the server's words
}

TEST(NbdHandshake, FallsBackToExportNameWithoutGo) {
  FakeServerConfig cfg;
  cfg.go = false;
  cfg.structured = false;
  FakeNbdServer server(cfg);
  auto c = Client::open(server.url());
  EXPECT_EQ(c->info().size, cfg.size);
  EXPECT_TRUE(c->info().can_trim);
  auto e = error_of([&] { Client::open(server.url("nope")); });
  EXPECT_EQ(e.code(), errc(std::errc::no_such_file_or_directory)) << e.what();
}

TEST(NbdHandshake, ListExportsWithDetails) {
  FakeServerConfig cfg;
  cfg.exports = {{"a", "first"}, {"b", "second"}};
  FakeNbdServer server(cfg);
  auto list = Client::list_exports("nbd://127.0.0.1:" + std::to_string(server.port()));
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].name, "a");
  EXPECT_EQ(list[0].description, "first");
  EXPECT_EQ(list[0].size, cfg.size);
  EXPECT_EQ(list[1].name, "b");
  EXPECT_EQ(list[1].description, "second");
}

TEST(NbdHandshake, ConnectionRefused) {
  uint16_t port;
  {
    asio::io_context io;
    tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = a.local_endpoint().port();
  }
  auto e = error_of([&] { Client::open("nbd://127.0.0.1:" + std::to_string(port) + "/x"); });
  EXPECT_EQ(e.code(), errc(std::errc::connection_refused));
  EXPECT_EQ(std::string(e.what()), "cannot connect to 127.0.0.1:" + std::to_string(port) + ": Connection refused");
}

TEST(NbdHandshake, NotAnNbdServer) {
  FakeServerConfig cfg;
  cfg.raw = [](tcp::socket& s) {
    asio::write(s, asio::buffer(std::string_view("SSH-2.0-OpenSSH_9.2\r\n")));
    std::array<char, 64> sink;
    boost::system::error_code ec;
    s.read_some(asio::buffer(sink), ec);
  };
  FakeNbdServer server(cfg);
  auto e = error_of([&] { Client::open(server.url()); });
  EXPECT_EQ(e.code(), errc(std::errc::protocol_error)) << e.what();
}

TEST(NbdHandshake, ServerHangsUpDuringHandshake) {
  FakeServerConfig cfg;
  cfg.raw = [](tcp::socket& s) { s.shutdown(tcp::socket::shutdown_both); };
  FakeNbdServer server(cfg);
  auto e = error_of([&] { Client::open(server.url()); });
  EXPECT_EQ(e.code(), errc(std::errc::connection_reset)) << e.what();
}

TEST(NbdHandshake, SilentServerTimesOut) {
  FakeServerConfig cfg;
  cfg.raw = [](tcp::socket& s) {
    std::array<char, 64> sink;
    boost::system::error_code ec;
    s.read_some(asio::buffer(sink), ec);  // until the client gives up
  };
  FakeNbdServer server(cfg);
  auto e = error_of([&] { Client::open(server.url("disk", "timeout=200")); });
  EXPECT_EQ(e.code(), errc(std::errc::timed_out)) << e.what();
}

TEST(NbdHandshake, RdmaWithoutTargetFailsWithOneLine) {
  // No rdmablk target there (and here no RDMA device at all): a clear
  // error, in bounded time, never a hang.
  auto e = error_of([] { Client::open("rdma://127.0.0.1:9/x?timeout=2000"); });
  EXPECT_TRUE(e.code()) << e.what();
  EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
}

// --- Data path --------------------------------------------------------------------

class NbdData : public ::testing::TestWithParam<bool> {};  // structured replies?

TEST_P(NbdData, WriteThenReadBack) {
  FakeServerConfig cfg;
  cfg.structured = GetParam();
  FakeNbdServer server(cfg);
  auto c = Client::open(server.url());
  auto data = pattern(12288, 5);
  ASSERT_EQ(write(*c, 4096, data), std::error_code());
  std::vector<std::byte> back(data.size());
  ASSERT_EQ(read(*c, 4096, back), std::error_code());
  EXPECT_EQ(back, data);
  std::lock_guard lock(server.disk_mu);
  EXPECT_TRUE(std::equal(data.begin(), data.end(), server.disk.begin() + 4096));
}

TEST_P(NbdData, LargeReadsAndWrites) {
  FakeServerConfig cfg;
  cfg.structured = GetParam();
  cfg.size = 16 << 20;
  FakeNbdServer server(cfg);
  auto c = Client::open(server.url("disk", "qd=3"));
  // Several at once, so that replies queue up behind large payloads.
  std::vector<std::vector<std::byte>> data;
  for (unsigned i = 0; i < 6; ++i) data.push_back(pattern((1 << 20) + 512 * i, i));
  std::vector<std::vector<std::byte>> back(data.size());
  std::atomic<int> left{static_cast<int>(data.size())}, failed{0};
  std::promise<void> written, read_back;
  for (size_t i = 0; i < data.size(); ++i)
    c->write(i << 21, data[i], [&](std::error_code ec) {
      if (ec) ++failed;
      if (--left == 0) written.set_value();
    });
  ASSERT_EQ(written.get_future().wait_for(kHangGuard), std::future_status::ready);
  left = static_cast<int>(data.size());
  for (size_t i = 0; i < data.size(); ++i) {
    back[i].resize(data[i].size());
    c->read(i << 21, back[i], [&](std::error_code ec) {
      if (ec) ++failed;
      if (--left == 0) read_back.set_value();
    });
  }
  ASSERT_EQ(read_back.get_future().wait_for(kHangGuard), std::future_status::ready);
  EXPECT_EQ(failed, 0);
  for (size_t i = 0; i < data.size(); ++i) EXPECT_EQ(back[i], data[i]) << i;
}

TEST_P(NbdData, ManyMoreRequestsThanQueueDepth) {
  FakeServerConfig cfg;
  cfg.structured = GetParam();
  FakeNbdServer server(cfg);
  auto c = Client::open(server.url("disk", "qd=4"));
  constexpr int n = 300;
  std::vector<std::vector<std::byte>> bufs(n, std::vector<std::byte>(1000));
  std::atomic<int> left{n}, failed{0};
  std::promise<void> all;
  for (int i = 0; i < n; ++i)
    c->read(uint64_t(i) * 3000, bufs[i], [&](std::error_code ec) {
      if (ec) ++failed;
      if (--left == 0) all.set_value();
    });
  ASSERT_EQ(all.get_future().wait_for(kHangGuard), std::future_status::ready);
  EXPECT_EQ(failed, 0);
  std::lock_guard lock(server.disk_mu);
  for (int i = 0; i < n; ++i)
    EXPECT_TRUE(std::equal(bufs[i].begin(), bufs[i].end(), server.disk.begin() + i * 3000)) << i;
}

TEST_P(NbdData, CompletionsMaySubmit) {
  FakeServerConfig cfg;
  cfg.structured = GetParam();
  FakeNbdServer server(cfg);
  auto c = Client::open(server.url());
  std::array<std::byte, 512> buf;
  std::promise<int> done;
  int count = 0;
  std::function<void(std::error_code)> next = [&](std::error_code ec) {
    if (ec || ++count == 50) {
      done.set_value(ec ? -1 : count);
      return;
    }
    c->read(uint64_t(count) * 512, buf, next);
  };
  c->read(0, buf, next);
  auto f = done.get_future();
  ASSERT_EQ(f.wait_for(kHangGuard), std::future_status::ready);
  EXPECT_EQ(f.get(), 50);
}

INSTANTIATE_TEST_SUITE_P(Replies, NbdData, ::testing::Values(true, false),
                         [](const auto& p) { return p.param ? "structured" : "simple"; });

TEST(NbdRequests, FlushTrimWriteZeroesAndFua) {
  std::vector<FakeRequest> seen;
  std::mutex mu;
  FakeServerConfig cfg;
  cfg.on_request = [&](FakeConn& c, const FakeRequest& r) {
    {
      std::lock_guard lock(mu);
      seen.push_back({r.flags, r.type, r.cookie, r.offset, r.length, {}});
    }
    c.serve(r);
  };
  FakeNbdServer server(cfg);
  auto c = Client::open(server.url());
  auto data = pattern(4096, 1);
  EXPECT_EQ(write(*c, 0, data, true), std::error_code());
  EXPECT_EQ(c->flush_sync(), std::error_code());
  EXPECT_EQ(run([&](Completion d) { c->discard(8192, 4096, std::move(d)); }), std::error_code());
  EXPECT_EQ(run([&](Completion d) { c->write_zeroes(0, 1024, std::move(d)); }), std::error_code());
  std::vector<std::byte> back(4096);
  EXPECT_EQ(c->read_sync(0, back), std::error_code());
  EXPECT_TRUE(std::all_of(back.begin(), back.begin() + 1024, [](std::byte b) { return b == std::byte{0}; }));
  EXPECT_TRUE(std::equal(back.begin() + 1024, back.end(), data.begin() + 1024));
  std::lock_guard lock(mu);
  ASSERT_EQ(seen.size(), 5u);
  EXPECT_EQ(seen[0].type, nbd::kCmdWrite);
  EXPECT_EQ(seen[0].flags, nbd::kCmdFlagFua);
  EXPECT_EQ(seen[1].type, nbd::kCmdFlush);
  EXPECT_EQ(seen[2].type, nbd::kCmdTrim);
  EXPECT_EQ(seen[2].offset, 8192u);
  EXPECT_EQ(seen[3].type, nbd::kCmdWriteZeroes);
  EXPECT_EQ(seen[3].length, 1024u);
}

TEST(NbdRequests, InvalidRequestsFailWithoutBeingSent) {
  FakeServerConfig cfg;
  cfg.block_size = {{512, 4096, 65536}};
  cfg.flags = nbd::kFlagHasFlags | nbd::kFlagReadOnly;
  FakeNbdServer server(cfg);
  auto c = Client::open(server.url());
  std::vector<std::byte> buf(131072);
  auto einval = errc(std::errc::invalid_argument);
  EXPECT_EQ(read(*c, cfg.size - 512, {buf.data(), 1024}), einval);  // past the end
  EXPECT_EQ(read(*c, 100, {buf.data(), 512}), einval);              // unaligned offset
  EXPECT_EQ(read(*c, 0, {buf.data(), 100}), einval);                // unaligned length
  EXPECT_EQ(read(*c, 0, {buf.data(), 0}), einval);                  // empty
  EXPECT_EQ(read(*c, 0, buf), einval);                              // above the maximum
  EXPECT_EQ(write(*c, 0, {buf.data(), 512}), errc(std::errc::operation_not_permitted));  // read-only
  EXPECT_EQ(c->flush_sync(), std::error_code());  // no write cache: nothing to do
  EXPECT_EQ(server.requests, 0u);
}

TEST(NbdRequests, ServerErrorsBecomeErrnos) {
  FakeServerConfig cfg;
  cfg.on_request = [](FakeConn& c, const FakeRequest& r) {
    if (r.type == nbd::kCmdWrite) return c.simple_reply(r.cookie, nbd::kENoSpc);
    if (r.type == nbd::kCmdFlush) return c.error_chunk(r.cookie, nbd::kEPerm, "flush refused", true);
    if (r.type == nbd::kCmdTrim) return c.simple_reply(r.cookie, 12345);  // not in the spec
    c.serve(r);
  };
  FakeNbdServer server(cfg);
  auto c = Client::open(server.url());
  auto data = pattern(512, 2);
  EXPECT_EQ(write(*c, 0, data), errc(std::errc::no_space_on_device));
  EXPECT_EQ(c->flush_sync(), errc(std::errc::operation_not_permitted));
  EXPECT_EQ(run([&](Completion d) { c->discard(0, 512, std::move(d)); }), errc(std::errc::io_error));
  std::vector<std::byte> back(512);
  EXPECT_EQ(read(*c, 0, back), std::error_code());  // errors are per request: the connection lives on
}

TEST(NbdRequests, StructuredReadInPiecesAndHoles) {
  FakeServerConfig cfg;
  cfg.on_request = [](FakeConn& c, const FakeRequest& r) {
    // 12 KiB answered back to front: data, hole, data.
    auto d = pattern(4096, 9);
    c.data_chunk(r.cookie, r.offset + 8192, d, false);
    c.hole_chunk(r.cookie, r.offset + 4096, 4096, false);
    c.data_chunk(r.cookie, r.offset, d, true);
  };
  FakeNbdServer server(cfg);
  auto c = Client::open(server.url());
  std::vector<std::byte> buf(12288, std::byte{0xee});
  ASSERT_EQ(read(*c, 65536, buf), std::error_code());
  auto d = pattern(4096, 9);
  EXPECT_TRUE(std::equal(d.begin(), d.end(), buf.begin()));
  EXPECT_TRUE(std::all_of(buf.begin() + 4096, buf.begin() + 8192, [](std::byte b) { return b == std::byte{0}; }));
  EXPECT_TRUE(std::equal(d.begin(), d.end(), buf.begin() + 8192));
}

TEST(NbdRequests, LargeStructuredReadInChunks) {
  FakeServerConfig cfg;
  cfg.size = 4 << 20;
  cfg.on_request = [](FakeConn& c, const FakeRequest& r) {
    // Big and small chunks mixed, so that some bypass the buffer.
    uint32_t sizes[] = {300000, 100, 700000, 4096};
    uint64_t at = 0;
    for (size_t i = 0; at < r.length; ++i) {
      uint32_t n = std::min<uint64_t>(sizes[i % 4], r.length - at);
      std::lock_guard lock(c.server.disk_mu);
      c.data_chunk(r.cookie, r.offset + at, {c.server.disk.data() + r.offset + at, n}, at + n == r.length);
      at += n;
    }
  };
  FakeNbdServer server(cfg);
  auto c = Client::open(server.url());
  std::vector<std::byte> buf(3 << 20);
  ASSERT_EQ(read(*c, 4096, buf), std::error_code());
  std::lock_guard lock(server.disk_mu);
  EXPECT_TRUE(std::equal(buf.begin(), buf.end(), server.disk.begin() + 4096));
}

TEST(NbdRequests, StructuredReadErrorChunk) {
  FakeServerConfig cfg;
  cfg.on_request = [](FakeConn& c, const FakeRequest& r) {
    c.data_chunk(r.cookie, r.offset, pattern(512, 0), false);
    c.error_chunk(r.cookie, nbd::kEIo, "bad sector", false);
    c.none_chunk(r.cookie);
  };
  FakeNbdServer server(cfg);
  auto c = Client::open(server.url());
  std::vector<std::byte> buf(1024);
  EXPECT_EQ(read(*c, 0, buf), errc(std::errc::io_error));
}

// --- Broken servers: clear errors for everything in flight, then a dead connection

// Submits `n` reads at once and returns their results.
std::vector<std::error_code> read_many(Client& c, int n) {
  std::vector<std::vector<std::byte>> bufs(n, std::vector<std::byte>(4096));
  std::vector<std::error_code> results(n);
  std::atomic<int> left{n};
  std::promise<void> all;
  for (int i = 0; i < n; ++i)
    c.read(uint64_t(i) * 4096, bufs[i], [&, i](std::error_code ec) {
      results[i] = ec;
      if (--left == 0) all.set_value();
    });
  if (all.get_future().wait_for(kHangGuard) != std::future_status::ready) {
    ADD_FAILURE() << "requests never completed";
    std::abort();
  }
  return results;
}

// The first request is always on the wire when the server misbehaves and
// fails with `cause`; later ones were either on the wire too (`cause`) or
// still queued when the connection died (ECONNRESET). None succeeds.
void expect_failed(const std::vector<std::error_code>& results, std::errc cause) {
  ASSERT_FALSE(results.empty());
  EXPECT_EQ(results[0], errc(cause));
  for (auto ec : results) EXPECT_TRUE(ec == errc(cause) || ec == errc(std::errc::connection_reset)) << ec.message();
}

void expect_dead(Client& c) {
  std::vector<std::byte> buf(512);
  EXPECT_EQ(read(c, 0, buf), errc(std::errc::connection_reset));
}

TEST(NbdBrokenServer, BadReplyMagic) {
  FakeServerConfig cfg;
  cfg.on_request = [](FakeConn& c, const FakeRequest&) {
    std::array<std::byte, 16> junk;
    junk.fill(std::byte{0x5a});
    c.send(junk);
  };
  FakeNbdServer server(cfg);
  auto c = Client::open(server.url());
  expect_failed(read_many(*c, 8), std::errc::io_error);
  expect_dead(*c);
}

TEST(NbdBrokenServer, UnknownCookie) {
  FakeServerConfig cfg;
  cfg.on_request = [](FakeConn& c, const FakeRequest& r) { c.simple_reply(r.cookie ^ 0x5555'0000'0000ULL, 0); };
  FakeNbdServer server(cfg);
  auto c = Client::open(server.url());
  expect_failed(read_many(*c, 4), std::errc::io_error);
  expect_dead(*c);
}

TEST(NbdBrokenServer, OversizedChunk) {
  FakeServerConfig cfg;
  cfg.on_request = [](FakeConn& c, const FakeRequest& r) {
    c.data_chunk(r.cookie, r.offset, pattern(r.length + 4096, 0), true);
  };
  FakeNbdServer server(cfg);
  auto c = Client::open(server.url());
  expect_failed(read_many(*c, 4), std::errc::io_error);
  expect_dead(*c);
}

TEST(NbdBrokenServer, ChunkOutsideTheRequest) {
  FakeServerConfig cfg;
  cfg.on_request = [](FakeConn& c, const FakeRequest& r) {
    c.data_chunk(r.cookie, r.offset + 1, pattern(r.length, 0), true);
  };
  FakeNbdServer server(cfg);
  auto c = Client::open(server.url());
  expect_failed(read_many(*c, 2), std::errc::io_error);
}

TEST(NbdBrokenServer, ReadReplyThatCoversTooLittle) {
  FakeServerConfig cfg;
  cfg.on_request = [](FakeConn& c, const FakeRequest& r) {
    c.data_chunk(r.cookie, r.offset, pattern(r.length / 2, 0), true);
  };
  FakeNbdServer server(cfg);
  auto c = Client::open(server.url());
  expect_failed(read_many(*c, 2), std::errc::io_error);
}

TEST(NbdBrokenServer, ClosesMidReply) {
  FakeServerConfig cfg;
  cfg.on_request = [](FakeConn& c, const FakeRequest& r) {
    c.chunk_header(r.cookie, nbd::kReplyFlagDone, nbd::kReplyTypeOffsetData, 8 + r.length);
    nbd::be64 off;
    off = r.offset;
    c.send_struct(off);
    c.send(pattern(r.length / 2, 0));
    c.close();
  };
  FakeNbdServer server(cfg);
  auto c = Client::open(server.url());
  expect_failed(read_many(*c, 3), std::errc::connection_reset);
  expect_dead(*c);
}

TEST(NbdBrokenServer, SilenceTimesOutAndClosesTheConnection) {
  FakeServerConfig cfg;
  cfg.on_request = [](FakeConn&, const FakeRequest&) {};  // never answers
  FakeNbdServer server(cfg);
  // 1 s, not less: the timeout also bounds the handshake, on a busy host too.
  auto c = Client::open(server.url("disk", "timeout=1000"));
  expect_failed(read_many(*c, 3), std::errc::timed_out);
  expect_dead(*c);
}

// --- Queues --------------------------------------------------------------------------

TEST(NbdQueues, QueueDepthBoundsRequestsInFlight) {
  // The server answers only once it holds three requests; with two slots
  // the client never sends a third: the two sent time out, the one kept
  // back fails with the connection.
  for (unsigned qd : {2u, 3u}) {
    std::vector<FakeRequest> held;
    FakeServerConfig cfg;
    cfg.on_request = [&](FakeConn& c, const FakeRequest& r) {
      held.push_back(r);
      if (held.size() < 3) return;
      for (auto& h : held) c.serve(h);
      held.clear();
    };
    FakeNbdServer server(cfg);
    // qd 2 must time out; qd 3 succeeds, so its timeout only has to be generous.
    const char* timeout = qd == 2 ? "timeout=1000" : "timeout=10000";
    auto c = Client::open(server.url("disk", std::string(timeout) + "&qd=" + std::to_string(qd)));
    auto results = read_many(*c, 3);
    if (qd == 2) {
      EXPECT_EQ(results[0], errc(std::errc::timed_out));
      EXPECT_EQ(results[1], errc(std::errc::timed_out));
      EXPECT_EQ(results[2], errc(std::errc::connection_reset));
    } else {
      for (auto ec : results) EXPECT_EQ(ec, std::error_code());
    }
    c.reset();
    server.join_connections();
    EXPECT_EQ(server.requests, qd == 2 ? 2u : 3u);
  }
}

TEST(NbdQueues, ClampedToOneWithoutMultiConn) {
  FakeNbdServer server({});
  auto c = Client::open(server.url("disk", "queues=4"));
  EXPECT_EQ(c->options().queues, 1u);
  EXPECT_EQ(server.connections, 1u);
}

TEST(NbdQueues, RequestsSpreadOverConnections) {
  FakeServerConfig cfg;
  cfg.flags |= nbd::kFlagCanMultiConn;
  FakeNbdServer server(cfg);
  auto c = Client::open(server.url("disk", "queues=4&qd=2"));
  EXPECT_EQ(c->options().queues, 4u);
  EXPECT_EQ(server.connections, 4u);
  for (auto ec : read_many(*c, 64)) EXPECT_EQ(ec, std::error_code());
  for (unsigned i = 0; i < 4; ++i) EXPECT_GT(server.requests_per_conn[i], 0u) << "connection " << i;
}

TEST(NbdQueues, DestructorWaitsThenDisconnects) {
  std::atomic<int> answered{0};
  FakeServerConfig cfg;
  cfg.flags |= nbd::kFlagCanMultiConn;
  cfg.on_request = [&](FakeConn& c, const FakeRequest& r) {
    c.serve(r);
    ++answered;
  };
  FakeNbdServer server(cfg);
  std::atomic<int> completed{0};
  std::vector<std::byte> buf(4096 * 16);
  {
    auto c = Client::open(server.url("disk", "queues=2"));
    for (int i = 0; i < 16; ++i)
      c->read(uint64_t(i) * 4096, {buf.data() + i * 4096, 4096}, [&](std::error_code ec) {
        if (!ec) ++completed;
      });
  }  // no wait: the destructor must do it
  EXPECT_EQ(completed, 16);
  server.join_connections();
  EXPECT_EQ(server.discs, 2u);
}

}  // namespace
}  // namespace rdmablk::test
