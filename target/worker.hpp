#pragma once
// Worker threads: each runs one io_context with its own io_uring and buffer
// pool; connections are spread over them round robin and stay on one
// worker for life, so per-connection state needs no locks.
#include <atomic>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include "buffer_pool.hpp"
#include "io_engine.hpp"

namespace rdmablk::target {

class Worker {
 public:
  Worker(unsigned index, boost::asio::thread_pool& blocking);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  unsigned index() const { return index_; }
  boost::asio::io_context& context() { return ctx_; }
  IoEngine& engine() { return *engine_; }
  BufferPool& buffers() { return buffers_; }

  // Starts the thread; returns once its io_uring is set up.
  void start();
  // Stops the loop and joins the thread; call once the worker is idle.
  void stop();

 private:
  unsigned index_;
  boost::asio::io_context ctx_{1};  // run by one thread only
  boost::asio::thread_pool& blocking_;
  std::optional<IoEngine> engine_;  // created on the worker thread, which owns the ring
  BufferPool buffers_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
  std::thread thread_;
};

class WorkerPool {
 public:
  WorkerPool(unsigned count, boost::asio::thread_pool& blocking);
  ~WorkerPool();

  Worker& next();  // round robin
  std::vector<std::unique_ptr<Worker>>& all() { return workers_; }
  void stop();

 private:
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<unsigned> next_{0};
};

}  // namespace rdmablk::target
