#pragma once
// Ceph RBD image export through librbd's asynchronous C API. Requests go
// to librbd straight from and into the buffer the transport already holds
// (the registered bounce buffer): librbd reads into it, writes take it
// zero-copy. librbd completes on its own threads; the callback only posts
// the result to the submitting worker's io_context, where Io::complete()
// runs, so no request state is shared between threads and no lock of ours
// is on the path. Several gateways may serve one image: the client-side
// cache is always off (a write is durable in the cluster when it
// completes, so FUA needs nothing extra, and no gateway serves stale data).
#include <cstdint>
#include <memory>
#include <string>

#include "backend.hpp"
#include "rbd_config.hpp"

namespace rdmablk::target {

class RbdBackend final : public Backend {
 public:
  // Connects to the cluster and opens the image; every step bounded by
  // config.timeout. Throws std::system_error whose message says what failed
  // and what to check (pool or image missing, authentication, no monitor).
  RbdBackend(const RbdConfig& config, bool read_only);
  ~RbdBackend() override;

  uint64_t size() const override { return size_; }
  // RBD images address bytes; 512 is the smallest unit clients may use.
  uint32_t block_size() const override { return 512; }
  std::string describe() const override;
  void submit(IoEngine& engine, Io& io) override;
  int sync() override;

  // The image's id in its pool: the same for every gateway of one image.
  const std::string& image_id() const { return image_id_; }
  // "rbd.<first 8 hex digits of the cluster fsid>.<pool id>.<image id>",
  // or empty if that is over RDMABLK_EXPORT_ID_MAX (the export then needs
  // serial=).
  std::string identity() const override { return identity_; }

 private:
  struct Handles;  // librados cluster, io context, image; closed in reverse order

  static void on_librbd_complete(void* completion, void* arg);
  static void on_result(IoEngine& engine, Io& io, int result);

  RbdConfig config_;
  std::unique_ptr<Handles> handles_;
  uint64_t size_ = 0;
  uint64_t object_size_ = 0;
  uint64_t features_ = 0;
  std::string image_id_;
  std::string identity_;
  bool read_only_;
};

}  // namespace rdmablk::target
