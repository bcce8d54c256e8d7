#include "nbd_connection.hpp"

#include <array>
#include <cstring>

#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "nbd_codec.hpp"

namespace rdmablk::target {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

constexpr size_t kInputBufferSize = 64 * 1024;
// Oversized option data up to this much is skipped and answered with
// NBD_REP_ERR_TOO_BIG; beyond it the client is dropped.
constexpr uint32_t kMaxOptionSkip = 1u << 20;

template <typename T>
std::span<std::byte> bytes_of(T& value) {
  return std::as_writable_bytes(std::span(&value, 1));
}

template <typename T>
std::span<const std::byte> const_bytes_of(const T& value) {
  return std::as_bytes(std::span(&value, 1));
}

}  // namespace

// One NBD request from header to reply.
struct NbdConnection::Request final : Io {
  enum class State : uint8_t {
    idle,       // on the free list
    receiving,  // header parsed; a WRITE payload is arriving
    executing,  // with the backend
    queued,     // reply waiting for the writer
    sending,    // reply inside the writev in progress
  };

  explicit Request(NbdConnection& c) : conn(c) {}
  void complete(int error) override { conn.on_backend_done(*this, error); }

  NbdConnection& conn;
  State state = State::idle;
  uint16_t type = 0;
  uint64_t cookie = 0;
  uint32_t error = 0;           // NBD error value for the reply
  const char* message = "";     // structured error text
  uint64_t charged = 0;         // bytes counted in in_flight_bytes_
  stats::Stamp started{};       // header read, for the latency histogram
  BufferPool::Buffer buffer;    // payload, unless it lives in export memory
  const std::byte* reply_data = nullptr;
  std::array<std::byte, 32> head{};  // reply header(s), built when sent
};

NbdConnection::NbdConnection(Socket socket, asio::ip::address peer, std::string peer_name,
                             const ExportTable& exports, IoEngine& engine, BufferPool& buffers,
                             NbdLimits limits)
    : socket_(std::move(socket)),
      peer_(unmap_v4(peer)),
      peer_name_(std::move(peer_name)),
      exports_(exports),
      engine_(engine),
      buffers_(buffers),
      limits_(limits),
      deadline_(socket_.get_executor()),
      wake_(socket_.get_executor(), asio::steady_timer::time_point::max()),
      in_(kInputBufferSize) {}

NbdConnection::~NbdConnection() = default;

asio::awaitable<void> NbdConnection::run() {
  std::weak_ptr<NbdConnection> weak = weak_from_this();
  deadline_.expires_after(limits_.handshake_timeout);
  deadline_.async_wait([weak](const error_code& ec) {
    if (auto self = weak.lock(); self && !ec) {
      self->timed_out_ = true;
      self->close_socket();
    }
  });
  std::string reason;
  try {
    bool go = co_await handshake(reason);
    deadline_.cancel();
    if (go) {
      phase_ = Phase::transmission;
      spdlog::info("nbd {}: opened export '{}'{}", peer_name_, export_->name(),
                   structured_ ? " (structured replies)" : "");
      reason = co_await transmission();
    }
  } catch (const std::exception& e) {
    // Allocation failures and bugs end this connection, never the target.
    reason = e.what();
    spdlog::warn("nbd {}: {}", peer_name_, reason);
  }
  close_socket();
  co_await drain();  // no request may outlive the connection
  deadline_.cancel();
  phase_ = Phase::finished;
  if (export_)
    spdlog::info("nbd {}: closed export '{}' after {} requests: {}", peer_name_, export_->name(),
                 served_, reason);
  else
    spdlog::info("nbd {}: closed during handshake: {}", peer_name_, reason);
}

void NbdConnection::stop() {
  if (stopping_ || phase_ == Phase::finished) return;
  stopping_ = true;
  if (phase_ == Phase::handshake) {
    close_socket();
    return;
  }
  // The reader sees end-of-file and stops taking requests; replies still go
  // out. A client that stops reading them is cut off after drain_timeout.
  error_code ignored;
  socket_.shutdown(Socket::shutdown_receive, ignored);
  wake();
  std::weak_ptr<NbdConnection> weak = weak_from_this();
  deadline_.expires_after(limits_.drain_timeout);
  deadline_.async_wait([weak](const error_code& ec) {
    if (auto self = weak.lock(); self && !ec) self->close_socket();
  });
}

// --- Handshake ------------------------------------------------------------------

