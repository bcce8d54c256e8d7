#include "nbd_connection.hpp"

#include <cstring>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace rdmablk::nbd {

namespace {

// Big enough that a burst of small replies costs one recv(); replies up to
// half of it are parsed from the buffer, larger payloads bypass it.
constexpr size_t kReadBufferSize = 256 * 1024;
// Chunks without data carry at most an error message and an offset.
constexpr uint32_t kMaxControlChunk = 64 + kMaxStringLength;

// Payload of NBD_REPLY_TYPE_OFFSET_HOLE (not in nbd_proto.hpp).
struct OffsetHoleChunk {
  be64 offset;
  be32 length;
};
static_assert(sizeof(OffsetHoleChunk) == 12);

}  // namespace

Connection::Connection(tcp::socket socket, bool structured_replies, unsigned depth, std::string peer,
                       ConnectionEvents& events)
    : socket_(std::move(socket)),
      structured_(structured_replies),
      peer_(std::move(peer)),
      events_(events),
      slots_(depth),
      in_(kReadBufferSize) {
  free_.reserve(depth);
  for (uint32_t i = depth; i-- > 0;) free_.push_back(i);
  queued_.reserve(depth);
  writing_.reserve(depth);
  iov_.reserve(2 * size_t{depth});
}

void Connection::start() {
  asio::co_spawn(socket_.get_executor(), read_replies(), [this](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      spdlog::error("{}: reply reader failed: {}", peer_, ex.what());
    } catch (...) {
      spdlog::error("{}: reply reader failed", peer_);
    }
    fail(std::make_error_code(std::errc::io_error));
  });
}

void Connection::enqueue(Submission&& r, Clock::time_point deadline) {
  uint32_t i = free_.back();
  free_.pop_back();
  Slot& s = slots_[i];
  s.state = Slot::State::queued;
  s.req = std::move(r);
  s.deadline = deadline;
  s.bytes_done = 0;
  s.error = {};
  s.header.magic = kRequestMagic;
  s.header.flags = s.req.flags;
  s.header.type = s.req.type;
  s.header.cookie = uint64_t{s.generation} << 32 | i;
  s.header.offset = s.req.offset;
  s.header.length = s.req.length;
  queued_.push_back(i);
}

void Connection::start_writing() {
  if (write_busy_ || dead_) return;
  if (queued_.empty()) {
    if (disconnecting_ && idle()) {
      disc_.magic = kRequestMagic;
      disc_.flags = 0;
      disc_.type = kCmdDisc;
      disc_.cookie = 0;
      disc_.offset = 0;
      disc_.length = 0;
      write_busy_ = true;
      asio::async_write(socket_, asio::buffer(&disc_, sizeof disc_), [this](boost_error, size_t) {
        write_busy_ = false;
        dead_ = true;  // a clean end: nothing left to fail
        boost_error ignored;
        socket_.shutdown(tcp::socket::shutdown_both, ignored);
        socket_.close(ignored);
      });
    }
    return;
  }
  // Every queued header and its data in one gather write.
  iov_.clear();
  for (uint32_t i : queued_) {
    Slot& s = slots_[i];
    s.state = Slot::State::sending;
    iov_.push_back(asio::buffer(&s.header, sizeof s.header));
    if (s.req.type == kCmdWrite) iov_.push_back(asio::buffer(s.req.data, s.req.length));
  }
  writing_.swap(queued_);
  write_busy_ = true;
  asio::async_write(socket_, std::span<const asio::const_buffer>(iov_),
                    [this](boost_error ec, size_t) { on_written(ec); });
}

void Connection::on_written(boost_error ec) {
  write_busy_ = false;
  if (dead_) {
    writing_.clear();
    return;
  }
  if (ec) {
    fail(to_errno(ec));
    return;
  }
  // A slot whose reply already came may have been reused: it is queued then.
  for (uint32_t i : writing_)
    if (slots_[i].state == Slot::State::sending) slots_[i].state = Slot::State::waiting;
  writing_.clear();
  start_writing();
}

void Connection::check_deadlines(Clock::time_point now) {
  if (dead_) return;
  for (const Slot& s : slots_) {
    if (s.state != Slot::State::free && s.deadline <= now) {
      spdlog::warn("{}: {} of {} bytes at offset {} timed out; closing the connection", peer_,
                   command_name(s.req.type), s.req.length, s.req.offset);
      fail(std::make_error_code(std::errc::timed_out));
      return;
    }
  }
}

