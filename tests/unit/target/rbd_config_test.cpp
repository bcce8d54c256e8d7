// rbd: export specs and [[export]] tables: good and bad inputs. The
// backend itself needs a cluster: tests/integration/test-rbd.sh.
#include <gtest/gtest.h>

#include "config.hpp"

namespace rdmablk::target {
namespace {

TEST(RbdSpec, PoolAndImage) {
  auto e = parse_export_spec("vol=rbd:pool/img");
  EXPECT_TRUE(e.is_rbd());
  EXPECT_FALSE(e.is_ram());
  EXPECT_TRUE(e.path.empty());
  EXPECT_EQ(e.rbd.pool, "pool");
  EXPECT_EQ(e.rbd.pool_namespace, "");
  EXPECT_EQ(e.rbd.image, "img");
  EXPECT_EQ(e.rbd.conf, "");
  EXPECT_EQ(e.rbd.id, "");
  EXPECT_EQ(e.rbd.timeout, kRbdDefaultTimeout);
  EXPECT_EQ(e.rbd.location(), "pool/img");
  TargetConfig c;
  c.exports.push_back(e);
  EXPECT_NO_THROW(validate(c));
}

TEST(RbdSpec, AllOptions) {
  auto e = parse_export_spec(
      "vol=rbd:pool/ns/img,conf=/c/ceph.conf,id=client.gw1,keyring=/k/gw1.keyring,timeout=7,ro,"
      "allow=10.0.0.0/8,desc=rbd, gateway 1");
  EXPECT_EQ(e.rbd.pool, "pool");
  EXPECT_EQ(e.rbd.pool_namespace, "ns");
  EXPECT_EQ(e.rbd.image, "img");
  EXPECT_EQ(e.rbd.location(), "pool/ns/img");
  EXPECT_EQ(e.rbd.conf, "/c/ceph.conf");
  EXPECT_EQ(e.rbd.id, "gw1");  // "client." is dropped
  EXPECT_EQ(e.rbd.keyring, "/k/gw1.keyring");
  EXPECT_EQ(e.rbd.timeout, 7u);
  EXPECT_TRUE(e.read_only);
  EXPECT_EQ(e.description, "rbd, gateway 1");
}

TEST(RbdSpec, Rejects) {
  for (const char* bad :
       {"x=rbd:", "x=rbd:pool", "x=rbd:/img", "x=rbd:pool/", "x=rbd:a/b/c/d", "x=rbd:pool/img@snap",
        "x=rbd:pool//img", "x=rbd:pool/img,conf=", "x=rbd:pool/img,id=", "x=rbd:pool/img,keyring=",
        "x=rbd:pool/img,timeout=0", "x=rbd:pool/img,timeout=3601", "x=rbd:pool/img,timeout=1s",
        "x=rbd:pool/img,timeout=", "x=rbd:pool/img,conf", "x=rbd:pool/img,bogus=1",
        // RBD options on other backends
        "x=ram:1M,conf=/c", "x=/disk.img,id=gw", "x=ram:1M,timeout=5"}) {
    EXPECT_THROW(parse_export_spec(bad), ConfigError) << bad;
  }
}

TEST(RbdSpec, MmapRefused) {
  TargetConfig c;
  c.exports.push_back(parse_export_spec("x=rbd:p/i,ro,mmap"));
  EXPECT_THROW(validate(c), ConfigError);
}

TEST(RbdToml, Table) {
  auto c = parse_config_toml(R"(
[[export]]
name = "vol"
rbd = "pool/img"
conf = "/c/ceph.conf"
id = "gw1"
keyring = "/k"
timeout = 9
read_only = true
)",
                             "t.toml");
  ASSERT_EQ(c.exports.size(), 1u);
  const auto& e = c.exports[0];
  EXPECT_TRUE(e.is_rbd());
  EXPECT_EQ(e.rbd.location(), "pool/img");
  EXPECT_EQ(e.rbd.conf, "/c/ceph.conf");
  EXPECT_EQ(e.rbd.id, "gw1");
  EXPECT_EQ(e.rbd.keyring, "/k");
  EXPECT_EQ(e.rbd.timeout, 9u);
  EXPECT_TRUE(e.read_only);
  EXPECT_NO_THROW(validate(c));
}

TEST(RbdToml, Rejects) {
  for (const char* bad : {
           "[[export]]\nname = \"v\"\nrbd = \"pool\"\n",
           "[[export]]\nname = \"v\"\nrbd = 5\n",
           "[[export]]\nname = \"v\"\nrbd = \"p/i\"\npath = \"/x\"\n",
           "[[export]]\nname = \"v\"\nrbd = \"p/i\"\nram = \"1M\"\n",
           "[[export]]\nname = \"v\"\nrbd = \"p/i\"\ntimeout = \"5\"\n",
           "[[export]]\nname = \"v\"\nrbd = \"p/i\"\ntimeout = 0\n",
           "[[export]]\nname = \"v\"\nrbd = \"p/i\"\nconf = \"\"\n",
           "[[export]]\nname = \"v\"\npath = \"/x\"\nkeyring = \"/k\"\n",
           "[[export]]\nname = \"v\"\nram = \"1M\"\ntimeout = 5\n",
       }) {
    EXPECT_THROW(parse_config_toml(bad, "t"), ConfigError) << bad;
  }
}

}  // namespace
}  // namespace rdmablk::target
