// An elastic pool of threads for work that blocks (streams, backend calls, disk I/O):
// a task never waits for another to finish, because a new thread is started when none
// is idle. Idle threads beyond `keep_idle` exit after a while.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>

namespace sockerless {

class WorkerPool {
 public:
  explicit WorkerPool(std::size_t keep_idle = 4);
  ~WorkerPool();  // waits for every task to finish
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void submit(std::function<void()> task);
  std::size_t threads() const;

 private:
  void run();

  mutable std::mutex mu_;
  std::condition_variable work_cv_, done_cv_;
  std::deque<std::function<void()>> queue_;
  std::size_t keep_idle_;
  std::size_t threads_ = 0, idle_ = 0;
  bool stopping_ = false;
};

}  // namespace sockerless