void Connection::disconnect() {
  disconnecting_ = true;
  start_writing();
}

void Connection::fail(std::error_code why) {
  if (dead_) return;
  dead_ = true;
  boost_error ignored;
  socket_.close(ignored);
  queued_.clear();
  for (Slot& s : slots_)
    if (s.state != Slot::State::free) complete(s, why);
  events_.on_dead();
}

void Connection::protocol_error(const std::string& what) {
  spdlog::warn("{}: NBD protocol error: {}; closing the connection", peer_, what);
  fail(std::make_error_code(std::errc::io_error));
}

Connection::Slot* Connection::find(uint64_t cookie) {
  uint32_t i = static_cast<uint32_t>(cookie);
  if (i >= slots_.size()) return nullptr;
  Slot& s = slots_[i];
  if (s.generation != cookie >> 32) return nullptr;
  if (s.state != Slot::State::sending && s.state != Slot::State::waiting) return nullptr;
  return &s;
}

void Connection::complete(Slot& s, std::error_code ec) {
  Completion done = std::move(s.req.done);
  s.req.done = nullptr;
  s.state = Slot::State::free;
  ++s.generation;
  free_.push_back(static_cast<uint32_t>(&s - slots_.data()));
  events_.on_slot_free();
  invoke(done, ec);
}

