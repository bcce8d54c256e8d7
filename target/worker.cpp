#include "worker.hpp"

#include <pthread.h>

#include <future>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace rdmablk::target {

Worker::Worker(unsigned index, boost::asio::thread_pool& blocking) : index_(index), blocking_(blocking) {}

Worker::~Worker() { stop(); }

void Worker::start() {
  guard_.emplace(ctx_.get_executor());
  std::promise<void> ready;
  thread_ = std::thread([this, &ready] {
    pthread_setname_np(pthread_self(), fmt::format("worker{}", index_).c_str());
    engine_.emplace(ctx_, blocking_);
    ready.set_value();
    try {
      ctx_.run();
    } catch (const std::exception& e) {
      // Handlers catch their own errors; reaching here is a bug.
      spdlog::critical("worker {}: {}", index_, e.what());
      std::abort();
    }
  });
  ready.get_future().wait();
}

void Worker::stop() {
  // The ring's eventfd read is always pending, so run() would not return on
  // its own; callers stop workers only once their connections are gone.
  guard_.reset();
  ctx_.stop();
  if (thread_.joinable()) thread_.join();
  engine_.reset();
}

WorkerPool::WorkerPool(unsigned count, boost::asio::thread_pool& blocking) {
  for (unsigned i = 0; i < count; ++i) workers_.push_back(std::make_unique<Worker>(i, blocking));
  for (auto& w : workers_) w->start();
}

WorkerPool::~WorkerPool() { stop(); }

Worker& WorkerPool::next() { return *workers_[next_.fetch_add(1) % workers_.size()]; }

void WorkerPool::stop() {
  for (auto& w : workers_) w->stop();
}

}  // namespace rdmablk::target