asio::awaitable<bool> NbdConnection::handshake(std::string& reason) {
  nbd::ServerGreeting greeting;
  greeting.magic = nbd::kNbdMagic;
  greeting.opt_magic = nbd::kIHaveOpt;
  greeting.handshake_flags = nbd_codec::kHandshakeFlags;
  if (auto ec = co_await write_all(const_bytes_of(greeting))) {
    reason = describe(ec);
    co_return false;
  }
  nbd::ClientFlags client;
  if (auto ec = co_await read_exact(bytes_of(client))) {
    reason = describe(ec);
    co_return false;
  }
  uint32_t flags = client.flags.value();
  if ((flags & ~nbd_codec::kKnownClientFlags) != 0) {
    reason = fmt::format("unknown client flags {:#x}", flags);
    co_return false;
  }
  no_zeroes_ = (flags & nbd::kFlagCNoZeroes) != 0;

  std::vector<std::byte> data;
  std::vector<std::byte> out;
  for (;;) {
    nbd::OptionHeader header;
    if (auto ec = co_await read_exact(bytes_of(header))) {
      reason = describe(ec);
      co_return false;
    }
    if (header.magic.value() != nbd::kIHaveOpt) {
      reason = "bad option magic";
      spdlog::warn("nbd {}: {}", peer_name_, reason);
      co_return false;
    }
    const uint32_t option = header.option.value();
    const uint32_t length = header.length.value();
    spdlog::debug("nbd {}: option {} ({} bytes)", peer_name_, nbd::option_name(option), length);
    out.clear();
    if (length > nbd::kMaxOptionLength) {
      if (length > kMaxOptionSkip) {
        reason = fmt::format("{} with {} bytes of data", nbd::option_name(option), length);
        spdlog::warn("nbd {}: {}", peer_name_, reason);
        co_return false;
      }
      if (auto ec = co_await skip(length)) {
        reason = describe(ec);
        co_return false;
      }
      nbd_codec::append_option_reply(out, option, nbd::kRepErrTooBig, "option data too large");
    } else {
      data.resize(length);
      if (auto ec = co_await read_exact(data)) {
        reason = describe(ec);
        co_return false;
      }
      auto result = nbd_codec::handle_option(option, data, exports_, peer_, no_zeroes_, structured_, out);
      if (!result.warning.empty()) spdlog::warn("nbd {}: {}", peer_name_, result.warning);
      if (result.next == nbd_codec::OptionResult::Next::abort) {
        if (!out.empty()) co_await write_all(out);  // the client may already be gone
        reason = result.reason;
        co_return false;
      }
      if (result.next == nbd_codec::OptionResult::Next::go) {
        if (auto ec = co_await write_all(out)) {
          reason = describe(ec);
          co_return false;
        }
        export_ = result.exp;
        session_count_ = stats::SessionCount(export_->stats(stats::Transport::nbd));
        co_return true;
      }
    }
    if (auto ec = co_await write_all(out)) {
      reason = describe(ec);
      co_return false;
    }
  }
}

// --- Transmission ---------------------------------------------------------------

asio::awaitable<std::string> NbdConnection::transmission() {
  using Action = nbd_codec::Verdict::Action;
  std::string reason;
  corked_ = true;
  for (;;) {
    while (!stopping_ && !broken_ &&
           (in_flight_ >= limits_.max_in_flight || in_flight_bytes_ >= limits_.max_in_flight_bytes))
      co_await wait_for_change();
    if (stopping_ || broken_) {
      reason = stopping_ ? "target shutting down" : "send failed";
      break;
    }
    nbd::Request header;
    if (auto ec = co_await read_exact(bytes_of(header))) {
      reason = describe(ec);
      break;
    }
    if (header.magic.value() != nbd::kRequestMagic) {
      reason = "bad request magic";
      spdlog::warn("nbd {}: {}", peer_name_, reason);
      break;
    }
    if (header.type.value() == nbd::kCmdDisc) {
      reason = "client disconnected";
      break;
    }
    auto verdict = nbd_codec::check_request(header, *export_, structured_);
    if (verdict.action == Action::disconnect) {
      reason = verdict.message;
      spdlog::warn("nbd {}: {}", peer_name_, reason);
      break;
    }
    Request& r = acquire(header, verdict.op);
    if (r.type == nbd::kCmdWrite) {
      if (auto ec = co_await receive_payload(r, verdict.action == Action::serve)) {
        release(r);
        reason = describe(ec);
        break;
      }
    }
    if (r.error == nbd::kENoMem) {
      finish(r, r.error, "out of memory");
      continue;
    }
    if (verdict.action == Action::fail) {
      spdlog::debug("nbd {}: {} offset {} length {}: {}", peer_name_, nbd::command_name(r.type),
                    r.offset, r.length, verdict.message);
      finish(r, verdict.error, verdict.message);
      continue;
    }
    execute(r);
  }
  co_await drain();
  co_return reason;
}

