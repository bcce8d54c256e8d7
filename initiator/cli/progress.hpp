#pragma once
// The progress line of `rdmablk get` and `put` on stderr:
//   "put  1.5 GiB / 4 GiB  37%  812 MiB/s  ETA 0:03"
// redrawn in place (carriage return) at most five times a second, and
// ended with a newline. By default only when stderr is a terminal, so logs
// and pipes stay clean; --progress forces it, --no-progress silences it.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rdmablk::cli {

enum class ProgressMode { automatic, on, off };

// One line, without the carriage return. `total` unknown (a pipe): no
// percentage and no ETA. Rate and ETA need `seconds` > 0 and bytes done.
std::string format_progress(std::string_view verb, uint64_t done, std::optional<uint64_t> total, double seconds);

// "0:07", "12:34", "1:02:03".
std::string format_duration(double seconds);

class Progress {
 public:
  using Clock = std::chrono::steady_clock;

  Progress(ProgressMode mode, std::string verb, std::optional<uint64_t> total);
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  ~Progress();  // ends a drawn line, so an error message starts on its own

  bool shown() const { return shown_; }
  // Bytes done so far; draws if 200 ms passed since the last draw.
  void update(uint64_t done);
  // The final figures, drawn whatever the time, then a newline.
  void finish(uint64_t done);
  double elapsed() const;

 private:
  void draw(uint64_t done);

  bool shown_;
  std::string verb_;
  std::optional<uint64_t> total_;
  Clock::time_point start_ = Clock::now();
  Clock::time_point last_draw_{};
  size_t last_width_ = 0;
  bool drawn_ = false;
  bool finished_ = false;
};

}  // namespace rdmablk::cli