asio::awaitable<void> Connection::read_replies() {
  boost_error ec;
  for (;;) {
    size_t need = 0;
    while (!dead_ && !payload_.slot && (need = parse_one()) == 0) {
    }
    if (dead_) co_return;  // a protocol error, or failed while we waited
    if (payload_.slot) {
      co_await asio::async_read(socket_, asio::buffer(payload_.rest.data(), payload_.rest.size()),
                                asio::redirect_error(asio::use_awaitable, ec));
      if (ec || dead_) break;
      Payload p = std::exchange(payload_, {});
      data_done(*p.slot, p.length, p.chunk, p.flags);
    } else {
      size_t got = co_await socket_.async_read_some(in_.space_for(need), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
      in_.commit(got);
    }
  }
  if (dead_) co_return;  // we closed the socket ourselves
  if (!idle()) spdlog::warn("{}: connection lost with requests in flight: {}", peer_, ec.message());
  fail(to_errno(ec));
}

size_t Connection::parse_one() {
  if (in_.size() < 4) return 4;
  uint32_t magic = load<be32>(in_.data()).value();
  if (magic == kSimpleReplyMagic) return parse_simple();
  if (magic == kStructuredReplyMagic && structured_) return parse_chunk();
  protocol_error(fmt::format("bad reply magic {:#010x}", magic));
  return 0;
}

size_t Connection::parse_simple() {
  constexpr size_t header = sizeof(SimpleReply);
  if (in_.size() < header) return header;
  auto r = load<SimpleReply>(in_.data());
  Slot* s = find(r.cookie.value());
  if (!s) {
    protocol_error(fmt::format("reply for unknown cookie {:#x}", r.cookie.value()));
    return 0;
  }
  if (r.error.value() == 0 && s->req.type == kCmdRead)
    return take_data(*s, header, s->req.data, s->req.length, false, kReplyFlagDone);
  in_.consume(header);
  complete(*s, r.error.value() ? from_nbd_error(r.error.value()) : std::error_code{});
  return 0;
}

size_t Connection::parse_chunk() {
  constexpr size_t header = sizeof(StructuredReplyHeader);
  if (in_.size() < header) return header;
  auto h = load<StructuredReplyHeader>(in_.data());
  Slot* s = find(h.cookie.value());
  if (!s) {
    protocol_error(fmt::format("reply chunk for unknown cookie {:#x}", h.cookie.value()));
    return 0;
  }
  Submission& r = s->req;
  uint16_t flags = h.flags.value(), type = h.type.value();
  uint32_t length = h.length.value();
  const std::byte* payload = in_.data() + header;
  // A data or hole chunk must lie inside the request and not overfill it.
  auto in_range = [&](uint64_t off, uint64_t n) {
    return off >= r.offset && off - r.offset <= r.length && n <= r.length - (off - r.offset) &&
           n <= r.length - s->bytes_done;
  };
  switch (type) {
    case kReplyTypeOffsetData: {
      if (r.type != kCmdRead || length < sizeof(OffsetDataChunk) || length - sizeof(OffsetDataChunk) > r.length) {
        protocol_error(fmt::format("OFFSET_DATA chunk of {} bytes for {} of {}", length, command_name(r.type),
                                   r.length));
        return 0;
      }
      if (in_.size() < header + sizeof(OffsetDataChunk)) return header + sizeof(OffsetDataChunk);
      uint64_t off = load<OffsetDataChunk>(payload).offset.value();
      uint64_t n = length - sizeof(OffsetDataChunk);
      if (!in_range(off, n)) {
        protocol_error(fmt::format("OFFSET_DATA {}+{} outside the request {}+{}", off, n, r.offset, r.length));
        return 0;
      }
      return take_data(*s, header + sizeof(OffsetDataChunk), r.data + (off - r.offset), n, true, flags);
    }
    case kReplyTypeOffsetHole: {
      if (r.type != kCmdRead || length != sizeof(OffsetHoleChunk)) {
        protocol_error(fmt::format("OFFSET_HOLE chunk of {} bytes for {}", length, command_name(r.type)));
        return 0;
      }
      if (in_.size() < header + length) return header + length;
      auto hole = load<OffsetHoleChunk>(payload);
      uint64_t off = hole.offset.value(), n = hole.length.value();
      if (!in_range(off, n)) {
        protocol_error(fmt::format("OFFSET_HOLE {}+{} outside the request {}+{}", off, n, r.offset, r.length));
        return 0;
      }
      std::memset(r.data + (off - r.offset), 0, n);
      s->bytes_done += n;
      break;
    }
    case kReplyTypeNone:
      if (length != 0 || !(flags & kReplyFlagDone)) {
        protocol_error("NONE chunk with a payload or without the DONE flag");
        return 0;
      }
      break;
    default: {
      // Error chunks, known or not, start with an error number and a message.
      if (!(type & 0x8000u)) {
        protocol_error(fmt::format("unknown reply chunk type {}", type));
        return 0;
      }
      if (length < sizeof(ErrorChunk) || length > kMaxControlChunk) {
        protocol_error(fmt::format("error chunk of {} bytes", length));
        return 0;
      }
      if (in_.size() < header + length) return header + length;
      auto e = load<ErrorChunk>(payload);
      uint32_t msg_len = e.message_length.value();
      uint32_t expect = sizeof(ErrorChunk) + msg_len + (type == kReplyTypeErrorOffset ? 8 : 0);
      if (type == kReplyTypeError || type == kReplyTypeErrorOffset ? length != expect : length < expect) {
        protocol_error(fmt::format("error chunk of {} bytes with a {}-byte message", length, msg_len));
        return 0;
      }
      std::string_view msg(reinterpret_cast<const char*>(payload) + sizeof(ErrorChunk), msg_len);
      spdlog::debug("{}: {} at offset {} failed: error {} {}", peer_, command_name(r.type), r.offset,
                    e.error.value(), msg);
      if (!s->error) s->error = from_nbd_error(e.error.value() ? e.error.value() : kEIo);
      break;
    }
  }
  in_.consume(header + length);
  chunk_done(*s, flags);
  return 0;
}

// Moves the n payload bytes behind a header into dst: from the buffer if
// they are all there; by waiting for them if the reply fits the buffer
// comfortably; otherwise straight from the socket (read_replies).
size_t Connection::take_data(Slot& s, size_t header, std::byte* dst, size_t n, bool chunk, uint16_t flags) {
  if (in_.size() >= header + n) {
    std::memcpy(dst, in_.data() + header, n);
    in_.consume(header + n);
    data_done(s, n, chunk, flags);
    return 0;
  }
  if (header + n <= in_.capacity() / 2) return header + n;
  in_.consume(header);
  size_t have = in_.size();
  std::memcpy(dst, in_.data(), have);
  in_.consume(have);
  payload_ = {&s, {dst + have, n - have}, n, chunk, flags};
  return 0;
}

void Connection::data_done(Slot& s, size_t n, bool chunk, uint16_t flags) {
  if (!chunk) {
    complete(s, {});
    return;
  }
  s.bytes_done += n;
  chunk_done(s, flags);
}

void Connection::chunk_done(Slot& s, uint16_t flags) {
  if (!(flags & kReplyFlagDone)) return;
  if (!s.error && s.req.type == kCmdRead && s.bytes_done != s.req.length) {
    protocol_error(fmt::format("read reply covers {} of {} bytes", s.bytes_done, s.req.length));
    return;
  }
  complete(s, s.error);
}

}  // namespace rdmablk::nbd
