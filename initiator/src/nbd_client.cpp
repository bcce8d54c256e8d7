#include "nbd_client.hpp"

#include <algorithm>

#include <boost/asio/post.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "nbd_handshake.hpp"

namespace rdmablk::nbd {

namespace {

using namespace std::chrono_literals;

// Connections to one export must agree on what they serve.
bool same_export(const ExportInfo& a, const ExportInfo& b) {
  return a.size == b.size && a.read_only == b.read_only && a.can_flush == b.can_flush && a.can_fua == b.can_fua &&
         a.can_trim == b.can_trim && a.can_write_zeroes == b.can_write_zeroes &&
         a.min_block_size == b.min_block_size && a.max_block_size == b.max_block_size;
}

}  // namespace

std::unique_ptr<Client> NbdClient::open(const Url& url, const ClientOptions& opts) {
  std::unique_ptr<NbdClient> c(new NbdClient(url, opts));
  c->connect();
  c->work_.emplace(c->io_.get_executor());
  c->arm_ticker();
  for (auto& conn : c->conns_) conn->start();
  c->io_.restart();
  c->io_thread_ = std::thread([p = c.get()] { p->io_.run(); });
  return c;
}

NbdClient::NbdClient(const Url& url, const ClientOptions& opts) : url_(url), opts_(opts) {}

NbdClient::~NbdClient() {
  if (!io_thread_.joinable()) return;  // open() failed before starting it
  asio::post(io_, [this] {
    closing_ = true;
    maybe_finish();
  });
  io_thread_.join();
}

void NbdClient::connect() {
  std::string peer = peer_name(url_);
  std::vector<Session> sessions;
  sessions.push_back(open_session(io_, url_, opts_.timeout));
  info_ = sessions.front().info;
  if (opts_.queues > 1 && !info_.can_multi_conn) {
    spdlog::info("{} does not allow multiple connections to export '{}' (no multi-conn): using 1 instead of {}",
                 peer, info_.name, opts_.queues);
    opts_.queues = 1;
  }
  while (sessions.size() < opts_.queues) {
    sessions.push_back(open_session(io_, url_, opts_.timeout));
    if (!same_export(sessions.back().info, info_))
      throw Error(std::errc::protocol_error,
                  fmt::format("{} described export '{}' differently on two connections", peer, info_.name));
  }
  ConnectionEvents& events = *this;
  for (auto& s : sessions)
    conns_.push_back(
        std::make_unique<Connection>(std::move(s.socket), s.structured_replies, opts_.queue_depth, peer, events));
}

void NbdClient::read(uint64_t offset, std::span<std::byte> buf, Completion done) {
  submit(Op::read, kCmdRead, offset, buf.size(), buf.data(), false, std::move(done));
}

void NbdClient::write(uint64_t offset, std::span<const std::byte> buf, Completion done, bool fua) {
  // The writer only reads from `data`; Submission keeps one pointer for both directions.
  submit(Op::write, kCmdWrite, offset, buf.size(), const_cast<std::byte*>(buf.data()), fua, std::move(done));
}

void NbdClient::flush(Completion done) { submit(Op::flush, kCmdFlush, 0, 0, nullptr, false, std::move(done)); }

void NbdClient::discard(uint64_t offset, uint64_t length, Completion done) {
  submit(Op::discard, kCmdTrim, offset, length, nullptr, false, std::move(done));
}

void NbdClient::write_zeroes(uint64_t offset, uint64_t length, Completion done, bool fua) {
  submit(Op::write_zeroes, kCmdWriteZeroes, offset, length, nullptr, fua, std::move(done));
}

void NbdClient::submit(Op op, uint16_t type, uint64_t offset, uint64_t length, std::byte* data, bool fua,
                       Completion done) {
  Submission r;
  r.type = type;
  r.offset = offset;
  r.data = data;
  r.done = std::move(done);
  r.status = check_request(info_, op, offset, length, fua);
  r.length = r.status ? 0 : static_cast<uint32_t>(length);
  r.flags = fua ? kCmdFlagFua : 0;
  // Without a write cache (no NBD_FLAG_SEND_FLUSH) a flush has nothing to do.
  r.local = r.status || (op == Op::flush && !info_.can_flush);
  std::unique_lock lock(mu_);
  // On the I/O thread (a completion submitting the next request) with
  // nothing queued ahead and a free slot: start the write now, not through
  // a handler posted to our own loop.
  if (std::this_thread::get_id() == io_thread_.get_id() && !r.local && !closing_ && pending_.empty()) {
    if (Connection* c = pick_connection()) {
      lock.unlock();
      c->enqueue(std::move(r), Clock::now() + opts_.timeout);
      c->start_writing();
      return;
    }
  }
  pending_.push(std::move(r));
  // Completions run later on the I/O thread, never inside this call.
  if (!pump_posted_) {
    pump_posted_ = true;
    asio::post(io_, [this] { pump(); });
  }
}

void NbdClient::schedule_pump() {
  std::lock_guard lock(mu_);
  if (pump_posted_ || (pending_.empty() && !closing_)) return;
  pump_posted_ = true;
  asio::post(io_, [this] { pump(); });
}

// Moves pending requests into free slots (or completes those that need no
// server), then starts the writes: one batch per connection.
void NbdClient::pump() {
  std::unique_lock lock(mu_);
  pump_posted_ = false;
  auto deadline = Clock::now() + opts_.timeout;
  while (!pending_.empty()) {
    Submission& front = pending_.front();
    Connection* c = nullptr;
    if (!front.local) {
      c = pick_connection();
      if (!c && any_alive()) break;  // every slot busy: a completion calls us again
      if (!c) {
        front.local = true;
        front.status = std::make_error_code(std::errc::connection_reset);
      }
    }
    Submission r = pending_.pop();
    if (c) {
      c->enqueue(std::move(r), deadline);
      continue;
    }
    lock.unlock();  // the completion may submit
    invoke(r.done, r.status);
    lock.lock();
  }
  lock.unlock();
  for (auto& c : conns_) c->start_writing();
  maybe_finish();
}

Connection* NbdClient::pick_connection() {
  for (size_t k = 0; k < conns_.size(); ++k) {
    size_t i = (next_conn_ + k) % conns_.size();
    if (conns_[i]->alive() && conns_[i]->has_free_slot()) {
      next_conn_ = i + 1;
      return conns_[i].get();
    }
  }
  return nullptr;
}

bool NbdClient::any_alive() const {
  return std::any_of(conns_.begin(), conns_.end(), [](const auto& c) { return c->alive(); });
}

void NbdClient::arm_ticker() {
  ticker_.expires_after(std::clamp<std::chrono::milliseconds>(opts_.timeout / 4, 10ms, 1000ms));
  ticker_.async_wait([this](boost_error ec) {
    if (ec || finished_) return;
    auto now = Clock::now();
    for (auto& c : conns_) c->check_deadlines(now);
    arm_ticker();
  });
}

// Once the destructor asked and the last request is done: NBD_CMD_DISC on
// every live connection and let the I/O thread run out of work.
void NbdClient::maybe_finish() {
  if (!closing_ || finished_) return;
  {
    std::lock_guard lock(mu_);
    if (!pending_.empty()) return;
  }
  for (auto& c : conns_)
    if (c->alive() && !c->idle()) return;
  finished_ = true;
  ticker_.cancel();
  for (auto& c : conns_) c->disconnect();
  work_.reset();
}

void NbdClient::on_slot_free() { schedule_pump(); }

// Requests still pending fail once no connection is left.
void NbdClient::on_dead() { schedule_pump(); }

}  // namespace rdmablk::nbd