NbdConnection::Request& NbdConnection::acquire(const nbd::Request& header, IoOp op) {
  Request* r;
  if (free_.empty()) {
    all_.push_back(std::make_unique<Request>(*this));
    r = all_.back().get();
  } else {
    r = free_.back();
    free_.pop_back();
  }
  const uint16_t flags = header.flags.value();
  r->state = Request::State::receiving;
  r->started = stats::now();
  r->type = header.type.value();
  r->cookie = header.cookie.value();
  r->error = 0;
  r->message = "";
  r->reply_data = nullptr;
  r->op = op;
  r->offset = header.offset.value();
  r->length = header.length.value();
  r->fua = (flags & nbd::kCmdFlagFua) != 0;
  r->may_unmap = (flags & nbd::kCmdFlagNoHole) == 0;
  r->data = nullptr;
  r->charged = r->type == nbd::kCmdRead || r->type == nbd::kCmdWrite ? r->length : 0;
  ++in_flight_;
  in_flight_bytes_ += r->charged;
  return *r;
}

asio::awaitable<error_code> NbdConnection::receive_payload(Request& r, bool keep) {
  if (!keep) co_return co_await skip(r.length);
  // Memory exports take the payload straight off the socket.
  if (auto region = export_->backend().region(); !region.empty()) {
    r.data = region.data() + r.offset;
  } else {
    try {
      r.buffer = buffers_.get(r.length);
    } catch (const std::bad_alloc&) {
      r.error = nbd::kENoMem;  // answered once the payload is skipped
    }
    if (!r.buffer) co_return co_await skip(r.length);
    r.data = r.buffer.data();
  }
  co_return co_await read_exact({r.data, r.length});
}

void NbdConnection::execute(Request& r) {
  ++served_;
  auto region = export_->backend().region();
  if (!region.empty() && (r.op == IoOp::read || r.op == IoOp::write)) {
    // Reads are sent from export memory; writes have already landed there.
    if (r.op == IoOp::read) r.reply_data = region.data() + r.offset;
    finish(r, 0, "");
    return;
  }
  if (r.op == IoOp::read) {
    try {
      r.buffer = buffers_.get(r.length);
    } catch (const std::bad_alloc&) {
      finish(r, nbd::kENoMem, "out of memory");
      return;
    }
    r.data = r.buffer.data();
    r.reply_data = r.data;
  }
  r.state = Request::State::executing;
  export_->backend().submit(engine_, r);
}

void NbdConnection::on_backend_done(Request& r, int error) {
  if (error != 0)
    spdlog::warn("nbd {}: export '{}': {} offset {} length {}: {}", peer_name_, export_->name(),
                 nbd::command_name(r.type), r.offset, r.length, std::strerror(error));
  finish(r, nbd_codec::error_from_errno(error), error != 0 ? "I/O error on the export" : "");
}

void NbdConnection::finish(Request& r, uint32_t error, const char* message) {
  export_->stats(stats::Transport::nbd).record(r.op, r.length, error != 0, r.started);
  if (broken_) {
    release(r);
    return;
  }
  r.error = error;
  r.message = message;
  r.state = Request::State::queued;
  queue_.push_back(&r);
  if (!writing_ && !corked_) start_write();
}

void NbdConnection::release(Request& r) {
  r.buffer.reset();
  r.state = Request::State::idle;
  --in_flight_;
  in_flight_bytes_ -= r.charged;
  free_.push_back(&r);
  wake();
}

// --- Replies --------------------------------------------------------------------

void NbdConnection::append_reply(Request& r) {
  r.state = Request::State::sending;
  const bool read_data = r.type == nbd::kCmdRead && r.error == 0;
  size_t head_len = 0;
  auto put = [&](const auto& part) {
    std::memcpy(r.head.data() + head_len, &part, sizeof part);
    head_len += sizeof part;
  };
  if (structured_ && (r.error != 0 || read_data)) {
    nbd::StructuredReplyHeader h;
    h.magic = nbd::kStructuredReplyMagic;
    h.flags = nbd::kReplyFlagDone;
    h.cookie = r.cookie;
    if (r.error != 0) {
      const auto message_len = static_cast<uint16_t>(std::strlen(r.message));
      h.type = nbd::kReplyTypeError;
      h.length = sizeof(nbd::ErrorChunk) + message_len;
      nbd::ErrorChunk e;
      e.error = r.error;
      e.message_length = message_len;
      put(h);
      put(e);
      iov_.emplace_back(r.head.data(), head_len);
      iov_.emplace_back(r.message, message_len);
    } else if (r.length == 0) {
      h.type = nbd::kReplyTypeNone;  // OFFSET_DATA must carry at least one byte
      h.length = 0;
      put(h);
      iov_.emplace_back(r.head.data(), head_len);
    } else {
      h.type = nbd::kReplyTypeOffsetData;
      h.length = sizeof(nbd::OffsetDataChunk) + r.length;
      nbd::OffsetDataChunk d;
      d.offset = r.offset;
      put(h);
      put(d);
      iov_.emplace_back(r.head.data(), head_len);
      iov_.emplace_back(r.reply_data, r.length);
    }
    return;
  }
  nbd::SimpleReply h;
  h.magic = nbd::kSimpleReplyMagic;
  h.error = r.error;
  h.cookie = r.cookie;
  put(h);
  iov_.emplace_back(r.head.data(), head_len);
  if (read_data && r.length != 0) iov_.emplace_back(r.reply_data, r.length);
}

