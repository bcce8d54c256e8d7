// rdmablk-rdma-hostile access: a denied host, a missing or a made-up MAC:
// the LOGIN is refused, no byte moves, the target ends the connection.
#include <endian.h>

#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "hostile.hpp"
#include "rdmablk/proto_check.h"

namespace hostile {

// ---- access: a denied host, a missing or wrong secret: no byte moves ----
void run_access(const Target& t, const std::vector<std::string>& denied, const std::string& secret) {
  auto refused = [&](const std::string& exp, const std::string& what, int want, bool random_mac) {
    Conn c(t.host, t.port);
    uint32_t tag = 0;
    LoginOptions bad;
    bad.direct = true;
    if (random_mac)
      bad.tamper = [](rdmablk_login_req& lr) {
        for (auto& b : lr.mac) b = static_cast<uint8_t>(std::rand());
      };
    Login l = login(c, exp, tag, bad);
    if (l.connected != 0) {
      check(false, what + ": queue 0 did not connect");
      return;
    }
    expect(l.status, want, what);
    // I/O right after the refusal: never served; the target disconnects.
    std::memset(c.data(), 0xee, 8192);
    auto k = buf_cmd(c, RDMABLK_OP_READ, tag, 0, 8192);
    int s = c.send(k) ? -1 : -2;
    if (s == -1)
      if (auto ans = c.recv()) s = le16toh(ans->rsp.status);
    bool untouched = true;
    for (int i = 0; i < 8192; ++i) untouched &= c.data()[i] == std::byte{0xee};
    check(s != RDMABLK_S_SUCCESS && untouched,
          fmt::format("{}: a READ afterwards moves no data ({})", what,
                      s >= 0 ? status_name(s) : "not answered, connection ended"));
    // (A KEEPALIVE, valid before login, finds the connection gone.)
    check(c.broken() || c.wait_disconnect() || c.status_of(cmd(RDMABLK_OP_KEEPALIVE, ++tag)) < 0,
          what + ": the target ends the connection");
  };
  for (const auto& d : denied)
    refused(d, fmt::format("LOGIN to '{}' from a host it does not allow", d), RDMABLK_S_HOST_DENIED, false);
  if (!secret.empty()) {
    refused(secret, fmt::format("LOGIN to '{}' without its secret", secret), RDMABLK_S_AUTH_FAILED, false);
    refused(secret, fmt::format("LOGIN to '{}' with a made-up MAC", secret), RDMABLK_S_AUTH_FAILED, true);
  }
}

}  // namespace hostile
