#pragma once
// rdmablk-rdma-hostile's shared parts: one RC connection to the target
// (Conn, raw librdmacm and verbs through rdmablk/verbs.hpp, no librdmablk),
// the LOGIN it sends (built by the shared rdmablk/login.hpp, with a hook
// for the bad variants), the bulk connects of the burst and flood
// scenarios, and the ok:/FAIL: reporting. Each scenario is a file of its
// own (tests/tools/hostile/<scenario>.cpp); main.cpp maps them to
// subcommands.
#include <netinet/in.h>
#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "rdmablk/login.hpp"
#include "rdmablk/proto.h"
#include "rdmablk/verbs.hpp"

namespace hostile {

using Clock = std::chrono::steady_clock;
constexpr auto kWait = std::chrono::seconds(10);

// The target under test and its two exports every scenario may use.
struct Target {
  std::string host, port;
  std::string rw, ro;  // a read-write and a read-only export
};

// Prints "ok: what" or "FAIL: what" and counts the failures.
void check(bool ok, const std::string& what);
// check() that `got` is the status `want` (-1: no answer).
void expect(int got, int want, const std::string& what);
int failures();
const char* status_name(int s);

struct Message {
  rdmablk_rsp rsp{};
  std::vector<std::byte> payload;
};

bool ipv4(const std::string& a, sockaddr_in& out);

// One RC connection to the target with its own PD, CQ and buffers.
class Conn {
 public:
  // `src`: the local IPv4 address to connect from (empty: the route's).
  // Throws std::runtime_error when the target cannot be reached.
  Conn(const std::string& host, const std::string& port, const std::string& src = {});
  ~Conn();
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  // Connects with `len` bytes of `pdata`. On a reject: the rdmablk status in
  // its private data (or -1 if none); on success: 0, and `rep` filled.
  int connect(const void* pdata, uint8_t len, rdmablk_cm_rep* rep = nullptr);
  int connect(const rdmablk_cm_req& req, rdmablk_cm_rep* rep = nullptr) { return connect(&req, sizeof req, rep); }
  // SENDs a capsule plus `payload` (only `cut` bytes of it all when
  // nonzero); true once the send completed.
  bool send(const rdmablk_cmd& cmd, const void* payload = nullptr, size_t n = 0, size_t cut = 0);
  // The next response, or nullopt after kWait or once the QP broke.
  std::optional<Message> recv();
  // Sends and waits for the answer to `cmd`: its status, or -1.
  int status_of(const rdmablk_cmd& cmd, const void* payload = nullptr, size_t n = 0, Message* out = nullptr);
  // True when the target ended the connection within kWait.
  bool wait_disconnect();
  // Stops reposting receive buffers (a client that stops reading its
  // responses), or starts again, reposting every buffer held back.
  void set_reading(bool on);
  // Reposts one receive buffer held back (a slow reader takes one
  // response); false when none is held.
  bool repost_one();
  size_t held_recvs() const { return held_.size(); }
  // True once the target ended the connection (polls the CM, no waiting).
  bool gone();
  // Drives the completion queue for `d` (the inbox fills, nothing is sent).
  void pump(std::chrono::milliseconds d);
  size_t inbox_size() const { return inbox_.size(); }
  // The initiator's own RDMA READ or WRITE of `len` bytes of data() against
  // (raddr, rkey), as direct mode does: the work completion's status, or -1
  // when none came within kWait.
  int rdma(ibv_wr_opcode op, uint64_t raddr, uint32_t rkey, uint32_t len);

  bool broken() const { return broken_; }
  std::byte* data() { return data_.data(); }
  uint64_t data_addr() const { return reinterpret_cast<uintptr_t>(data_.data()); }
  uint32_t data_rkey() const { return data_mr_->rkey; }

 private:
  static constexpr uint32_t kRecvs = 16, kRecvSize = 256;

  rdma_cm_event* wait_event(std::chrono::milliseconds timeout = kWait);
  rdma_cm_event_type next_event();
  void post_recv(uint32_t i);
  void poll();

