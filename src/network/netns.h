// Persistent network namespaces, bound to a file like `ip netns add` does, and a way to
// run code inside one without ever moving the calling thread: the work happens on a
// short-lived thread that setns()es, so the daemon's own threads stay in the host's netns.
#pragma once

#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "common/unique_fd.h"

namespace sockerless::network {

// Creates a new network namespace with `lo` up and bind-mounts it on `path` (a file it
// creates; the parent directory must exist). Throws NetError (EEXIST if `path` exists);
// on failure nothing is left behind.
void create_netns(const std::string& path);

// Unmounts (MNT_DETACH) and unlinks `path`. Idempotent: a missing path is not an error.
// The namespace itself lives on while a process or an open fd still holds it.
void remove_netns(const std::string& path);

// Opens the namespace bound at `path` (O_RDONLY|O_CLOEXEC). Throws NetError.
UniqueFd open_netns(const std::string& path);

// Runs `fn` on a new thread that has joined the network namespace `ns_fd`, waits for it,
// and rethrows whatever it threw. Sockets `fn` creates stay in that namespace for life,
// so a netlink or TCP socket made here can be used from any thread afterwards.
void run_in_netns(int ns_fd, const std::function<void()>& fn);

// The same, returning fn's result.
template <class F>
auto call_in_netns(int ns_fd, F&& fn) -> std::invoke_result_t<F> {
  using R = std::invoke_result_t<F>;
  if constexpr (std::is_void_v<R>) {
    run_in_netns(ns_fd, std::forward<F>(fn));
  } else {
    std::optional<R> result;
    run_in_netns(ns_fd, [&] { result.emplace(fn()); });
    return std::move(*result);
  }
}

// RAII for a namespace a scope owns: created at construction, removed at destruction
// (also when a test fails). `fd()` keeps it open for run_in_netns.
class ScopedNetns {
 public:
  explicit ScopedNetns(std::string path);
  ~ScopedNetns();
  ScopedNetns(const ScopedNetns&) = delete;
  ScopedNetns& operator=(const ScopedNetns&) = delete;

  const std::string& path() const { return path_; }
  int fd() const { return fd_.get(); }
  void run(const std::function<void()>& fn) const { run_in_netns(fd(), fn); }

 private:
  std::string path_;
  UniqueFd fd_;
};

}  // namespace sockerless::network
