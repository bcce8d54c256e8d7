// rdmablk-rdma-flood: a connect flood from one source address, as fast as
// rdma_cm allows, for the VM case rdma-flood-rate.sh. Every connect is a
// valid rdmablk queue-0 request (so the target's admission code, not the
// private-data check, answers it) that never logs in; whatever the target
// rejects or closes (evicted, login deadline) is replaced at once, with at
// most --max-open connects in flight or held at a time.
//
// usage: rdmablk-rdma-flood HOST PORT --src ADDR [--seconds N] [--max-open N]
//   --src ADDR      the local address to connect from (required)
//   --seconds N     how long to flood (10); then everything is closed
//   --max-open N    connects in flight or established at a time (256)
//   --ready FILE    created once the first connection is established
// Prints one summary line: connects sent, established, rejected (by
// reason), closed by the target, failed. Exit 0 if the flood ran (at least
// one connection established), 1 otherwise, 2 on bad usage.
#include <arpa/inet.h>
#include <endian.h>
#include <fcntl.h>
#include <poll.h>
#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "bare_connect.hpp"
#include "rdmablk/proto.h"
#include "rdmablk/proto_check.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Opts {
  std::string host, port, src, ready;
  unsigned seconds = 10, max_open = 256;
};

// The reject's rdmablk status, or -1 when it carries none (not the target).
int reject_status(const rdma_cm_event& ev) {
  if (ev.param.conn.private_data_len < sizeof(rdmablk_cm_rej)) return -1;
  rdmablk_cm_rej rej;
  std::memcpy(&rej, ev.param.conn.private_data, sizeof(rej));
  return le32toh(rej.magic) == RDMABLK_MAGIC ? le16toh(rej.status) : -1;
}

int usage(const char* argv0) {
  fmt::print(stderr, "usage: {} HOST PORT --src ADDR [--seconds N] [--max-open N] [--ready FILE]\n", argv0);
  return 2;
}

class Flood {
 public:
  explicit Flood(const Opts& o) : o_(o) {}
  ~Flood() {
    for (auto& [id, up] : ids_) drop(id);
    if (cq_) ibv_destroy_cq(cq_);
    if (pd_) ibv_dealloc_pd(pd_);
    if (ch_) rdma_destroy_event_channel(ch_);
  }

  bool setup() {
    ch_ = rdma_create_event_channel();
    if (!ch_) return false;
    fcntl(ch_->fd, F_SETFL, fcntl(ch_->fd, F_GETFL) | O_NONBLOCK);
    rdma_addrinfo hints{}, *res = nullptr;
    hints.ai_port_space = RDMA_PS_TCP;
    if (rdma_getaddrinfo(o_.host.c_str(), o_.port.c_str(), &hints, &res)) return false;
    std::memcpy(&dst_, res->ai_dst_addr, res->ai_dst_len);
    rdma_freeaddrinfo(res);
    auto* in = reinterpret_cast<sockaddr_in*>(&src_);
    in->sin_family = AF_INET;
    if (inet_pton(AF_INET, o_.src.c_str(), &in->sin_addr) != 1) return false;
    req_.magic = htole32(RDMABLK_MAGIC);
    req_.version = htole16(RDMABLK_PROTO_VERSION);
    req_.qid = 0;
    req_.queue_depth = htole16(16);
    return true;
  }

  int run() {
    const auto until = Clock::now() + std::chrono::seconds(o_.seconds);
    while (Clock::now() < until) {
      while (ids_.size() < o_.max_open && open_one()) {
      }
      pollfd p{ch_->fd, POLLIN, 0};
      ::poll(&p, 1, 20);
      std::vector<rdma_cm_id*> gone;
      rdma_cm_event* ev = nullptr;
      while (rdma_get_cm_event(ch_, &ev) == 0) {
        on_event(*ev, gone);
        rdma_ack_cm_event(ev);
      }
      for (auto* id : gone) {
        drop(id);
        ids_.erase(id);
      }
    }
    std::string why;
    for (auto [st, k] : reasons_) why += fmt::format(" {}x {}", k, st < 0 ? "other" : rdmablk_status_str(st));
    fmt::print("flood from {} for {} s: {} connects sent, {} established, {} rejected ({}), {} closed by the "
               "target, {} failed; {} held at the end\n",
               o_.src, o_.seconds, sent_, up_, rejected_, why.empty() ? "none" : why.substr(1), closed_, failed_,
               held());
    return up_ > 0 ? 0 : 1;
  }

