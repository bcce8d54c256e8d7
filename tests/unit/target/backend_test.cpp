// RAM and file backends through the real IoEngine (io_uring and the
// thread-pool fallback), and Export's request validation.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include "buffer_pool.hpp"
#include "export.hpp"
#include "file_backend.hpp"
#include "io_engine.hpp"
#include "ram_backend.hpp"

namespace rdmablk::target {
namespace {

namespace asio = boost::asio;

struct TestIo final : Io {
  bool done = false;
  int error = -1;
  void complete(int e) override {
    done = true;
    error = e;
  }
};

class BackendTest : public ::testing::TestWithParam<bool> {
 protected:
  BackendTest() : engine_(ctx_, pool_, GetParam()) {}

  // Submits one request and runs the loop until it completes; the error.
  int run(Backend& b, IoOp op, uint64_t offset, uint32_t length, std::byte* data = nullptr,
          bool fua = false, bool may_unmap = true) {
    TestIo io;
    io.op = op;
    io.offset = offset;
    io.length = length;
    io.data = data;
    io.fua = fua;
    io.may_unmap = may_unmap;
    b.submit(engine_, io);
    while (!io.done) ctx_.run_one();
    return io.error;
  }

  void write_pattern(Backend& b, uint64_t offset, uint32_t length, int seed) {
    auto buf = pool_bufs_.get(length);
    for (uint32_t i = 0; i < length; ++i) buf.data()[i] = static_cast<std::byte>((i * 7 + seed) & 0xff);
    ASSERT_EQ(run(b, IoOp::write, offset, length, buf.data()), 0);
  }

  std::vector<std::byte> read_back(Backend& b, uint64_t offset, uint32_t length) {
    auto buf = pool_bufs_.get(length);
    EXPECT_EQ(run(b, IoOp::read, offset, length, buf.data()), 0);
    return {buf.data(), buf.data() + length};
  }

  static bool is_pattern(const std::vector<std::byte>& v, int seed) {
    for (size_t i = 0; i < v.size(); ++i)
      if (v[i] != static_cast<std::byte>((i * 7 + seed) & 0xff)) return false;
    return true;
  }
  static bool is_zero(const std::vector<std::byte>& v) {
    for (auto b : v)
      if (b != std::byte{0}) return false;
    return true;
  }

  // Exercises one backend: aligned and unaligned transfers, flush, discard,
  // write zeroes (with and without NO_HOLE), FUA.
  void exercise(Backend& b) {
    write_pattern(b, 0, 64 * 1024, 1);
    EXPECT_TRUE(is_pattern(read_back(b, 0, 64 * 1024), 1));
    write_pattern(b, 4097, 3000, 2);  // unaligned: buffered path for files
    EXPECT_TRUE(is_pattern(read_back(b, 4097, 3000), 2));
    write_pattern(b, 8192, 4096, 3);
    EXPECT_EQ(run(b, IoOp::flush, 0, 0), 0);
    write_pattern(b, 12288, 4096, 4);
    auto buf = pool_bufs_.get(4096);
    EXPECT_EQ(run(b, IoOp::write, 16384, 4096, buf.data(), /*fua=*/true), 0);

    EXPECT_EQ(run(b, IoOp::write_zeroes, 8192, 4096), 0);
    EXPECT_TRUE(is_zero(read_back(b, 8192, 4096)));
    EXPECT_EQ(run(b, IoOp::write_zeroes, 12288, 4096, nullptr, true, /*may_unmap=*/false), 0);
    EXPECT_TRUE(is_zero(read_back(b, 12288, 4096)));
    EXPECT_EQ(run(b, IoOp::write_zeroes, 100, 50), 0);  // sub-block
    auto head = read_back(b, 0, 200);
    EXPECT_TRUE(is_zero({head.begin() + 100, head.begin() + 150}));
    EXPECT_EQ(head[99], static_cast<std::byte>((99 * 7 + 1) & 0xff));
    EXPECT_EQ(head[150], static_cast<std::byte>((150 * 7 + 1) & 0xff));

    EXPECT_EQ(run(b, IoOp::discard, 32768, 32768), 0);
    // The last byte of the export is reachable, nothing beyond is touched.
    write_pattern(b, b.size() - 512, 512, 5);
    EXPECT_TRUE(is_pattern(read_back(b, b.size() - 512, 512), 5));
    EXPECT_EQ(run(b, IoOp::read, 0, 0, buf.data()), 0);  // zero length
    EXPECT_EQ(b.sync(), 0);
  }

