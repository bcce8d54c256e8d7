// The get/put progress line: figures, unknown totals, durations, and that
// it stays silent unless asked for or on a terminal.
#include <gtest/gtest.h>

#include <unistd.h>

#include "progress.hpp"

namespace rdmablk::cli {
namespace {

TEST(Progress, LineWithTotal) {
  // 1 GiB of 4 GiB in 2 s: 512 MiB/s, 3 GiB left = 6 s.
  EXPECT_EQ(format_progress("put", 1ull << 30, 4ull << 30, 2.0), "put  1 GiB / 4 GiB  25%  512 MiB/s  ETA 0:06");
}

TEST(Progress, LineWithoutTotalOrTime) {
  EXPECT_EQ(format_progress("put", 3ull << 20, std::nullopt, 1.0), "put  3 MiB  3 MiB/s");
  EXPECT_EQ(format_progress("get", 0, 1ull << 20, 0.0), "get  0 B / 1 MiB  0%");
  EXPECT_EQ(format_progress("get", 0, 0, 0.0), "get  0 B / 0 B  100%");
}

TEST(Progress, Durations) {
  EXPECT_EQ(format_duration(0), "0:00");
  EXPECT_EQ(format_duration(7.4), "0:07");
  EXPECT_EQ(format_duration(754), "12:34");
  EXPECT_EQ(format_duration(3723), "1:02:03");
  EXPECT_EQ(format_duration(-5), "0:00");
}

TEST(Progress, ShownOnlyWhenAsked) {
  Progress off(ProgressMode::off, "get", 100);
  EXPECT_FALSE(off.shown());
  Progress on(ProgressMode::on, "get", 100);
  EXPECT_TRUE(on.shown());
  // Under ctest stderr is a file or pipe: automatic stays quiet.
  if (!::isatty(2)) {
    Progress autom(ProgressMode::automatic, "get", 100);
    EXPECT_FALSE(autom.shown());
  }
}

}  // namespace
}  // namespace rdmablk::cli
