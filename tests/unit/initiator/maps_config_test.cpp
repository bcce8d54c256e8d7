// maps.conf (rdmablk map --all): good files, and every kind of bad one
// named by FILE:LINE in a single line.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "maps_config.hpp"

namespace rdmablk::cli {
namespace {

// The error of a bad file; fails the test if it parses.
std::string error_of(std::string_view text) {
  try {
    parse_maps_config(text, "maps.conf");
  } catch (const MapsConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "accepted:\n" << text;
  return {};
}

TEST(MapsConfig, FullEntryAndDefaults) {
  auto entries = parse_maps_config(R"(
# two devices
[vol0]
url = "rdma://10.0.0.5/vol0"
mode = "direct"
queues = 4
qd = 64
poll_queues = 1
host_id = "web1"
secret_file = "/etc/rdmablk/vol0.secret"
reconnect_delay = 5
ctrl_loss_tmo = -1
fast_io_fail_tmo = 0
io_timeout = 8
read_only = true

[scratch]
url = "rdma://[fe80::1]:7000/scratch"
)",
                                   "maps.conf");
  ASSERT_EQ(entries.size(), 2u);
  const MapEntry& v = entries[0];
  EXPECT_EQ(v.name, "vol0");
  EXPECT_EQ(v.where, "maps.conf:3");
  EXPECT_EQ(v.args.url, "rdma://10.0.0.5/vol0");
  EXPECT_EQ(v.args.mode, "direct");
  EXPECT_EQ(v.args.queues, 4u);
  EXPECT_EQ(v.args.qd, 64u);
  EXPECT_EQ(v.args.poll_queues, 1u);
  EXPECT_EQ(v.args.host_id, "web1");
  EXPECT_EQ(v.args.secret_file, "/etc/rdmablk/vol0.secret");
  EXPECT_EQ(v.args.reconnect_delay, 5u);
  EXPECT_EQ(v.args.ctrl_loss_tmo, -1);
  EXPECT_EQ(v.args.fast_io_fail_tmo, 0) << "0: fail at once, not off";
  EXPECT_EQ(v.args.io_timeout, 8u);
  EXPECT_TRUE(v.args.read_only);

  const MapEntry& s = entries[1];  // only a url: the module's defaults
  EXPECT_EQ(s.name, "scratch");
  EXPECT_EQ(s.where, "maps.conf:17");
  EXPECT_EQ(s.args.mode, "command");
  EXPECT_EQ(s.args.queues, 0u);
  EXPECT_EQ(s.args.qd, 0u);
  EXPECT_TRUE(s.args.host_id.empty());
  EXPECT_TRUE(s.args.secret_file.empty());
  EXPECT_EQ(s.args.reconnect_delay, 0u);
  EXPECT_EQ(s.args.ctrl_loss_tmo, 0);
  EXPECT_EQ(s.args.fast_io_fail_tmo, -1) << "off";
  EXPECT_EQ(s.args.io_timeout, 0u);
  EXPECT_FALSE(s.args.read_only);
}

TEST(MapsConfig, FileOrderNotNameOrder) {
  auto entries = parse_maps_config("[zeta]\nurl = \"rdma://h/z\"\n[alpha]\nurl = \"rdma://h/a\"\n"
                                   "[mid]\nurl = \"rdma://h/m\"\n",
                                   "f");
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].name, "zeta");
  EXPECT_EQ(entries[1].name, "alpha");
  EXPECT_EQ(entries[2].name, "mid");
}

TEST(MapsConfig, EmptyFileHasNoEntries) {
  EXPECT_TRUE(parse_maps_config("", "f").empty());
  EXPECT_TRUE(parse_maps_config("# nothing mapped yet\n\n", "f").empty());
}

