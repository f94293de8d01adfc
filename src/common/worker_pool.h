// An elastic pool of threads for work that blocks (streams, backend calls, disk I/O):
// a task never waits for another to finish, because a new thread is started when none
// is idle. Idle threads beyond `keep_idle` exit after a while.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>

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
  // Shared with the (detached) threads, so the last one to leave can still touch it
  // after the pool itself is gone.
  struct State;
  static void run(std::shared_ptr<State> state);
  std::shared_ptr<State> state_;
};

}  // namespace sockerless
