// nbd-check URL: a program built against the installed librdmablk-dev
// (pkg-config rdmablk) by tests/packaging/test-packages.sh. Opens URL,
// writes a pattern over the first MiB of the export (or the whole export if
// smaller) in 64 KiB requests, reads it back and compares every byte.
#include <rdmablk/client.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <exception>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: nbd-check nbd://host:port/export\n");
    return 2;
  }
  try {
    auto client = rdmablk::Client::open(argv[1]);
    const uint64_t size = std::min<uint64_t>(client->info().size, 1u << 20);
    const size_t chunk = 64 << 10;
    std::vector<std::byte> out(size), in(size);
    for (uint64_t i = 0; i < size; i++)
      out[i] = std::byte((i * 131 + (i >> 12)) & 0xff);
    for (uint64_t off = 0; off < size; off += chunk) {
      const size_t n = std::min<uint64_t>(chunk, size - off);
      if (auto ec = client->write_sync(off, std::span(out).subspan(off, n))) {
        std::fprintf(stderr, "write at %llu: %s\n", (unsigned long long)off, ec.message().c_str());
        return 1;
      }
    }
    if (auto ec = client->flush_sync(); ec && ec != std::errc::operation_not_supported) {
      std::fprintf(stderr, "flush: %s\n", ec.message().c_str());
      return 1;
    }
    for (uint64_t off = 0; off < size; off += chunk) {
      const size_t n = std::min<uint64_t>(chunk, size - off);
      if (auto ec = client->read_sync(off, std::span(in).subspan(off, n))) {
        std::fprintf(stderr, "read at %llu: %s\n", (unsigned long long)off, ec.message().c_str());
        return 1;
      }
    }
    if (std::memcmp(out.data(), in.data(), size) != 0) {
      std::fprintf(stderr, "data read back differs from data written\n");
      return 1;
    }
    std::printf("nbd-check: %llu bytes written and read back, identical\n", (unsigned long long)size);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "nbd-check: %s\n", e.what());
    return 1;
  }
}
