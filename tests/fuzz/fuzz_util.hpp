#pragma once
// Helpers shared by the fuzz targets: reading structured values off the
// fuzzer's bytes, an invariant check that aborts (libFuzzer records the
// input as a crash), and the export tables the targets judge against.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "export.hpp"
#include "ram_backend.hpp"

// Not assert(): it must hold in every build type.
#define FUZZ_CHECK(cond)                                                                  \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      std::fprintf(stderr, "invariant violated: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                       \
    }                                                                                     \
  } while (0)

namespace rdmablk::fuzz {

// Consumes the input front to back; past the end it yields zeros.
class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  size_t left() const { return size_ - at_; }
  uint8_t byte() { return at_ < size_ ? data_[at_++] : 0; }
  template <typename T>
  T value() {
    T v{};
    take(&v, sizeof v);
    return v;
  }
  // Copies up to `len` bytes into `dest`, zero-filling what is missing.
  void take(void* dest, size_t len) {
    size_t n = std::min(len, left());
    if (n) std::memcpy(dest, data_ + at_, n);
    std::memset(static_cast<uint8_t*>(dest) + n, 0, len - n);
    at_ += n;
  }
  // The next `len` bytes (fewer at the end) as an exactly sized copy, so
  // that ASan sees any read past them.
  std::vector<uint8_t> bytes(size_t len) {
    size_t n = std::min(len, left());
    std::vector<uint8_t> out(data_ + at_, data_ + at_ + n);
    at_ += n;
    return out;
  }
  std::vector<uint8_t> rest() { return bytes(left()); }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t at_ = 0;
};

inline void quiet_logs() { spdlog::set_level(spdlog::level::off); }

// A RAM export as `--export` would give it (the spec is not validated, so
// sizes that are no multiple of the block size can be tested too).
inline std::unique_ptr<target::Export> ram_export(const std::string& spec, uint64_t size = 0) {
  target::ExportConfig c = target::parse_export_spec(spec);
  if (size) c.ram_size = size;
  uint32_t bs = c.block_size ? c.block_size : 512;
  return std::make_unique<target::Export>(c, std::make_unique<target::RamBackend>(c.ram_size, bs));
}

// The exports every target that needs some judges against: open, 4K
// blocks, read-only, address- and host-restricted, secret-protected, and
// one whose size is not a multiple of its block size.
inline const target::ExportTable& exports() {
  static const target::ExportTable table = [] {
    std::vector<std::unique_ptr<target::Export>> v;
    v.push_back(ram_export("vol=ram:1M,desc=open to all"));
    v.push_back(ram_export("big4k=ram:4M,bs=4096"));
    v.push_back(ram_export("rom=ram:1M,ro"));
    v.push_back(ram_export("net=ram:1M,allow=10.0.0.0/8"));
    v.push_back(ram_export("byhost=ram:1M,allow=host:alice"));
    v.push_back(ram_export("locked=ram:1M,secret=/nonexistent"));
    v.push_back(ram_export("odd=ram:1M,bs=4096", (1 << 20) + 1000));
    return target::ExportTable(std::move(v));
  }();
  return table;
}

// The LLVMFuzzerInitialize of the targets that use exports(): logs off,
// the table built once before the first input.
inline int init_with_exports() {
  quiet_logs();
  exports();
  return 0;
}

// The secret of "locked" (the login target's secret callback hands it out).
inline const std::string kSecret = "fuzz-secret";

}  // namespace rdmablk::fuzz
