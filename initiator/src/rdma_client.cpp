#include "rdma_client.hpp"

#include <netdb.h>

#include <algorithm>
#include <cstring>

#include <boost/asio/post.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "rdmablk/auth.hpp"
#include "rdmablk/proto_check.h"

namespace rdmablk::rdma {

namespace {

using namespace std::chrono_literals;
using boost_error = boost::system::error_code;

constexpr auto kKeepaliveInterval = std::chrono::milliseconds(RDMABLK_KEEPALIVE_INTERVAL_MS);
constexpr auto kKeepaliveTimeout = std::chrono::milliseconds(RDMABLK_KEEPALIVE_TIMEOUT_MS);
constexpr size_t kDiscoverBuffer = 64 * 1024;  // 409 exports; more costs a second round

struct Address {
  sockaddr_storage storage{};
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

Address resolve(const Url& url) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string port = std::to_string(url.port);
  if (int e = getaddrinfo(url.host.c_str(), port.c_str(), &hints, &res); e || !res)
    throw Error(std::errc::host_unreachable, fmt::format("cannot resolve host '{}': {}", url.host, gai_strerror(e)));
  Address a;
  std::memcpy(&a.storage, res->ai_addr, std::min<size_t>(res->ai_addrlen, sizeof a.storage));
  freeaddrinfo(res);
  return a;
}

uint16_t wire_depth(unsigned qd) { return static_cast<uint16_t>(std::clamp(qd, 1u, unsigned{RDMABLK_MAX_QUEUE_DEPTH})); }

std::optional<std::string> load_secret(const ClientOptions& opts) {
  if (opts.secret_file.empty()) return std::nullopt;
  try {
    return read_secret_file(opts.secret_file);
  } catch (const std::system_error& e) {
    throw Error(e.code(), e.what());
  } catch (const std::exception& e) {
    throw Error(std::errc::permission_denied, e.what());
  }
}

// The QueueEvents of a connection used only before login (DISCOVER).
class Probe final : public QueueEvents {
 public:
  std::shared_ptr<MemoryRegistry> registry_for(ibv_context* device) override {
    if (!registry) registry = MemoryRegistry::create(device);
    return registry;
  }
  void on_slot_free() override {}
  void on_dead(uint16_t) override {}
  std::shared_ptr<MemoryRegistry> registry;
};

}  // namespace

std::string peer_name(const Url& url) {
  bool v6 = url.host.find(':') != std::string::npos;
  return fmt::format("{}{}{}:{}", v6 ? "[" : "", url.host, v6 ? "]" : "", url.port);
}

std::unique_ptr<Client> RdmaClient::open(const Url& url, const ClientOptions& opts) {
  std::unique_ptr<RdmaClient> c(new RdmaClient(url, opts));
  c->connect();
  for (auto& q : c->queues_) {
    q->set_quiet(false);
    q->set_poll(c->opts_.poll);
  }
  c->work_.emplace(c->io_.get_executor());
  c->arm_ticker();
  c->io_.restart();
  c->io_thread_ = std::thread([p = c.get()] { p->io_.run(); });
  return c;
}

RdmaClient::RdmaClient(const Url& url, const ClientOptions& opts) : url_(url), opts_(opts), peer_(peer_name(url)) {}

RdmaClient::~RdmaClient() {
  if (!io_thread_.joinable()) {
    // open() failed: leave politely what did connect.
    for (auto it = queues_.rbegin(); it != queues_.rend(); ++it) (*it)->close();
    return;
  }
  asio::post(io_, [this] {
    closing_ = true;
    maybe_finish();
  });
  io_thread_.join();
}

void RdmaClient::connect() {
  if (url_.export_name.empty())
    throw Error(std::errc::invalid_argument,
                fmt::format("rdma:// needs an export name: rdma://{}/EXPORT (rdmablk discover lists them)", peer_));
  auto secret = load_secret(opts_);
  if (opts_.host_id.empty()) opts_.host_id = default_host_id();
  // Names the protocol cannot carry fail here, before anything is sent.
  LoginParams check{url_.export_name, opts_.host_id, secret};
  make_login_req(check, Nonce{});

  Address addr = resolve(url_);
  uint16_t depth = wire_depth(opts_.queue_depth);
  auto deadline = Clock::now() + opts_.timeout;
  queues_.push_back(std::make_unique<Queue>(io_, 0, peer_, events(), opts_.timeout));
  Queue& q0 = *queues_[0];
  q0.start_connect(addr.get(), make_cm_req(0, depth));
  run_until(io_, [&] { return q0.ready() || q0.failed(); }, deadline, peer_, "the connection request");
  if (q0.failed()) throw q0.setup_error();

  Session s = login(q0, depth, secret, Clock::now() + opts_.timeout);
  info_ = s.info;
  if (opts_.mode == RdmaMode::direct && !(s.features & RDMABLK_FEAT_DIRECT)) {
    spdlog::info("export '{}' on {} does not offer direct mode (it is not in target memory): using command mode",
                 info_.name, peer_);
    opts_.mode = RdmaMode::command;
  }
  QueueLimits lim;
  lim.direct = opts_.mode == RdmaMode::direct;
  lim.region_addr = s.region_addr;
  lim.region_rkey = s.region_rkey;
  lim.max_inline = s.features & RDMABLK_FEAT_INLINE_WRITE ? s.max_inline : 0;
  lim.max_io_size = s.max_io_size;
  lim.can_flush = s.features & RDMABLK_FEAT_FLUSH;
  q0.set_limits(lim);

  // I/O queues join in parallel with the session's id and ticket.
  if (opts_.queues > 1u + s.nr_queues)
    spdlog::info("{} granted {} queue{} instead of {}", peer_, 1 + s.nr_queues, s.nr_queues ? "s" : "",
                 opts_.queues);
  uint16_t io_depth = std::min(depth, s.queue_depth);
  for (uint16_t qid = 1; qid <= s.nr_queues; ++qid) {
    queues_.push_back(std::make_unique<Queue>(io_, qid, peer_, events(), opts_.timeout));
    queues_.back()->start_connect(addr.get(), make_cm_req(qid, io_depth, s.session_id, s.ticket));
  }
  deadline = Clock::now() + opts_.timeout;
  run_until(
      io_,
      [&] {
        return std::all_of(queues_.begin(), queues_.end(), [](const auto& q) { return q->ready() || q->failed(); });
      },
      deadline, peer_, "the I/O queue connection requests");
  unsigned granted_depth = RDMABLK_MAX_QUEUE_DEPTH;
  for (auto& q : queues_) {
    if (q->failed()) throw q->setup_error();
    q->set_limits(lim);
    granted_depth = std::min<unsigned>(granted_depth, q->accept().queue_depth);
  }
  opts_.queues = static_cast<unsigned>(queues_.size());
  opts_.queue_depth = granted_depth;
  spdlog::debug("{}: export '{}' open: {} queue(s) of depth {}, {} mode, max I/O {}, inline {}", peer_, info_.name,
                opts_.queues, opts_.queue_depth, opts_.mode == RdmaMode::direct ? "direct" : "command",
                s.max_io_size, lim.max_inline);
}

Session RdmaClient::login(Queue& q0, uint16_t queue_depth, const std::optional<std::string>& secret,
                          Clock::time_point deadline) {
  LoginParams p;
  p.export_name = url_.export_name;
  p.host_id = opts_.host_id;
  p.secret = secret;
  // DIRECT is asked for in command mode too: a grant changes nothing until
  // used, and info() then tells whether the export offers it.
  p.features = RDMABLK_FEAT_INLINE_WRITE | RDMABLK_FEAT_FLUSH | RDMABLK_FEAT_FUA | RDMABLK_FEAT_DISCARD |
               RDMABLK_FEAT_WRITE_ZEROES | RDMABLK_FEAT_DIRECT;
  p.nr_queues = static_cast<uint16_t>(std::min(opts_.queues - 1, unsigned{RDMABLK_MAX_QUEUES - 1}));
  p.queue_depth = queue_depth;
  p.max_io_size = kMaxIoSize;

  // Shared with the callbacks, which may outlive this frame if it throws.
  struct State {
    rdmablk_login_req req;
    std::optional<Session> session;
    std::optional<Error> refused;
    bool done = false;
    std::error_code result;
  };
  auto st = std::make_shared<State>();
  st->req = make_login_req(p, q0.accept().nonce);
  Request r;
  r.opcode = RDMABLK_OP_LOGIN;
  r.length = sizeof st->req;
  r.payload.resize(sizeof st->req);
  std::memcpy(r.payload.data(), &st->req, sizeof st->req);
  r.on_rsp = [st, peer = peer_](const rdmablk_rsp& rsp, std::span<const std::byte> payload) -> std::error_code {
    try {
      st->session = parse_login_rsp(rsp, payload, st->req, peer);
      return {};
    } catch (const Error& e) {
      st->refused = e;
      return e.code();
    }
  };
  r.done = [st](std::error_code ec) {
    st->done = true;
    st->result = ec;
  };
  q0.post(std::move(r), deadline);
  run_until(io_, [&] { return st->done; }, deadline, peer_, "the login");
  if (st->refused) throw *st->refused;
  if (st->session) return *st->session;
  if (q0.failed()) throw Error(st->result, fmt::format("login failed: {}", q0.setup_error().what()));
  throw Error(st->result, fmt::format("{}: login failed: {}", peer_, st->result.message()));
}

Buffer RdmaClient::alloc_buffer(size_t size) {
  Buffer b(size);
  if (size == 0) return b;
  try {
    b.set_registration(registry_->add(b.data(), size));
  } catch (const Error& e) {
    // Still usable, through the bounce buffers.
    std::lock_guard lock(mu_);
    if (!warned_unregistered_) spdlog::warn("{}; I/O on such buffers is copied", e.what());
    warned_unregistered_ = true;
  }
  return b;
}

void RdmaClient::read(uint64_t offset, std::span<std::byte> buf, Completion done) {
  submit(Op::read, RDMABLK_OP_READ, offset, buf.size(), buf.data(), false, std::move(done));
}

void RdmaClient::write(uint64_t offset, std::span<const std::byte> buf, Completion done, bool fua) {
  // Writes only read from `data`; Request keeps one pointer for both directions.
  submit(Op::write, RDMABLK_OP_WRITE, offset, buf.size(), const_cast<std::byte*>(buf.data()), fua,
         std::move(done));
}

void RdmaClient::flush(Completion done) {
  submit(Op::flush, RDMABLK_OP_FLUSH, 0, 0, nullptr, false, std::move(done));
}

void RdmaClient::discard(uint64_t offset, uint64_t length, Completion done) {
  submit(Op::discard, RDMABLK_OP_DISCARD, offset, length, nullptr, false, std::move(done));
}

void RdmaClient::write_zeroes(uint64_t offset, uint64_t length, Completion done, bool fua) {
  submit(Op::write_zeroes, RDMABLK_OP_WRITE_ZEROES, offset, length, nullptr, fua, std::move(done));
}

void RdmaClient::submit(Op op, uint8_t opcode, uint64_t offset, uint64_t length, std::byte* data, bool fua,
                        Completion done) {
  Request r;
  r.opcode = opcode;
  r.offset = offset;
  r.data = data;
  r.status = check_request(info_, op, offset, length, fua);
  r.fua = fua;
  // Without a write cache (no FLUSH feature) a flush has nothing to do.
  r.local = r.status || (op == Op::flush && !info_.can_flush);
  if (r.local || length <= RDMABLK_MAX_DISCARD_SIZE) {
    r.length = r.local ? 0 : static_cast<uint32_t>(length);
    r.done = std::move(done);
    push(std::move(r));
    return;
  }
  // DISCARD / WRITE_ZEROES over 1 GiB: pieces, one completion when all are done.
  struct Join {
    size_t left = 0;
    std::error_code first;
    Completion done;
  };
  auto join = std::make_shared<Join>();
  join->left = (length + RDMABLK_MAX_DISCARD_SIZE - 1) / RDMABLK_MAX_DISCARD_SIZE;
  join->done = std::move(done);
  for (uint64_t at = 0; at < length; at += RDMABLK_MAX_DISCARD_SIZE) {
    Request piece;
    piece.opcode = opcode;
    piece.offset = offset + at;
    piece.length = static_cast<uint32_t>(std::min<uint64_t>(RDMABLK_MAX_DISCARD_SIZE, length - at));
    piece.fua = fua;
    // Completions all run on the I/O thread: no atomics needed.
    piece.done = [join](std::error_code ec) {
      if (ec && !join->first) join->first = ec;
      if (--join->left == 0) invoke(join->done, join->first);
    };
    push(std::move(piece));
  }
}

void RdmaClient::push(Request&& r) {
  std::unique_lock lock(mu_);
  // On the I/O thread (a completion submitting the next request) with
  // nothing queued ahead and a free slot: post now, not through a handler
  // posted to our own loop.
  if (std::this_thread::get_id() == io_thread_.get_id() && !r.local && !closing_ && pending_.empty()) {
    if (Queue* q = pick(r)) {
      lock.unlock();
      q->post(std::move(r), Clock::now() + opts_.timeout);
      return;
    }
  }
  pending_.push(std::move(r));
  // Completions run later on the I/O thread, never inside the submit call.
  if (!pump_posted_) {
    pump_posted_ = true;
    asio::post(io_, [this] { pump(); });
  }
}

void RdmaClient::schedule_pump() {
  std::lock_guard lock(mu_);
  if (pump_posted_ || (pending_.empty() && !closing_)) return;
  pump_posted_ = true;
  asio::post(io_, [this] { pump(); });
}

// Moves pending requests into free slots (or completes those that need no
// target). Posting may complete a request at once (a dead queue), and its
// completion may submit, so the lock is not held while posting.
void RdmaClient::pump() {
  std::unique_lock lock(mu_);
  pump_posted_ = false;
  auto deadline = Clock::now() + opts_.timeout;
  while (!pending_.empty()) {
    Request& front = pending_.front();
    Queue* q = nullptr;
    if (!front.local) {
      q = pick(front);
      if (!q && any_alive()) break;  // every slot busy: a completion calls us again
      if (!q) {
        front.local = true;
        front.status = std::make_error_code(std::errc::connection_reset);
      }
    }
    Request r = pending_.pop();
    lock.unlock();
    if (q)
      q->post(std::move(r), deadline);
    else
      invoke(r.done, r.status);
    lock.lock();
  }
  lock.unlock();
  maybe_finish();
}

Queue* RdmaClient::pick(const Request& r) {
  for (size_t k = 0; k < queues_.size(); ++k) {
    size_t i = (next_queue_ + k) % queues_.size();
    if (queues_[i]->alive() && queues_[i]->can_take(r)) {
      next_queue_ = i + 1;
      return queues_[i].get();
    }
  }
  return nullptr;
}

bool RdmaClient::any_alive() const {
  return std::any_of(queues_.begin(), queues_.end(), [](const auto& q) { return q->alive(); });
}

void RdmaClient::arm_ticker() {
  ticker_.expires_after(std::clamp<std::chrono::milliseconds>(opts_.timeout / 4, 10ms, 1000ms));
  ticker_.async_wait([this](boost_error ec) {
    if (ec || finished_) return;
    auto now = Clock::now();
    for (auto& q : queues_) q->check_deadlines(now);
    keepalive(now);
    arm_ticker();
  });
}

// RC notices a dead peer only when it sends, and the target drops a session
// whose queue 0 is silent: a KEEPALIVE when queue 0 sent nothing for 5 s.
void RdmaClient::keepalive(Clock::time_point now) {
  Queue& q0 = *queues_[0];
  if (closing_ || !q0.alive() || now - q0.last_send() < kKeepaliveInterval || !q0.has_free_slot()) return;
  Request r;
  r.opcode = RDMABLK_OP_KEEPALIVE;
  r.done = [](std::error_code) {};  // a failure fails queue 0, and with it the session
  q0.post(std::move(r), now + std::min<std::chrono::milliseconds>(opts_.timeout, kKeepaliveTimeout));
}

// Once the destructor asked and the last request is done: disconnect the
// I/O queues, then queue 0 (which ends the session), and let the I/O thread
// run out of work.
void RdmaClient::maybe_finish() {
  if (!closing_ || finished_) return;
  {
    std::lock_guard lock(mu_);
    if (!pending_.empty()) return;
  }
  for (auto& q : queues_)
    if (q->alive() && !q->idle()) return;
  finished_ = true;
  ticker_.cancel();
  for (auto it = queues_.rbegin(); it != queues_.rend(); ++it) (*it)->close();
  work_.reset();
}

std::shared_ptr<MemoryRegistry> RdmaClient::registry_for(ibv_context* device) {
  if (!registry_) registry_ = MemoryRegistry::create(device);
  if (registry_->device() != device)
    throw Error(std::errc::cross_device_link,
                fmt::format("{}: the queues of one session reached different RDMA devices", peer_));
  return registry_;
}

void RdmaClient::on_slot_free() { schedule_pump(); }

// Queue 0 carries the session: when it dies the target ends the session,
// so the I/O queues are failed at once rather than when the target says so.
// Requests still pending fail once no queue is left.
void RdmaClient::on_dead(uint16_t qid) {
  if (qid == 0)
    for (auto& q : queues_)
      if (q->qid() != 0) q->fail(std::make_error_code(std::errc::connection_reset), "queue 0 failed: session over");
  schedule_pump();
}

std::vector<ExportInfo> discover(const Url& url, const ClientOptions& opts) {
  asio::io_context io;
  Probe probe;
  std::string peer = peer_name(url);
  Queue q(io, 0, peer, probe, opts.timeout);
  Address addr = resolve(url);
  auto deadline = Clock::now() + opts.timeout;
  q.start_connect(addr.get(), make_cm_req(0, 1));
  run_until(io, [&] { return q.ready() || q.failed(); }, deadline, peer, "the connection request");
  if (q.failed()) throw q.setup_error();

  Buffer buf(kDiscoverBuffer);
  buf.set_registration(probe.registry->add(buf.data(), buf.size()));
  for (;;) {
    // Shared with the callbacks, which may outlive this frame if it throws.
    struct State {
      bool done = false;
      int status = RDMABLK_S_SUCCESS;
      uint32_t total = 0;
    };
    auto st = std::make_shared<State>();
    Request r;
    r.opcode = RDMABLK_OP_DISCOVER;
    r.length = static_cast<uint32_t>(buf.size());
    r.data = buf.data();
    r.on_rsp = [st](const rdmablk_rsp& rsp, std::span<const std::byte>) -> std::error_code {
      st->status = RDMABLK_LE16(rsp.status);
      st->total = RDMABLK_LE32(rsp.length);
      return status_errno(st->status);
    };
    r.done = [st](std::error_code) { st->done = true; };
    deadline = Clock::now() + opts.timeout;
    q.post(std::move(r), deadline);
    run_until(io, [&] { return st->done; }, deadline, peer, "DISCOVER");
    if (q.failed()) throw q.setup_error();
    if (st->status != RDMABLK_S_SUCCESS)
      throw Error(refusal_errno(st->status),
                  fmt::format("{}: target refused to list exports: {}", peer, rdmablk_status_str(st->status)));
    uint32_t total = st->total;
    if (total % sizeof(rdmablk_discover_entry) || total > RDMABLK_MAX_IO_SIZE)
      throw Error(std::errc::protocol_error,
                  fmt::format("{}: target sent a malformed export list ({} bytes)", peer, total));
    if (total <= buf.size()) {
      auto list = parse_discover(std::span<const std::byte>(buf.data(), total), peer);
      q.close();
      return list;
    }
    // Cut short: ask again with room for the whole list.
    buf = Buffer(total);
    buf.set_registration(probe.registry->add(buf.data(), buf.size()));
  }
}

}  // namespace rdmablk::rdma
