#include "rbd_backend.hpp"

#include <rados/librados.h>
#include <rbd/librbd.h>

#include <cerrno>
#include <cstring>
#include <system_error>
#include <vector>

#include <boost/asio/post.hpp>
#include <fmt/format.h>

#include "io_engine.hpp"
#include "rdmablk/proto.h"
#include "rdmablk/units.hpp"

namespace rdmablk::target {

namespace {

[[noreturn]] void fail(int error, const std::string& what) {
  throw std::system_error(error, std::generic_category(), what);
}

std::string feature_names(uint64_t features) {
  static constexpr std::pair<uint64_t, const char*> kNames[] = {
      {RBD_FEATURE_LAYERING, "layering"},         {RBD_FEATURE_STRIPINGV2, "striping"},
      {RBD_FEATURE_EXCLUSIVE_LOCK, "exclusive-lock"}, {RBD_FEATURE_OBJECT_MAP, "object-map"},
      {RBD_FEATURE_FAST_DIFF, "fast-diff"},       {RBD_FEATURE_DEEP_FLATTEN, "deep-flatten"},
      {RBD_FEATURE_JOURNALING, "journaling"},     {RBD_FEATURE_DATA_POOL, "data-pool"},
  };
  std::string out;
  for (auto [bit, name] : kNames)
    if (features & bit) out += fmt::format("{}{}", out.empty() ? "" : "+", name);
  return out.empty() ? "none" : out;
}

}  // namespace

// Member order is the unwind order: the image closes before its pool's
// context, the context before the cluster connection.
struct RbdBackend::Handles {
  rados_t cluster = nullptr;
  bool connected = false;
  rados_ioctx_t ioctx = nullptr;
  rbd_image_t image = nullptr;

