// The metrics endpoint's pure parts: --metrics parsing, the counters, the
// text exposition (names, labels, cumulative buckets), and reloading the
// export table (what stays, what is retired, a failed reload changes nothing).
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "config.hpp"
#include "export.hpp"
#include "metrics.hpp"
#include "ram_backend.hpp"
#include "stats.hpp"

namespace rdmablk::target {
namespace {

ExportConfig ram_export(const std::string& name, uint64_t size = 1 << 20) {
  ExportConfig c;
  c.name = name;
  c.ram_size = size;
  return c;
}

TEST(MetricsEndpoint, Parses) {
  auto a = parse_metrics_endpoint("127.0.0.1:9100");
  EXPECT_EQ(a.address, "127.0.0.1");
  EXPECT_EQ(a.port, 9100);
  auto b = parse_metrics_endpoint("[::1]:0");
  EXPECT_EQ(b.address, "::1");
  EXPECT_EQ(b.port, 0);
  auto c = parse_metrics_endpoint(":9100");
  EXPECT_EQ(c.address, "::");
}

TEST(MetricsEndpoint, Rejects) {
  for (const char* bad : {"", "9100", "host:9100", "1.2.3:80", "::1:80", "[::1]80", "[::1", "127.0.0.1:",
                          "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:80x", "[nope]:1"}) {
    EXPECT_THROW(parse_metrics_endpoint(bad), ConfigError) << bad;
  }
}

TEST(MetricsEndpoint, TomlKey) {
  auto c = parse_config_toml("[target]\nmetrics = \"127.0.0.1:9200\"\n", "t.toml");
  ASSERT_TRUE(c.metrics);
  EXPECT_EQ(c.metrics->port, 9200);
  EXPECT_THROW(parse_config_toml("[target]\nmetrics = \"nope\"\n", "t.toml"), ConfigError);
  EXPECT_THROW(parse_config_toml("[target]\nmetrics = 9100\n", "t.toml"), ConfigError);
}

TEST(IoStats, Records) {
  stats::IoStats s;
  auto t0 = stats::now();
  s.record(IoOp::read, 4096, false, t0);
  s.record(IoOp::write, 512, false, t0);
  s.record(IoOp::write, 512, true, t0);  // errors carry no bytes
  s.record_rdma(RDMABLK_OP_FLUSH, 0, RDMABLK_S_SUCCESS, t0);
  s.record_rdma(RDMABLK_OP_KEEPALIVE, 0, RDMABLK_S_SUCCESS, t0);  // not I/O: ignored
  EXPECT_EQ(s.requests[0], 1u);
  EXPECT_EQ(s.requests[1], 2u);
  EXPECT_EQ(s.requests[2], 1u);
  EXPECT_EQ(s.errors[1], 1u);
  EXPECT_EQ(s.bytes_read, 4096u);
  EXPECT_EQ(s.bytes_written, 512u);
  uint64_t in_buckets = 0;
  for (const auto& b : s.latency_buckets) in_buckets += b;
  EXPECT_EQ(in_buckets, 4u);
  {
    stats::SessionCount one(s);
    stats::SessionCount moved = std::move(one);
    EXPECT_EQ(s.sessions, 1);
  }
  EXPECT_EQ(s.sessions, 0);
}

TEST(RenderMetrics, ExportsAndTransports) {
  std::vector<std::unique_ptr<Export>> v;
  auto weird = ram_export("we\"ird");
  v.push_back(std::make_unique<Export>(ram_export("a"), std::make_unique<RamBackend>(1 << 20, 512)));
  v.push_back(std::make_unique<Export>(weird, std::make_unique<RamBackend>(1 << 20, 512)));
  ExportTable table(std::move(v));
  const Export* a = table.find("a");
  ASSERT_NE(a, nullptr);
  auto t0 = stats::now();
  for (int i = 0; i < 3; ++i) a->stats(stats::Transport::nbd).record(IoOp::read, 8192, false, t0);
  stats::TargetStats target;
  target.login_rejects[RDMABLK_S_AUTH_FAILED] = 2;
  target.login_rejects[RDMABLK_S_OUT_OF_RANGE] = 1;  // no login reason: "other"
  ListenerFigures f{.nbd = true, .rdma = true, .nbd_connections = 1, .rdma_queues = 3};
  std::string text = render_metrics(table, f, target);
  auto has = [&](const std::string& line) { return text.find(line + "\n") != std::string::npos; };
  EXPECT_TRUE(has("rdmablk_exports 2"));
  EXPECT_TRUE(has("rdmablk_requests_total{export=\"a\",transport=\"nbd\",op=\"read\"} 3"));
  EXPECT_TRUE(has("rdmablk_requests_total{export=\"a\",transport=\"rdma\",op=\"read\"} 0"));
  EXPECT_TRUE(has("rdmablk_read_bytes_total{export=\"a\",transport=\"nbd\"} 24576"));
  EXPECT_TRUE(has("rdmablk_request_duration_seconds_bucket{export=\"a\",transport=\"nbd\",le=\"+Inf\"} 3"));
  EXPECT_TRUE(has("rdmablk_request_duration_seconds_count{export=\"a\",transport=\"nbd\"} 3"));
  EXPECT_TRUE(has("rdmablk_sessions{export=\"we\\\"ird\",transport=\"rdma\"} 0"));
  EXPECT_TRUE(has("rdmablk_queues{transport=\"nbd\"} 1"));
  EXPECT_TRUE(has("rdmablk_queues{transport=\"rdma\"} 3"));
  EXPECT_TRUE(has("rdmablk_login_rejects_total{reason=\"auth_failed\"} 2"));
  EXPECT_TRUE(has("rdmablk_login_rejects_total{reason=\"other\"} 1"));
  EXPECT_TRUE(has("# TYPE rdmablk_request_duration_seconds histogram"));
  // Buckets are cumulative: never smaller than the one before.
  uint64_t last = 0;
  size_t pos = 0;
  const std::string prefix = "rdmablk_request_duration_seconds_bucket{export=\"a\",transport=\"nbd\"";
  int buckets = 0;
  while ((pos = text.find(prefix, pos)) != std::string::npos) {
    auto end = text.find('\n', pos);
    uint64_t n = std::stoull(text.substr(text.rfind(' ', end) + 1, end));
    EXPECT_GE(n, last);
    last = n;
    ++buckets;
    pos = end;
  }
  EXPECT_EQ(buckets, static_cast<int>(stats::kLatencyBoundsNs.size()) + 1);
  // Only the transports that serve appear.
  f.rdma = false;
  text = render_metrics(table, f, target);
  EXPECT_EQ(text.find("transport=\"rdma\""), std::string::npos);
}

TEST(ExportReload, KeepsAddsRemovesAndChanges) {
  auto table = ExportTable::open({ram_export("keep"), ram_export("drop"), ram_export("change")});
  const Export* keep = table.find("keep");
  const Export* drop = table.find("drop");
  const Export* change = table.find("change");
  auto s = table.reload({ram_export("keep"), ram_export("change", 2 << 20), ram_export("new")});
  EXPECT_EQ(s.kept, std::vector<std::string>{"keep"});
  EXPECT_EQ(s.added, std::vector<std::string>{"new"});
  EXPECT_EQ(s.removed, std::vector<std::string>{"drop"});
  EXPECT_EQ(s.changed, std::vector<std::string>{"change"});
  EXPECT_EQ(table.find("keep"), keep);  // the same object: its sessions never notice
  EXPECT_EQ(table.find("drop"), nullptr);
  ASSERT_NE(table.find("change"), nullptr);
  EXPECT_NE(table.find("change"), change);
  EXPECT_EQ(table.find("change")->size(), 2u << 20);
  ASSERT_NE(table.find("new"), nullptr);
  // Retired exports stay valid for the sessions that hold them.
  EXPECT_EQ(drop->name(), "drop");
  EXPECT_EQ(change->size(), 1u << 20);
  EXPECT_EQ(table.all().size(), 3u);
  EXPECT_TRUE(table.sync_all());
}

TEST(ExportReload, FailureChangesNothing) {
  auto table = ExportTable::open({ram_export("a")});
  const Export* a = table.find("a");
  ExportConfig missing;
  missing.name = "bad";
  missing.path = "/nonexistent/rdmablk-test-image";
  EXPECT_THROW(table.reload({ram_export("b"), missing}), ConfigError);
  EXPECT_EQ(table.find("a"), a);
  EXPECT_EQ(table.find("b"), nullptr);
  EXPECT_EQ(table.all().size(), 1u);
}

}  // namespace
}  // namespace rdmablk::target