  asio::io_context ctx_;
  // As a worker does: keeps ctx_ from stopping between requests.
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(ctx_);
  asio::thread_pool pool_{2};
  IoEngine engine_;
  BufferPool pool_bufs_;
};

TEST_P(BackendTest, Ram) {
  RamBackend ram(1 << 20, 512);
  EXPECT_EQ(ram.size(), 1u << 20);
  EXPECT_EQ(ram.region().size(), 1u << 20);
  exercise(ram);
  // Discarded pages read back as zeroes.
  EXPECT_TRUE(is_zero(read_back(ram, 32768, 32768)));
}

class TempFile {
 public:
  explicit TempFile(uint64_t size) {
    char name[] = "/tmp/rdmablk-backend-XXXXXX";
    int fd = ::mkstemp(name);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(::ftruncate(fd, static_cast<off_t>(size)), 0);
    ::close(fd);
    path_ = name;
  }
  ~TempFile() { std::filesystem::remove(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST_P(BackendTest, File) {
  TempFile file(1 << 20);
  FileBackend fb(file.path(), false);
  EXPECT_FALSE(fb.is_block_device());
  EXPECT_EQ(fb.size(), 1u << 20);
  EXPECT_EQ(fb.block_size(), 512u);
  exercise(fb);
  // The file kept its size (KEEP_SIZE on hole punching).
  EXPECT_EQ(std::filesystem::file_size(file.path()), 1u << 20);
}

TEST_P(BackendTest, FileOddSize) {
  TempFile file(1000);
  FileBackend fb(file.path(), false);
  EXPECT_EQ(fb.size(), 1000u);
  write_pattern(fb, 900, 100, 9);
  EXPECT_TRUE(is_pattern(read_back(fb, 900, 100), 9));
}

TEST_P(BackendTest, ReadOnlyFileRefusesWrites) {
  TempFile file(8192);
  FileBackend fb(file.path(), true);
  auto buf = pool_bufs_.get(4096);
  EXPECT_NE(run(fb, IoOp::write, 0, 4096, buf.data()), 0);  // EBADF from the kernel
}

TEST_P(BackendTest, MappedReadOnlyFileHasItsBytesAsRegion) {
  TempFile file(16384);
  {
    FileBackend w(file.path(), false);
    write_pattern(w, 0, 16384, 6);
    ASSERT_EQ(w.sync(), 0);
  }
  FileBackend fb(file.path(), true, /*map=*/true);
  auto region = fb.region();
  ASSERT_EQ(region.size(), 16384u);
  EXPECT_TRUE(is_pattern({region.begin(), region.end()}, 6));
  EXPECT_TRUE(is_pattern(read_back(fb, 0, 16384), 6));
  FileBackend unmapped(file.path(), true);
  EXPECT_TRUE(unmapped.region().empty());
  EXPECT_THROW(FileBackend(file.path(), false, /*map=*/true), std::system_error);
}

INSTANTIATE_TEST_SUITE_P(Engines, BackendTest, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "io_uring" : "threads"; });

TEST(FileBackendOpen, Errors) {
  EXPECT_THROW(FileBackend("/nonexistent/disk.img", false), std::system_error);
  EXPECT_THROW(FileBackend("/tmp", false), std::system_error);  // a directory
  TempFile empty(0);
  EXPECT_THROW(FileBackend(empty.path(), false), std::system_error);
}

TEST(ExportCheck, Bounds) {
  ExportConfig c = parse_export_spec("e=ram:1M");
  Export e(c, std::make_unique<RamBackend>(1 << 20, 512));
  const uint64_t size = 1 << 20;
  EXPECT_EQ(e.check(IoOp::read, 0, size), RDMABLK_S_SUCCESS);
  EXPECT_EQ(e.check(IoOp::read, size, 0), RDMABLK_S_SUCCESS);
  EXPECT_EQ(e.check(IoOp::read, size - 1, 2), RDMABLK_S_OUT_OF_RANGE);
  EXPECT_EQ(e.check(IoOp::write, UINT64_MAX, 2), RDMABLK_S_OUT_OF_RANGE);  // no overflow
  EXPECT_EQ(e.check(IoOp::discard, size + 1, 0), RDMABLK_S_OUT_OF_RANGE);
  EXPECT_EQ(e.check(IoOp::flush, UINT64_MAX, UINT32_MAX), RDMABLK_S_SUCCESS);
}

TEST(ExportCheck, TooLarge) {
  ExportConfig c = parse_export_spec("e=ram:64M");
  Export e(c, std::make_unique<RamBackend>(64 << 20, 512));
  EXPECT_EQ(e.check(IoOp::read, 0, kMaxIoSize), RDMABLK_S_SUCCESS);
  EXPECT_EQ(e.check(IoOp::read, 0, kMaxIoSize + 1), RDMABLK_S_TOO_LARGE);
  EXPECT_EQ(e.check(IoOp::write_zeroes, 0, kMaxIoSize + 1), RDMABLK_S_SUCCESS);  // no payload
}

TEST(ExportCheck, ReadOnly) {
  ExportConfig c = parse_export_spec("e=ram:1M,ro,bs=4096");
  Export e(c, std::make_unique<RamBackend>(1 << 20, 4096));
  EXPECT_EQ(e.block_size(), 4096u);
  EXPECT_EQ(e.check(IoOp::read, 0, 4096), RDMABLK_S_SUCCESS);
  EXPECT_EQ(e.check(IoOp::flush, 0, 0), RDMABLK_S_SUCCESS);
  for (IoOp op : {IoOp::write, IoOp::discard, IoOp::write_zeroes})
    EXPECT_EQ(e.check(op, 0, 4096), RDMABLK_S_READ_ONLY);
}

TEST(BufferPool, RecyclesAndAligns) {
  BufferPool pool;
  std::byte* first;
  {
    auto b = pool.get(5000);
    EXPECT_EQ(b.capacity(), 8192u);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % 4096, 0u);
    first = b.data();
  }
  auto again = pool.get(8000);
  EXPECT_EQ(again.data(), first);
  EXPECT_THROW(pool.get((32u << 20) + 1), std::bad_alloc);
}

}  // namespace
}  // namespace rdmablk::target
