// Export specs, TOML config files and allow lists: good and bad inputs.
#include <gtest/gtest.h>

#include <boost/asio/ip/address.hpp>

#include "allow.hpp"
#include "config.hpp"

namespace rdmablk::target {
namespace {

using boost::asio::ip::make_address;

TEST(ExportSpec, RamWithOptions) {
  auto e = parse_export_spec("scratch=ram:1G,ro,bs=4096,allow=10.0.0.0/8,allow=host:abc,secret=/k,desc=a, b");
  EXPECT_EQ(e.name, "scratch");
  EXPECT_EQ(e.ram_size, uint64_t{1} << 30);
  EXPECT_TRUE(e.path.empty());
  EXPECT_TRUE(e.read_only);
  EXPECT_EQ(e.block_size, 4096u);
  EXPECT_EQ(e.allow, (std::vector<std::string>{"10.0.0.0/8", "host:abc"}));
  EXPECT_EQ(e.secret_file, "/k");
  EXPECT_EQ(e.description, "a, b");  // desc= takes the rest
}

TEST(ExportSpec, PathBackend) {
  auto e = parse_export_spec("vol0=/path/disk=1.img");
  EXPECT_EQ(e.name, "vol0");
  EXPECT_EQ(e.path, "/path/disk=1.img");
  EXPECT_FALSE(e.is_ram());
  EXPECT_FALSE(e.read_only);
  EXPECT_EQ(e.block_size, 0u);
}

TEST(ExportSpec, Rejects) {
  for (const char* bad : {"novalue", "=ram:1G", "a/b=ram:1G", "x=", "x=ram:", "x=ram:0", "x=ram:12Q",
                          "x=ram:1G,bs=1000", "x=ram:1G,bs=256", "x=ram:1G,bs=8192", "x=ram:1G,bs=",
                          "x=ram:1G,ro=1", "x=ram:1G,allow=300.1.1.1", "x=ram:1G,allow=10.0.0.0/33",
                          "x=ram:1G,allow=host:", "x=ram:1G,secret=", "x=ram:1G,bogus"}) {
    EXPECT_THROW(parse_export_spec(bad), ConfigError) << bad;
  }
}

TEST(ExportSpec, ErrorNamesTheProblem) {
  try {
    parse_export_spec("x=ram:1G,bs=1000");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("1000"), std::string::npos) << e.what();
  }
}

TEST(ConfigToml, FullFile) {
  auto c = parse_config_toml(R"(
[target]
listen = "127.0.0.1"
nbd_port = 0
rdma_port = -1
threads = 2

[[export]]
name = "vol0"
path = "/dev/sdb"
read_only = true
block_size = 4096
allow = ["192.168.0.0/16", "host:node1"]
secret_file = "/etc/rdmablk/vol0.key"
description = "fast disk"

[[export]]
name = "scratch"
ram = "64M"
)",
                             "test.toml");
  EXPECT_EQ(c.listen, "127.0.0.1");
  EXPECT_EQ(c.nbd_port, 0);
  EXPECT_EQ(c.rdma_port, kPortDisabled);
  EXPECT_EQ(c.threads, 2u);
  ASSERT_EQ(c.exports.size(), 2u);
  EXPECT_EQ(c.exports[0].path, "/dev/sdb");
  EXPECT_TRUE(c.exports[0].read_only);
  EXPECT_EQ(c.exports[0].block_size, 4096u);
  EXPECT_EQ(c.exports[0].allow.size(), 2u);
  EXPECT_EQ(c.exports[0].secret_file, "/etc/rdmablk/vol0.key");
  EXPECT_EQ(c.exports[0].description, "fast disk");
  EXPECT_EQ(c.exports[1].ram_size, 64u << 20);
  EXPECT_NO_THROW(validate(c));
}

TEST(ConfigToml, RamAsInteger) {
  auto c = parse_config_toml("[[export]]\nname = \"r\"\nram = 1048576\n", "t");
  EXPECT_EQ(c.exports.at(0).ram_size, 1048576u);
}

TEST(ConfigToml, Rejects) {
  for (const char* bad : {
           "[target\n",                                              // syntax
           "[target]\nthreads = 0\n",                                // range
           "[target]\nnbd_port = 70000\n",                           // range
           "[target]\nnbd_port = \"x\"\n",                           // type
           "[target]\nlisten_on = \"::\"\n",                         // unknown key
           "[[export]]\npath = \"/x\"\n",                            // no name
           "[[export]]\nname = \"a\"\n",                             // no backend
           "[[export]]\nname = \"a\"\npath = \"/x\"\nram = \"1M\"\n",  // both
           "[[export]]\nname = \"a\"\nram = \"1M\"\nblock_size = 1000\n",
           "[[export]]\nname = \"a\"\nram = \"1M\"\nallow = \"10.0.0.1\"\n",
           "[[export]]\nname = \"a\"\nram = \"1M\"\nread_only = \"yes\"\n",
           "[[export]]\nname = \"a\"\nram = \"1M\"\ncolor = 1\n",
           "[[export]]\nname = \"a\"\nram = \"1M\"\n[[export]]\nname = \"a\"\nram = \"2M\"\n",
           "export = 1\n",
           "unknown = 1\n",
       }) {
    EXPECT_THROW(parse_config_toml(bad, "t"), ConfigError) << bad;
  }
}