  ~Handles() {
    if (image) rbd_close(image);  // waits for librbd's requests in flight
    if (ioctx) rados_ioctx_destroy(ioctx);
    if (cluster) rados_shutdown(cluster);
  }
};

RbdBackend::RbdBackend(const RbdConfig& config, bool read_only)
    : config_(config), handles_(std::make_unique<Handles>()), read_only_(read_only) {
  const std::string where = fmt::format("rbd:{}", config.location());
  const std::string user = fmt::format("client.{}", config.id.empty() ? "admin" : config.id);
  Handles& h = *handles_;
  if (int r = rados_create2(&h.cluster, "ceph", user.c_str(), 0); r < 0)
    fail(-r, where + ": cannot create a librados handle");
  // Our settings go after the conf file, so they win: bounded waits for
  // the connection and every operation, no client cache, zero-copy writes.
  int r = rados_conf_read_file(h.cluster, config.conf.empty() ? nullptr : config.conf.c_str());
  if (r < 0)
    fail(-r, config.conf.empty()
                 ? where + ": no Ceph configuration found (give conf=FILE)"
                 : fmt::format("{}: cannot read Ceph configuration '{}'", where, config.conf));
  const std::string timeout = std::to_string(config.timeout);
  std::vector<std::pair<const char*, std::string>> settings = {
      {"client_mount_timeout", timeout},
      {"rados_mon_op_timeout", timeout},
      {"rados_osd_op_timeout", timeout},
      // Several gateways may serve one image: a client-side cache would
      // hold writes back (FLUSH) and serve stale reads to the others.
      {"rbd_cache", "false"},
      // The transport leaves the buffer alone until the request completes,
      // so librbd may send straight from it.
      {"rbd_disable_zero_copy_writes", "false"},
  };
  if (!config.keyring.empty()) settings.emplace_back("keyring", config.keyring);
  for (const auto& [key, value] : settings)
    if ((r = rados_conf_set(h.cluster, key, value.c_str())) < 0)
      fail(-r, fmt::format("{}: cannot set {}={}", where, key, value));

  r = rados_connect(h.cluster);
  if (r < 0) {
    if (r == -EACCES || r == -EPERM)
      fail(-r, fmt::format("{}: {} was refused by the monitors (wrong key or keyring?)", where, user));
    if (r == -ETIMEDOUT)
      fail(-r, fmt::format("{}: no monitor answered within {} s (cluster down? mon host in the conf?)",
                           where, config.timeout));
    if (r == -ENOENT)
      fail(-r, fmt::format("{}: no key for {} (keyring=FILE, or the conf's keyring)", where, user));
    fail(-r, fmt::format("{}: cannot connect to the cluster as {}", where, user));
  }
  h.connected = true;
  r = rados_ioctx_create(h.cluster, config.pool.c_str(), &h.ioctx);
  if (r < 0)
    fail(-r, r == -ENOENT ? fmt::format("{}: pool '{}' does not exist", where, config.pool)
                          : fmt::format("{}: cannot open pool '{}'", where, config.pool));
  if (!config.pool_namespace.empty()) rados_ioctx_set_namespace(h.ioctx, config.pool_namespace.c_str());
  r = read_only ? rbd_open_read_only(h.ioctx, config.image.c_str(), &h.image, nullptr)
                : rbd_open(h.ioctx, config.image.c_str(), &h.image, nullptr);
  if (r < 0) {
    h.image = nullptr;
    if (r == -ENOENT) fail(-r, fmt::format("{}: image '{}' does not exist", where, config.image));
    if (r == -EACCES || r == -EPERM)
      fail(-r, fmt::format("{}: {} may not open the image (its caps?)", where, user));
    fail(-r, fmt::format("{}: cannot open image '{}'", where, config.image));
  }
  if ((r = rbd_get_size(h.image, &size_)) < 0) fail(-r, where + ": cannot read the image size");
  if (size_ == 0) fail(EINVAL, where + ": the image's size is 0");
  rbd_image_info_t info{};
  if ((r = rbd_stat(h.image, &info, sizeof info)) < 0) fail(-r, where + ": cannot stat the image");
  object_size_ = info.obj_size;
  if ((r = rbd_get_features(h.image, &features_)) < 0) fail(-r, where + ": cannot read its features");
  char id[64] = {};
  if (rbd_get_id(h.image, id, sizeof id) == 0) image_id_ = id;
  char fsid[64] = {};
  if (!image_id_.empty() && rados_cluster_fsid(h.cluster, fsid, sizeof fsid) >= 0) {
    std::string cluster(fsid);
    std::erase(cluster, '-');
    std::string ident = fmt::format("rbd.{}.{}.{}", cluster.substr(0, 8), rados_ioctx_get_id(h.ioctx), image_id_);
    if (ident.size() <= RDMABLK_EXPORT_ID_MAX) identity_ = std::move(ident);
  }
}

RbdBackend::~RbdBackend() = default;

std::string RbdBackend::describe() const {
  return fmt::format("RBD image {} (id {}), {}, objects of {}, features {}, as client.{}{}",
                     config_.location(), image_id_.empty() ? "?" : image_id_, format_size(size_),
                     format_size(object_size_), feature_names(features_),
                     config_.id.empty() ? "admin" : config_.id, read_only_ ? ", read-only" : "");
}

void RbdBackend::submit(IoEngine& engine, Io& io) {
  // owner carries the engine: the librbd thread needs the worker's loop.
  io.progress = {&RbdBackend::on_result, &engine, 0, 0};
  if (io.op != IoOp::flush && io.length == 0) return io.complete(0);
  rbd_completion_t c = nullptr;
  int r = rbd_aio_create_completion(&io, reinterpret_cast<rbd_callback_t>(&on_librbd_complete), &c);
  if (r < 0) return io.complete(-r);
  rbd_image_t image = handles_->image;
  auto* data = reinterpret_cast<char*>(io.data);
  switch (io.op) {
    case IoOp::read:
      r = rbd_aio_read(image, io.offset, io.length, data, c);
      break;
    case IoOp::write:
      r = rbd_aio_write(image, io.offset, io.length, data, c);
      break;
    case IoOp::flush:
      r = rbd_aio_flush(image, c);
      break;
    case IoOp::discard:
      r = rbd_aio_discard(image, io.offset, io.length, c);
      break;
    case IoOp::write_zeroes:
      r = rbd_aio_write_zeroes(image, io.offset, io.length, c,
                               io.may_unmap ? 0 : RBD_WRITE_ZEROES_FLAG_THICK_PROVISION, 0);
      break;
  }
  if (r < 0) {
    rbd_aio_release(c);
    io.complete(-r);
  }
}

// On a librbd thread: take the result, free the completion and hand the
// rest to the worker that submitted the request.
void RbdBackend::on_librbd_complete(void* completion, void* arg) {
  auto c = static_cast<rbd_completion_t>(completion);
  auto& io = *static_cast<Io*>(arg);
  ssize_t r = rbd_aio_get_return_value(c);
  rbd_aio_release(c);
  int result = r < 0 ? static_cast<int>(r) : 0;
  // A read past a shrunk image's end comes back short: report it, never
  // hand out bytes nobody wrote.
  if (io.op == IoOp::read && r >= 0 && static_cast<uint64_t>(r) != io.length) result = -EIO;
  auto& engine = *static_cast<IoEngine*>(const_cast<void*>(io.progress.owner));
  boost::asio::post(engine.context(), [&engine, &io, result] { io.progress.on_event(engine, io, result); });
}

void RbdBackend::on_result(IoEngine&, Io& io, int result) { io.complete(result < 0 ? -result : 0); }

int RbdBackend::sync() {
  int r = rbd_flush(handles_->image);
  return r < 0 ? -r : 0;
}

}  // namespace rdmablk::target