 private:
  bool open_one() {
    rdma_cm_id* id = nullptr;
    if (rdma_create_id(ch_, &id, nullptr, RDMA_PS_TCP)) return false;
    if (rdma_resolve_addr(id, reinterpret_cast<sockaddr*>(&src_), reinterpret_cast<sockaddr*>(&dst_), 5000)) {
      rdma_destroy_id(id);
      ++failed_;
      return false;
    }
    ids_[id] = false;
    return true;
  }

  void connect(rdma_cm_id* id, std::vector<rdma_cm_id*>& gone) {
    if (!pd_) {
      pd_ = ibv_alloc_pd(id->verbs);
      cq_ = pd_ ? ibv_create_cq(id->verbs, 4096, nullptr, nullptr, 0) : nullptr;
    }
    if (!rdmablk::tools::bare_connect(id, pd_, cq_, req_)) {
      ++failed_;
      gone.push_back(id);
      return;
    }
    ++sent_;
  }

  void on_event(const rdma_cm_event& ev, std::vector<rdma_cm_id*>& gone) {
    rdma_cm_id* id = ev.id;
    switch (ev.event) {
      case RDMA_CM_EVENT_ADDR_RESOLVED:
        if (rdma_resolve_route(id, 5000)) {
          ++failed_;
          gone.push_back(id);
        }
        break;
      case RDMA_CM_EVENT_ROUTE_RESOLVED:
        connect(id, gone);
        break;
      case RDMA_CM_EVENT_ESTABLISHED:
        ids_[id] = true;
        if (up_++ == 0 && !o_.ready.empty()) std::fclose(std::fopen(o_.ready.c_str(), "w"));
        break;
      case RDMA_CM_EVENT_REJECTED:
        ++rejected_;
        ++reasons_[reject_status(ev)];
        gone.push_back(id);
        break;
      case RDMA_CM_EVENT_DISCONNECTED:
        ++closed_;
        gone.push_back(id);
        break;
      default:  // ADDR/ROUTE_ERROR, UNREACHABLE, CONNECT_ERROR
        ++failed_;
        gone.push_back(id);
        break;
    }
  }

  void drop(rdma_cm_id* id) {
    if (id->qp) rdma_destroy_qp(id);
    rdma_destroy_id(id);
  }

  unsigned held() const {
    unsigned n = 0;
    for (auto& [id, up] : ids_) n += up;
    return n;
  }

  const Opts& o_;
  rdma_event_channel* ch_ = nullptr;
  ibv_pd* pd_ = nullptr;
  ibv_cq* cq_ = nullptr;
  sockaddr_storage dst_{}, src_{};
  rdmablk_cm_req req_{};
  std::map<rdma_cm_id*, bool> ids_;  // every live id: established or not
  unsigned long sent_ = 0, up_ = 0, rejected_ = 0, closed_ = 0, failed_ = 0;
  std::map<int, unsigned long> reasons_;
};

}  // namespace

int main(int argc, char** argv) {
  Opts o;
  std::vector<std::string> pos;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    bool has = i + 1 < argc;
    if (a == "--help" || a == "-h") {
      usage(argv[0]);
      return 0;
    } else if (a == "--src" && has) {
      o.src = argv[++i];
    } else if (a == "--seconds" && has) {
      o.seconds = static_cast<unsigned>(std::strtoul(argv[++i], nullptr, 10));
    } else if (a == "--max-open" && has) {
      o.max_open = static_cast<unsigned>(std::strtoul(argv[++i], nullptr, 10));
    } else if (a == "--ready" && has) {
      o.ready = argv[++i];
    } else if (!a.empty() && a[0] != '-') {
      pos.push_back(a);
    } else {
      return usage(argv[0]);
    }
  }
  if (pos.size() != 2 || o.src.empty() || o.seconds == 0 || o.seconds > 3600 || o.max_open == 0) return usage(argv[0]);
  o.host = pos[0];
  o.port = pos[1];
  Flood f(o);
  if (!f.setup()) {
    fmt::print(stderr, "rdmablk-rdma-flood: cannot set up (event channel, address {} or {}:{})\n", o.src, o.host,
               o.port);
    return 1;
  }
  return f.run();
}
