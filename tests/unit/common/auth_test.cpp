#include "rdmablk/auth.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <system_error>

namespace fs = std::filesystem;

namespace {

std::vector<uint8_t> bytes(std::string_view s) { return {s.begin(), s.end()}; }

std::string hex(std::span<const uint8_t> b) {
  std::string out;
  for (uint8_t c : b) {
    static constexpr char digits[] = "0123456789abcdef";
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

// RFC 4231, test cases 1, 2 and 6 (a key longer than the block size).
TEST(Hmac, Rfc4231) {
  EXPECT_EQ(hex(rdmablk::hmac_sha256(std::vector<uint8_t>(20, 0x0b), bytes("Hi There"))),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  EXPECT_EQ(hex(rdmablk::hmac_sha256(bytes("Jefe"), bytes("what do ya want for nothing?"))),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(hex(rdmablk::hmac_sha256(std::vector<uint8_t>(131, 0xaa),
                                     bytes("Test Using Larger Than Block-Size Key - Hash Key First"))),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(Hmac, EmptyKeyAndData) {
  // Python: hmac.new(b"", b"", hashlib.sha256).hexdigest()
  EXPECT_EQ(hex(rdmablk::hmac_sha256({}, {})), "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

struct LoginFields {
  rdmablk_login_req req{};
  uint8_t nonce[RDMABLK_NONCE_LEN];

  LoginFields() {
    for (size_t i = 0; i < sizeof(nonce); ++i) nonce[i] = static_cast<uint8_t>(i);
    std::memcpy(req.export_name, "vol0", 4);
    std::memcpy(req.host_id, "host-a", 6);
  }
};

TEST(LoginMac, KnownAnswer) {
  // Python: hmac.new(b"s3cret", bytes(range(32)) + b"vol0".ljust(128, b"\0")
  //                  + b"host-a".ljust(64, b"\0"), hashlib.sha256).hexdigest()
  LoginFields f;
  EXPECT_EQ(hex(rdmablk::login_mac("s3cret", f.nonce, f.req.export_name, f.req.host_id)),
            "8d80857b27facb4897b79fa0fede4e4a678073a6f172f909b0111e6a467fcd0d");
}

TEST(LoginMac, IsHmacOfTheConcatenatedFields) {
  LoginFields f;
  std::vector<uint8_t> msg(f.nonce, f.nonce + sizeof(f.nonce));
  msg.insert(msg.end(), f.req.export_name, f.req.export_name + sizeof(f.req.export_name));
  msg.insert(msg.end(), f.req.host_id, f.req.host_id + sizeof(f.req.host_id));
  ASSERT_EQ(msg.size(), 224u);
  EXPECT_EQ(rdmablk::login_mac("key", f.nonce, f.req.export_name, f.req.host_id),
            rdmablk::hmac_sha256(bytes("key"), msg));
}

TEST(LoginMac, EveryInputMatters) {
  LoginFields f;
  auto base = rdmablk::login_mac("key", f.nonce, f.req.export_name, f.req.host_id);
  EXPECT_NE(rdmablk::login_mac("kez", f.nonce, f.req.export_name, f.req.host_id), base);
  f.nonce[31] ^= 1;
  EXPECT_NE(rdmablk::login_mac("key", f.nonce, f.req.export_name, f.req.host_id), base);
  f.nonce[31] ^= 1;
  f.req.export_name[127] = 'x';  // the padding is part of the MAC too
  EXPECT_NE(rdmablk::login_mac("key", f.nonce, f.req.export_name, f.req.host_id), base);
  f.req.export_name[127] = 0;
  f.req.host_id[0] = 'H';
  EXPECT_NE(rdmablk::login_mac("key", f.nonce, f.req.export_name, f.req.host_id), base);
}

TEST(RandomBytes, SizeAndVariety) {
  EXPECT_TRUE(rdmablk::random_bytes(0).empty());
  auto a = rdmablk::random_bytes(RDMABLK_NONCE_LEN);
  auto b = rdmablk::random_bytes(RDMABLK_NONCE_LEN);
  EXPECT_EQ(a.size(), size_t{RDMABLK_NONCE_LEN});
  EXPECT_NE(a, b);  // fails with probability 2^-256
}

TEST(ConstantTimeEqual, Compares) {
  EXPECT_TRUE(rdmablk::constant_time_equal(bytes("abc"), bytes("abc")));
  EXPECT_TRUE(rdmablk::constant_time_equal({}, {}));
  EXPECT_FALSE(rdmablk::constant_time_equal(bytes("abc"), bytes("abd")));
  EXPECT_FALSE(rdmablk::constant_time_equal(bytes("abc"), bytes("ab")));
  EXPECT_FALSE(rdmablk::constant_time_equal(bytes("ab"), bytes("abc")));
}

class SecretFile : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (fs::temp_directory_path() / "rdmablk-auth-XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path write(std::string_view content, mode_t mode = 0600) {
    auto path = dir_ / "secret";
    std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
    ::chmod(path.c_str(), mode);
    return path;
  }

  // The error message of read_secret_file(path), or "" if it succeeded.
  static std::string error(const fs::path& path) {
    try {
      rdmablk::read_secret_file(path);
    } catch (const std::exception& e) {
      return e.what();
    }
    return "";
  }

  fs::path dir_;
};

TEST_F(SecretFile, Reads) {
  EXPECT_EQ(rdmablk::read_secret_file(write("s3cret")), "s3cret");
  EXPECT_EQ(rdmablk::read_secret_file(write("s3cret\n")), "s3cret") << "one newline stripped";
  EXPECT_EQ(rdmablk::read_secret_file(write("s3cret\n\n")), "s3cret\n");
  EXPECT_EQ(rdmablk::read_secret_file(write(std::string("a\0b", 3))), std::string("a\0b", 3)) << "binary";
  EXPECT_EQ(rdmablk::read_secret_file(write(std::string(1024, 'x'))).size(), 1024u);
  EXPECT_EQ(rdmablk::read_secret_file(write("k", 0400)), "k");
}

TEST_F(SecretFile, Refuses) {
  EXPECT_NE(error(write("")).find("empty"), std::string::npos);
  EXPECT_NE(error(write("\n")).find("empty"), std::string::npos);
  EXPECT_NE(error(write(std::string(1025, 'x'))).find("1 KiB"), std::string::npos);
  EXPECT_NE(error(write("k", 0644)).find("0644 are too open"), std::string::npos);
  EXPECT_NE(error(write("k", 0640)).find("too open"), std::string::npos);
  EXPECT_NE(error(write("k", 0604)).find("too open"), std::string::npos);
  EXPECT_NE(error(write("k", 0620)).find("too open"), std::string::npos);
  EXPECT_NE(error(dir_).find("not a regular file"), std::string::npos);
  auto missing = dir_ / "missing";
  EXPECT_THROW(rdmablk::read_secret_file(missing), std::system_error);
  EXPECT_NE(error(missing).find(missing.string()), std::string::npos) << "names the file";
}

TEST_F(SecretFile, RefusesFifoWithoutHanging) {
  auto path = dir_ / "fifo";
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  EXPECT_NE(error(path).find("not a regular file"), std::string::npos);
}

}  // namespace