void NbdConnection::start_write() {
  writing_ = true;
  sending_.swap(queue_);
  iov_.clear();
  for (Request* r : sending_) append_reply(*r);
  // A span keeps asio from copying the buffer vector per write.
  asio::async_write(socket_, std::span<const asio::const_buffer>(iov_),
                    [self = shared_from_this()](const error_code& ec, size_t) { self->on_write_done(ec); });
}

void NbdConnection::on_write_done(const error_code& ec) {
  writing_ = false;
  for (Request* r : sending_) release(*r);
  sending_.clear();
  if (ec) {
    if (!broken_) spdlog::debug("nbd {}: send failed: {}", peer_name_, ec.message());
    broken_ = true;
    close_socket();  // the reader stops too
    for (Request* r : std::exchange(queue_, {})) release(*r);
    return;
  }
  if (!queue_.empty() && !corked_) start_write();
}

void NbdConnection::uncork() {
  corked_ = false;
  if (!writing_ && !queue_.empty()) start_write();
}

// --- Plumbing -------------------------------------------------------------------

asio::awaitable<void> NbdConnection::wait_for_change() {
  uncork();
  reader_waiting_ = true;
  error_code ignored;
  co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  reader_waiting_ = false;
  corked_ = true;
}

void NbdConnection::wake() {
  if (reader_waiting_) wake_.cancel();
}

asio::awaitable<void> NbdConnection::drain() {
  while (in_flight_ > 0) co_await wait_for_change();
  uncork();
}

asio::awaitable<error_code> NbdConnection::read_exact(std::span<std::byte> dest) {
  // Empty option data is an empty vector whose data() may be null, and
  // memcpy from or to null is undefined even for 0 bytes (UBSan).
  if (dest.empty()) co_return error_code{};
  size_t have = std::min(dest.size(), in_end_ - in_begin_);
  std::memcpy(dest.data(), in_.data() + in_begin_, have);
  in_begin_ += have;
  dest = dest.subspan(have);
  if (dest.empty()) co_return error_code{};
  in_begin_ = in_end_ = 0;
  error_code ec;
  uncork();
  if (dest.size() >= in_.size() / 2) {
    // Large payloads go straight to their destination.
    co_await asio::async_read(socket_, asio::buffer(dest.data(), dest.size()),
                              asio::redirect_error(asio::use_awaitable, ec));
  } else {
    // Small reads take whatever else has arrived (usually more requests).
    while (!ec && in_end_ < dest.size()) {
      in_end_ += co_await socket_.async_read_some(asio::buffer(in_.data() + in_end_, in_.size() - in_end_),
                                                  asio::redirect_error(asio::use_awaitable, ec));
    }
    if (!ec) {
      std::memcpy(dest.data(), in_.data(), dest.size());
      in_begin_ = dest.size();
    }
  }
  corked_ = true;
  co_return ec;
}

asio::awaitable<error_code> NbdConnection::skip(uint64_t len) {
  error_code ec;
  for (;;) {
    size_t have = static_cast<size_t>(std::min<uint64_t>(len, in_end_ - in_begin_));
    in_begin_ += have;
    len -= have;
    if (len == 0) break;
    in_begin_ = in_end_ = 0;
    uncork();
    in_end_ = co_await socket_.async_read_some(asio::buffer(in_), asio::redirect_error(asio::use_awaitable, ec));
    corked_ = true;
    if (ec) break;
  }
  co_return ec;
}

asio::awaitable<error_code> NbdConnection::write_all(std::span<const std::byte> data) {
  error_code ec;
  co_await asio::async_write(socket_, asio::buffer(data.data(), data.size()),
                             asio::redirect_error(asio::use_awaitable, ec));
  co_return ec;
}

void NbdConnection::close_socket() {
  error_code ignored;
  socket_.close(ignored);
}

std::string NbdConnection::describe(const error_code& ec) const {
  if (ec == asio::error::eof) return stopping_ ? "target shutting down" : "client closed the connection";
  if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor) {
    if (timed_out_) return "handshake timed out";
    if (stopping_) return "target shutting down";
  }
  return ec.message();
}

}  // namespace rdmablk::target
