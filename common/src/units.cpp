#include "rdmablk/units.hpp"

#include <cctype>
#include <charconv>
#include <iterator>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace rdmablk {

namespace {

uint64_t suffix_multiplier(std::string_view s) {
  if (s.empty() || s == "b" || s == "B") return 1;
  static constexpr std::string_view units = "kmgtp";
  std::string lower(s);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  // Accept "k", "kb", "kib" (all binary: block devices speak powers of two).
  if (lower.size() > 1 && lower.substr(1) != "b" && lower.substr(1) != "ib") return 0;
  auto pos = units.find(lower[0]);
  if (pos == std::string_view::npos) return 0;
  return uint64_t{1} << (10 * (pos + 1));
}

}  // namespace

uint64_t parse_size(std::string_view text) {
  if (text.empty()) throw std::invalid_argument("empty size");
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end == text.data())
    throw std::invalid_argument(fmt::format("bad size '{}'", text));
  std::string_view suffix(end, text.data() + text.size() - end);
  uint64_t mult = suffix_multiplier(suffix);
  if (mult == 0) throw std::invalid_argument(fmt::format("bad size suffix in '{}'", text));
  if (value > UINT64_MAX / mult) throw std::invalid_argument(fmt::format("size '{}' too large", text));
  return value * mult;
}

std::string format_size(uint64_t bytes) {
  static constexpr const char* names[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(bytes);
  size_t i = 0;
  while (v >= 1024.0 && i + 1 < std::size(names)) {
    v /= 1024.0;
    ++i;
  }
  if (i == 0) return fmt::format("{} B", bytes);
  return fmt::format("{:.4g} {}", v, names[i]);
}

}  // namespace rdmablk
