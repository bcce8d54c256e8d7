#include <cstdlib>
#include <new>

#include <unistd.h>

#include "rdmablk/client.hpp"

namespace rdmablk {

Buffer::Buffer(size_t size) : size_(size) {
  if (size == 0) return;
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  void* p = nullptr;
  if (posix_memalign(&p, page, size) != 0) throw std::bad_alloc();
  data_.reset(static_cast<std::byte*>(p));
}

void Buffer::Free::operator()(std::byte* p) const noexcept { std::free(p); }

}  // namespace rdmablk
