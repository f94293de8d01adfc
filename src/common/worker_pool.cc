#include "common/worker_pool.h"

#include <chrono>
#include <thread>

namespace sockerless {

WorkerPool::WorkerPool(std::size_t keep_idle) : keep_idle_(keep_idle) {}

WorkerPool::~WorkerPool() {
  std::unique_lock lock(mu_);
  stopping_ = true;
  work_cv_.notify_all();
  done_cv_.wait(lock, [&] { return threads_ == 0; });
}

void WorkerPool::submit(std::function<void()> task) {
  std::lock_guard lock(mu_);
  queue_.push_back(std::move(task));
  if (idle_ >= queue_.size()) {
    work_cv_.notify_one();
    return;
  }
  ++threads_;
  std::thread([this] { run(); }).detach();
}

std::size_t WorkerPool::threads() const {
  std::lock_guard lock(mu_);
  return threads_;
}

void WorkerPool::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    if (queue_.empty()) {
      if (stopping_) break;
      ++idle_;
      bool woke = work_cv_.wait_for(lock, std::chrono::seconds(30),
                                    [&] { return !queue_.empty() || stopping_; });
      --idle_;
      if (!woke && threads_ > keep_idle_) break;
      continue;
    }
    auto task = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    task();
    task = nullptr;
    lock.lock();
  }
  --threads_;
  // Unlock and notify only once this thread is done touching the pool.
  std::notify_all_at_thread_exit(done_cv_, std::move(lock));
}

}  // namespace sockerless
