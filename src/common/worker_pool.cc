#include "common/worker_pool.h"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace sockerless {

struct WorkerPool::State {
  std::mutex mu;
  std::condition_variable work_cv, done_cv;
  std::deque<std::function<void()>> queue;
  std::size_t keep_idle = 4;
  std::size_t threads = 0, idle = 0;
  bool stopping = false;
};

WorkerPool::WorkerPool(std::size_t keep_idle) : state_(std::make_shared<State>()) {
  state_->keep_idle = keep_idle;
}

WorkerPool::~WorkerPool() {
  std::unique_lock lock(state_->mu);
  state_->stopping = true;
  state_->work_cv.notify_all();
  state_->done_cv.wait(lock, [&] { return state_->threads == 0; });
}

void WorkerPool::submit(std::function<void()> task) {
  std::lock_guard lock(state_->mu);
  state_->queue.push_back(std::move(task));
  if (state_->idle >= state_->queue.size()) {
    state_->work_cv.notify_one();
    return;
  }
  ++state_->threads;
  std::thread([s = state_] { run(s); }).detach();
}

std::size_t WorkerPool::threads() const {
  std::lock_guard lock(state_->mu);
  return state_->threads;
}

void WorkerPool::run(std::shared_ptr<State> s) {
  std::unique_lock lock(s->mu);
  for (;;) {
    if (s->queue.empty()) {
      if (s->stopping) break;
      ++s->idle;
      bool woke = s->work_cv.wait_for(lock, std::chrono::seconds(30),
                                      [&] { return !s->queue.empty() || s->stopping; });
      --s->idle;
      if (!woke && s->threads > s->keep_idle) break;
      continue;
    }
    auto task = std::move(s->queue.front());
    s->queue.pop_front();
    lock.unlock();
    task();
    task = nullptr;
    lock.lock();
  }
  --s->threads;
  s->done_cv.notify_all();
  // `s` keeps the state alive until this thread is done with it.
}

}  // namespace sockerless