TEST(MapsConfig, ErrorsNameFileAndLine) {
  struct Case {
    const char* text;
    const char* where;  // expected prefix
    const char* what;   // expected part of the message
  };
  const Case cases[] = {
      {"[a]\nurl = \"rdma://h/x\"\nurl = \"rdma://h/y\"\n", "maps.conf:3:", ""},  // TOML: redefined key
      {"[a]\nurl = \"rdma://h/x\n", "maps.conf:2:", ""},                          // TOML: unterminated string
      {"[a]\nurl = \"rdma://h/x\"\n[a]\n", "maps.conf:3:", ""},                   // TOML: table twice
      {"url = \"rdma://h/x\"\n", "maps.conf:1:", "not a table"},
      {"[[a]]\nurl = \"rdma://h/x\"\n", "maps.conf:1:", "not a table"},
      {"[a]\nmode = \"direct\"\n", "maps.conf:1:", "has no url"},
      {"[a]\nurl = 5\n", "maps.conf:2:", "url must be a string"},
      {"[a]\nurl = \"nbd://h/x\"\n", "maps.conf:2:", "rdma://"},
      {"[a]\nurl = \"rdma://h\"\n", "maps.conf:2:", "export name"},
      {"[a]\nurl = \"rdma://h/x?queues=2\"\n", "maps.conf:2:", "?options"},
      {"[a]\nurl = \"rdma://h:99999/x\"\n", "maps.conf:2:", "url"},
      {"[a]\nurl = \"rdma://h/x\"\nmode = \"fast\"\n", "maps.conf:3:", "mode"},
      {"[a]\nurl = \"rdma://h/x\"\nqueues = 0\n", "maps.conf:3:", "queues must be an integer 1..255"},
      {"[a]\nurl = \"rdma://h/x\"\nqueues = 256\n", "maps.conf:3:", "queues"},
      {"[a]\nurl = \"rdma://h/x\"\nqueues = \"4\"\n", "maps.conf:3:", "queues"},
      {"[a]\nurl = \"rdma://h/x\"\nqd = 1024\n", "maps.conf:3:", "qd must be an integer 1..1023"},
      {"[a]\nurl = \"rdma://h/x\"\npoll_queues = 65\n", "maps.conf:3:", "poll_queues must be an integer 0..64"},
      {"[a]\nurl = \"rdma://h/x\"\nhost_id = \"two words\"\n", "maps.conf:3:", "host_id"},
      {"[a]\nurl = \"rdma://h/x\"\nhost_id = \"\"\n", "maps.conf:3:", "host_id"},
      {"[a]\nurl = \"rdma://h/x\"\nsecret_file = \"vol0.secret\"\n", "maps.conf:3:", "absolute"},
      {"[a]\nurl = \"rdma://h/x\"\nreconnect_delay = 0\n", "maps.conf:3:", "reconnect_delay"},
      {"[a]\nurl = \"rdma://h/x\"\nreconnect_delay = 3601\n", "maps.conf:3:", "reconnect_delay"},
      {"[a]\nurl = \"rdma://h/x\"\nctrl_loss_tmo = -2\n", "maps.conf:3:", "ctrl_loss_tmo"},
      {"[a]\nurl = \"rdma://h/x\"\nctrl_loss_tmo = 0\n", "maps.conf:3:", "ctrl_loss_tmo"},
      {"[a]\nurl = \"rdma://h/x\"\nfast_io_fail_tmo = -2\n", "maps.conf:3:", "fast_io_fail_tmo must be an integer -1..3600"},
      {"[a]\nurl = \"rdma://h/x\"\nfast_io_fail_tmo = 3601\n", "maps.conf:3:", "fast_io_fail_tmo"},
      {"[a]\nurl = \"rdma://h/x\"\nio_timeout = 0\n", "maps.conf:3:", "io_timeout must be an integer 1..3600"},
      {"[a]\nurl = \"rdma://h/x\"\nio_timeout = 3601\n", "maps.conf:3:", "io_timeout"},
      {"[a]\nurl = \"rdma://h/x\"\nread_only = \"yes\"\n", "maps.conf:3:", "read_only must be true or false"},
      {"[a]\nurl = \"rdma://h/x\"\n\n\nqueus = 2\n", "maps.conf:5:", "unknown key 'queus'"},
      {"[a]\nurl = \"rdma://h/x\"\n[a.b]\nurl = \"rdma://h/y\"\n", "maps.conf:3:", "unknown key 'b'"},
  };
  for (const auto& c : cases) {
    std::string err = error_of(c.text);
    EXPECT_TRUE(err.starts_with(c.where)) << err << "\nfor:\n" << c.text;
    EXPECT_NE(err.find(c.what), std::string::npos) << err << "\nfor:\n" << c.text;
    EXPECT_EQ(err.find('\n'), std::string::npos) << "more than one line: " << err;
  }
}

TEST(MapsConfig, LoadNamesTheFile) {
  std::string path = ::testing::TempDir() + "maps_config_test.conf";
  {
    std::ofstream out(path);
    out << "[a]\nurl = \"rdma://h/x\"\nqd = 0\n";
  }
  try {
    load_maps_config(path);
    ADD_FAILURE() << "accepted";
  } catch (const MapsConfigError& e) {
    EXPECT_TRUE(std::string(e.what()).starts_with(path + ":3:")) << e.what();
  }
  std::remove(path.c_str());
  try {
    load_maps_config(path);
    ADD_FAILURE() << "read a missing file";
  } catch (const MapsConfigError& e) {
    EXPECT_TRUE(std::string(e.what()).starts_with(path + ": cannot read")) << e.what();
  }
}

}  // namespace
}  // namespace rdmablk::cli
