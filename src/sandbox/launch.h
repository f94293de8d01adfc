// Starting a sandboxed process so that it is a direct child of the caller (who waits for
// it) even though it lives in other namespaces, and learning whether its setup reached
// exec: the child reports a failed step as "step\0detail" on a close-on-exec pipe; a
// successful exec closes the pipe with nothing written.
//
// How: the caller forks an intermediate process (a single-threaded copy, where glibc's
// fork has made malloc safe again), which joins or creates namespaces and clones the
// final process with CLONE_PARENT, then exits. Code running in either must not throw
// past its stage (the launcher catches and reports) and must not return from `child`.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace sockerless::sandbox {

// The child's end of the error pipe.
class ErrorChannel {
 public:
  explicit ErrorChannel(int fd) : fd_(fd) {}

  // Reports the failed step to the caller and exits the process with `exit_code`.
  [[noreturn]] void fail(std::string_view step, std::string_view detail, int exit_code = 1) const;
  // The same with strerror(err) as the detail: "mount /proc: Permission denied".
  [[noreturn]] void fail_errno(std::string_view step, int err) const;

  // For a process that forks and will no longer report (init, after its child starts).
  void close();
  int fd() const { return fd_; }

 private:
  int fd_;
};

struct LaunchSpec {
  int clone_flags = 0;       // CLONE_NEW* for the final process
  std::vector<int> inherit;  // the caller's fds the child needs (-1 entries stay -1)
  // Both stages get `inherit` renumbered (all >= 3, close-on-exec); every other fd of
  // the caller is closed before they run.
  // In the intermediate, before the clone: setns(2) into namespaces the child must be
  // born in (a pid namespace only applies to children).
  std::function<void(const ErrorChannel&, const std::vector<int>& fds)> before_clone;
  // With CLONE_NEWUSER: in the intermediate, once the final process exists, write its uid
  // and gid maps; the final process waits for them before `child` runs.
  std::function<void(const ErrorChannel&, pid_t child)> map_ids;
  // In the final process: set up and exec, or fail. Never returns.
  std::function<void(ErrorChannel&, const std::vector<int>& fds)> child;
};

// Starts the process and waits until it has exec'd; returns its pid (in the caller's pid
// namespace). On a reported failure it kills and reaps the process, then throws
// SandboxError(step, detail).
pid_t launch(const LaunchSpec& spec);

}  // namespace sockerless::sandbox
