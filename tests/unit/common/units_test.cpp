#include "rdmablk/units.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <stdexcept>

using rdmablk::format_size;
using rdmablk::parse_size;

namespace {

TEST(ParseSize, Bytes) {
  EXPECT_EQ(parse_size("0"), 0u);
  EXPECT_EQ(parse_size("512"), 512u);
  EXPECT_EQ(parse_size("512b"), 512u);
  EXPECT_EQ(parse_size("512B"), 512u);
  EXPECT_EQ(parse_size("18446744073709551615"), UINT64_MAX);
}

TEST(ParseSize, BinarySuffixes) {
  EXPECT_EQ(parse_size("4k"), 4096u);
  EXPECT_EQ(parse_size("4K"), 4096u);
  EXPECT_EQ(parse_size("4kb"), 4096u);
  EXPECT_EQ(parse_size("4KiB"), 4096u);
  EXPECT_EQ(parse_size("1M"), 1u << 20);
  EXPECT_EQ(parse_size("1mib"), 1u << 20);
  EXPECT_EQ(parse_size("2GiB"), uint64_t{2} << 30);
  EXPECT_EQ(parse_size("3T"), uint64_t{3} << 40);
  EXPECT_EQ(parse_size("1p"), uint64_t{1} << 50);
  EXPECT_EQ(parse_size("16383P"), uint64_t{16383} << 50);
}

TEST(ParseSize, Rejects) {
  for (const char* bad : {"", "k", "-1", "+1", " 1", "1 ", "1.5G", "0x10", "1x", "1kk", "1kib2", "1ib", "1e",
                          "18446744073709551616", "16384P", "99999999999T"}) {
    EXPECT_THROW(parse_size(bad), std::invalid_argument) << bad;
  }
}

TEST(FormatSize, Human) {
  EXPECT_EQ(format_size(0), "0 B");
  EXPECT_EQ(format_size(1023), "1023 B");
  EXPECT_EQ(format_size(4096), "4 KiB");
  EXPECT_EQ(format_size(1536), "1.5 KiB");
  EXPECT_EQ(format_size(uint64_t{1} << 30), "1 GiB");
  EXPECT_EQ(format_size(uint64_t{3} << 40), "3 TiB");
  EXPECT_EQ(format_size(UINT64_MAX), "16 EiB");
}

}  // namespace
