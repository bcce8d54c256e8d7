#include "rdmablk/auth.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <system_error>

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

namespace rdmablk {

namespace {

constexpr size_t kMaxSecretSize = 1024;

[[noreturn]] void secret_error(const std::filesystem::path& path, std::string_view what) {
  throw std::runtime_error(fmt::format("secret file {}: {}", path.string(), what));
}

}  // namespace

std::string read_secret_file(const std::filesystem::path& path) {
  auto os_error = [&](int err) {
    return std::system_error(err, std::generic_category(), "secret file " + path.string());
  };
  // O_NONBLOCK so that a FIFO is refused below instead of hanging here.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) throw os_error(errno);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};

  // Check the file we opened, not the path, so it cannot be swapped between.
  struct stat st {};
  if (::fstat(fd, &st) < 0) throw os_error(errno);
  if (!S_ISREG(st.st_mode)) secret_error(path, "not a regular file");
  if (st.st_mode & (S_IRWXG | S_IRWXO))
    secret_error(path, fmt::format("permissions {:04o} are too open: group or others can access it "
                                   "(chmod 600 it)",
                                   st.st_mode & 07777));

  std::string secret(kMaxSecretSize + 1, '\0');
  size_t len = 0;
  while (len < secret.size()) {
    ssize_t n = ::read(fd, secret.data() + len, secret.size() - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw os_error(errno);
    if (n == 0) break;
    len += static_cast<size_t>(n);
  }
  if (len > kMaxSecretSize) secret_error(path, "larger than 1 KiB");
  secret.resize(len);
  if (secret.ends_with('\n')) secret.pop_back();
  if (secret.empty()) secret_error(path, "empty");
  return secret;
}

Mac hmac_sha256(std::span<const uint8_t> key, std::span<const uint8_t> data) {
  // HMAC() wants a non-null key pointer even for an empty key.
  static const uint8_t empty = 0;
  Mac mac{};
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), key.empty() ? &empty : key.data(), static_cast<int>(key.size()), data.data(),
            data.size(), mac.data(), &len) ||
      len != mac.size())
    throw std::runtime_error("HMAC-SHA256 failed");
  return mac;
}

Mac login_mac(std::string_view secret, std::span<const uint8_t, RDMABLK_NONCE_LEN> nonce,
              std::span<const uint8_t, RDMABLK_EXPORT_NAME_MAX> export_name,
              std::span<const uint8_t, RDMABLK_HOST_ID_MAX> host_id) {
  std::array<uint8_t, RDMABLK_NONCE_LEN + RDMABLK_EXPORT_NAME_MAX + RDMABLK_HOST_ID_MAX> msg{};
  auto out = std::copy(nonce.begin(), nonce.end(), msg.begin());
  out = std::copy(export_name.begin(), export_name.end(), out);
  std::copy(host_id.begin(), host_id.end(), out);
  return hmac_sha256({reinterpret_cast<const uint8_t*>(secret.data()), secret.size()}, msg);
}

std::vector<uint8_t> random_bytes(size_t n) {
  std::vector<uint8_t> out(n);
  if (n > 0 && RAND_bytes(out.data(), static_cast<int>(n)) != 1)
    throw std::runtime_error("OpenSSL RAND_bytes failed");
  return out;
}

bool constant_time_equal(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace rdmablk