  // Creation order: they die MRs, buffers, QP, CQ, PD, id, channel.
  rdmablk::verbs::EventChannel ch_;
  rdmablk::verbs::CmId id_;
  rdmablk::verbs::Pd pd_;
  rdmablk::verbs::Cq cq_;
  rdmablk::verbs::Qp qp_;
  std::vector<std::byte> send_, recv_, data_;
  rdmablk::verbs::Mr send_mr_, recv_mr_, data_mr_;
  std::deque<Message> inbox_;
  std::vector<uint32_t> held_;  // receive buffers not reposted
  int rdma_status_ = -1;
  bool established_ = false, send_done_ = false, broken_ = false, reading_ = true, gone_ = false;
};

rdmablk_cmd cmd(uint8_t op, uint32_t tag, uint64_t offset = 0, uint32_t length = 0, uint8_t flags = 0);
// A command naming a buffer of `c` (its data region unless told otherwise).
rdmablk_cmd buf_cmd(Conn& c, uint8_t op, uint32_t& tag, uint64_t off, uint32_t len, uint64_t addr = 0,
                    uint32_t rkey = 0);
// Queue 0's connect private data, depth 16 unless told otherwise.
inline rdmablk_cm_req cm_req(uint16_t qid, uint16_t depth, uint64_t session = 0, const uint8_t* ticket = nullptr) {
  rdmablk::login::Ticket t{};
  if (ticket) std::copy(ticket, ticket + t.size(), t.begin());
  return rdmablk::login::make_cm_req(qid, depth, session, t);
}

// The LOGIN this tool sends: host id "hostile", one I/O queue of depth 16,
// 1 MiB transfers, every feature (direct mode only when asked), no secret.
rdmablk_login_req login_request(const std::string& exp, bool direct);

struct LoginOptions {
  bool direct = false;    // ask for direct mode
  uint32_t features = 0;  // nonzero: ask for exactly these
  // Changes the request before it is sent: the deliberately bad variants.
  std::function<void(rdmablk_login_req&)> tamper;
};

struct Login {
  int connected = -1;  // Conn::connect's outcome
  int status = -1;     // the LOGIN's (-1: not sent or not answered)
  rdmablk::login::Grant grant;
  bool ok = false;  // logged in, the response checked and decoded
};

// Sends `req` as the LOGIN of an already connected queue 0.
Login send_login(Conn& c, const rdmablk_login_req& req, uint32_t& tag);
// Opens queue 0 on `exp` and logs in.
Login login(Conn& c, const std::string& exp, uint32_t& tag, const LoginOptions& opt = {});

// Sends a command whose data transfer must fail: the target answers
// TRANSPORT or ends the connection, and never SUCCESS.
void expect_transfer_refused(Conn& c, const rdmablk_cmd& k, const std::string& what);

// Many connections on one event channel (the burst and the flood), with a
// one-entry QP each on the PD and CQ they share. Destroys them all.
class Bulk {
 public:
  // Throws std::runtime_error when the channel or the address fails.
  Bulk(const Target& t, size_t n);
  ~Bulk();
  Bulk(const Bulk&) = delete;
  Bulk& operator=(const Bulk&) = delete;
  // Creates connection i and starts resolving (from `src`, or the route's
  // address when null); false when that fails.
  bool start(size_t i, const sockaddr* src, int timeout_ms = 5000);
  // ROUTE_RESOLVED: the QP (the PD and CQ made on the first), then the
  // connect with `req`. False when any step fails.
  bool connect(rdma_cm_id* id, const rdmablk_cm_req& req);
  rdma_cm_id* id(size_t i) const { return ids_[i]; }
  // Index of the connection an event is for.
  static size_t index(const rdma_cm_event& ev) { return reinterpret_cast<uintptr_t>(ev.id->context); }
  // Waits up to `ms` for the channel, then the next event (nullptr: none).
  rdma_cm_event* next(int ms);
  rdma_cm_event* next_now();
  // Acknowledges every event for `d`.
  void drain(std::chrono::milliseconds d);

 private:
  rdmablk::verbs::EventChannel ch_;
  sockaddr_storage dst_{};
  rdmablk::verbs::Pd pd_;
  rdmablk::verbs::Cq cq_;
  std::vector<rdma_cm_id*> ids_;  // each with its QP, destroyed first
};

// The rdmablk status in a REJECTED event's private data, -1 when the
// reject did not come from an rdmablk target.
int reject_status(const rdma_cm_event& ev);
// " 3x NO_RESOURCES 1x (not from rdmablk)" from reject_status() counts.
std::string reject_summary(const std::map<int, unsigned>& reasons);

// ---- the scenarios, one file each ----
// basics.cpp: malformed connects, commands before and after login, a
// read-only export, a bogus rkey, a truncated capsule. False when it could
// not log in (nothing later can run).
bool run_basics(const Target& t);
void run_tickets(const Target& t, const std::string& alt_host);
void run_garbage(const Target& t);
void run_forged(const Target& t);
void run_direct(const Target& t);
void run_access(const Target& t, const std::vector<std::string>& denied, const std::string& secret);
void run_stall(const Target& t, const std::string& file);
void run_burst(const Target& t, unsigned n, const std::string& alt_host);

struct DripOptions {
  std::string file;           // the file export
  unsigned seconds = 0;       // how long to drip
  unsigned interval_ms = 2000;
  std::string stop;           // a file whose appearance ends the drip
};
void run_drip(const Target& t, const DripOptions& o);

struct FloodOptions {
  std::vector<std::string> src;  // source addresses of the flood
  unsigned per = 32;             // connects from each
  unsigned cap = 256;            // the target's --rdma-max-pending
  unsigned login_timeout = 10;   // the target's --rdma-login-timeout
};
void run_flood(const Target& t, const FloodOptions& o);

}  // namespace hostile