TEST(Config, CommandLineExportReplacesFileExport) {
  auto c = parse_config_toml("[[export]]\nname = \"a\"\nram = \"1M\"\n", "t");
  add_or_replace_export(c, parse_export_spec("a=ram:2M"));
  add_or_replace_export(c, parse_export_spec("b=ram:1M"));
  ASSERT_EQ(c.exports.size(), 2u);
  EXPECT_EQ(c.exports[0].ram_size, 2u << 20);
  EXPECT_EQ(c.exports[1].name, "b");
}

TEST(Config, Validate) {
  TargetConfig c;
  EXPECT_THROW(validate(c), ConfigError);  // no exports
  c.exports.push_back(parse_export_spec("a=ram:1M"));
  EXPECT_NO_THROW(validate(c));
  c.threads = 0;
  EXPECT_THROW(validate(c), ConfigError);
  c.threads = 1;
  c.nbd_port = kPortDisabled;
  c.rdma_port = kPortDisabled;
  EXPECT_THROW(validate(c), ConfigError);
  c.nbd_port = 0;
  c.exports.push_back(parse_export_spec("b=ram:1000"));  // not a multiple of 512
  EXPECT_THROW(validate(c), ConfigError);
}

TEST(Allow, NetworksAndHosts) {
  AllowList list({"10.0.0.0/8", "192.168.1.5", "fd00::/16", "host:node1"});
  EXPECT_TRUE(list.allows(make_address("10.1.2.3")));
  EXPECT_TRUE(list.allows(make_address("::ffff:10.9.9.9")));  // dual-stack peer
  EXPECT_TRUE(list.allows(make_address("192.168.1.5")));
  EXPECT_FALSE(list.allows(make_address("192.168.1.6")));
  EXPECT_TRUE(list.allows(make_address("fd00:1::1")));
  EXPECT_FALSE(list.allows(make_address("fd01::1")));
  EXPECT_FALSE(list.allows(make_address("11.0.0.1")));
  EXPECT_TRUE(list.allows(make_address("11.0.0.1"), "node1"));
  EXPECT_FALSE(list.allows(make_address("11.0.0.1"), "node2"));
}

TEST(Allow, EmptyAllowsEveryone) {
  AllowList list;
  EXPECT_TRUE(list.allows(make_address("203.0.113.1")));
}

TEST(Allow, HostBitsAreIgnored) {
  EXPECT_EQ(AllowRule::parse("10.1.2.3/8").to_string(), "10.0.0.0/8");
  EXPECT_EQ(AllowRule::parse("::ffff:10.1.2.3/104").to_string(), "10.0.0.0/8");
  EXPECT_TRUE(AllowRule::parse("0.0.0.0/0").matches(make_address("1.2.3.4"), std::nullopt));
}

TEST(Config, MmapOnlyForReadOnlyFiles) {
  EXPECT_TRUE(parse_export_spec("f=/srv/f.img,ro,mmap").mmap);
  EXPECT_FALSE(parse_export_spec("f=/srv/f.img,ro").mmap);
  EXPECT_THROW(parse_export_spec("f=/srv/f.img,mmap=1"), ConfigError);
  for (const char* bad : {"f=/srv/f.img,mmap", "r=ram:1M,ro,mmap"}) {
    TargetConfig c;
    c.exports.push_back(parse_export_spec(bad));
    EXPECT_THROW(validate(c), ConfigError) << bad;
  }
  TargetConfig ok;
  ok.exports.push_back(parse_export_spec("f=/srv/f.img,ro,mmap"));
  EXPECT_NO_THROW(validate(ok));
}

TEST(Config, SerialIsTheDisksIdentity) {
  EXPECT_EQ(parse_export_spec("f=/srv/f.img,serial=shared-f.1:A_b").serial, "shared-f.1:A_b");
  EXPECT_EQ(parse_export_spec("f=/srv/f.img").serial, "");
  EXPECT_EQ(parse_export_spec(std::string("f=/srv/f.img,serial=") + std::string(32, 'x')).serial.size(), 32u);
  for (const std::string& bad : std::vector<std::string>{"f=/srv/f.img,serial=", "f=/srv/f.img,serial", "f=/srv/f.img,serial=a b",
                          "f=/srv/f.img,serial=a/b", "f=/srv/f.img,serial=" + std::string(33, 'x')}) {
    std::string what;
    try {
      parse_export_spec(bad);
    } catch (const ConfigError& e) {
      what = e.what();
    }
    EXPECT_NE(what.find("'f'"), std::string::npos) << bad << ": " << what;  // names the export
  }
  auto c = parse_config_toml("[[export]]\nname = \"f\"\npath = \"/x\"\nserial = \"disk-7\"\n", "t");
  EXPECT_EQ(c.exports.at(0).serial, "disk-7");
  EXPECT_THROW(parse_config_toml("[[export]]\nname = \"f\"\npath = \"/x\"\nserial = \"a b\"\n", "t"),
               ConfigError);
  EXPECT_THROW(parse_config_toml("[[export]]\nname = \"f\"\npath = \"/x\"\nserial = 7\n", "t"), ConfigError);
}

}  // namespace
}  // namespace rdmablk::target
