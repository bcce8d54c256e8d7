#include "progress.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdio>

#include <fmt/format.h>

#include "rdmablk/units.hpp"

namespace rdmablk::cli {

namespace {
constexpr auto kRedraw = std::chrono::milliseconds(200);
}

std::string format_duration(double seconds) {
  auto s = static_cast<uint64_t>(std::llround(std::max(0.0, seconds)));
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

std::string format_progress(std::string_view verb, uint64_t done, std::optional<uint64_t> total, double seconds) {
  std::string line = fmt::format("{}  {}", verb, format_size(done));
  if (total) {
    const double pct = *total ? 100.0 * static_cast<double>(done) / static_cast<double>(*total) : 100.0;
    line += fmt::format(" / {}  {:.0f}%", format_size(*total), std::min(pct, 100.0));
  }
  if (seconds > 0 && done > 0) {
    const double rate = static_cast<double>(done) / seconds;
    line += fmt::format("  {}/s", format_size(static_cast<uint64_t>(rate)));
    if (total && *total >= done) line += fmt::format("  ETA {}", format_duration(static_cast<double>(*total - done) / rate));
  }
  return line;
}

Progress::Progress(ProgressMode mode, std::string verb, std::optional<uint64_t> total)
    : shown_(mode == ProgressMode::on || (mode == ProgressMode::automatic && ::isatty(STDERR_FILENO))),
      verb_(std::move(verb)),
      total_(total) {}

Progress::~Progress() {
  if (drawn_ && !finished_) std::fputc('\n', stderr);
}

double Progress::elapsed() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

void Progress::update(uint64_t done) {
  if (!shown_) return;
  auto now = Clock::now();
  if (drawn_ && now - last_draw_ < kRedraw) return;
  last_draw_ = now;
  draw(done);
}

void Progress::finish(uint64_t done) {
  if (!shown_ || finished_) return;
  draw(done);
  std::fputc('\n', stderr);
  finished_ = true;
}

void Progress::draw(uint64_t done) {
  std::string line = format_progress(verb_, done, total_, elapsed());
  // Pad over the tail of a longer previous line.
  const size_t width = line.size();
  if (width < last_width_) line.append(last_width_ - width, ' ');
  last_width_ = width;
  std::fprintf(stderr, "\r%s", line.c_str());
  std::fflush(stderr);
  drawn_ = true;
}

}  // namespace rdmablk::cli
