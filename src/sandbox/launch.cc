#include "sandbox/launch.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <exception>
#include <string>

#include "common/unique_fd.h"
#include "sandbox/sandbox.h"

namespace sockerless::sandbox {

void ErrorChannel::fail(std::string_view step, std::string_view detail, int exit_code) const {
  if (fd_ >= 0) {
    // One write below PIPE_BUF is atomic: the caller never sees half a message.
    char buf[PIPE_BUF];
    std::size_t n = std::min(step.size(), sizeof(buf) / 4);
    std::memcpy(buf, step.data(), n);
    buf[n++] = '\0';
    std::size_t d = std::min(detail.size(), sizeof(buf) - n);
    std::memcpy(buf + n, detail.data(), d);
    n += d;
    while (::write(fd_, buf, n) < 0 && errno == EINTR) {
    }
  }
  ::_exit(exit_code);
}

void ErrorChannel::fail_errno(std::string_view step, int err) const {
  fail(step, std::strerror(err));
}

void ErrorChannel::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

namespace {

// What the caller's signal handling left behind must not reach the container: handlers
// set to SIG_IGN survive execve, and so does the signal mask.
void reset_signals() {
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    ::sigaction(sig, &dfl, nullptr);  // fails harmlessly for glibc's reserved signals
  }
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
}

void close_from(int first, int last) {
  if (first > last) return;
  if (::close_range(static_cast<unsigned>(first), static_cast<unsigned>(last), 0) == 0) return;
  for (int fd = first; fd <= last && fd < 65536; ++fd)
    ::close(fd);
}

// Gives the child only the descriptors it was meant to get: another thread of the caller
// may have created any number of them (including other sandboxes' error pipes, which
// must not be held open by this process).
std::vector<int> isolate_fds(const std::vector<int>& inherit, std::vector<int> keep) {
  std::vector<int> renumbered;
  for (int fd : inherit) {
    int copy = fd < 0 ? -1 : ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
    renumbered.push_back(copy);
    if (copy >= 0) keep.push_back(copy);
  }
  std::sort(keep.begin(), keep.end());
  int next = 3;
  for (int fd : keep) {
    if (fd < next) continue;
    close_from(next, fd - 1);
    next = fd + 1;
  }
  close_from(next, INT_MAX);
  return renumbered;
}

bool read_exact(int fd, void* data, std::size_t n) {
  auto* p = static_cast<char*>(data);
  while (n > 0) {
    ssize_t r = ::read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

std::string read_to_end(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t r = ::read(fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return out;
    out.append(buf, static_cast<std::size_t>(r));
  }
}

int wait_for(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return status;
}

[[noreturn]] void run_stage(const ErrorChannel& errors, const std::function<void()>& stage) {
  try {
    stage();
  } catch (const std::exception& e) {
    errors.fail("launch", e.what());
  } catch (...) {
    errors.fail("launch", "unknown error");
  }
  ::_exit(0);
}

[[noreturn]] void intermediate(const LaunchSpec& spec, int error_w, int pid_w) {
  ErrorChannel errors(error_w);
  reset_signals();
  std::vector<int> fds = isolate_fds(spec.inherit, {error_w, pid_w});
  run_stage(errors, [&] {
    if (spec.before_clone) spec.before_clone(errors, fds);
    // The final process holds until its ids are mapped: before that it is nobody.
    UniqueFd mapped_r, mapped_w;
    if (spec.map_ids) {
      int p[2];
      if (::pipe2(p, O_CLOEXEC) != 0) errors.fail_errno("launch", errno);
      mapped_r.reset(p[0]);
      mapped_w.reset(p[1]);
    }
    // CLONE_PARENT: the process becomes the caller's child, so the caller can wait for it
    // and gets SIGCHLD. No new stack: like fork, the child continues on a copy of ours.
    long pid = ::syscall(SYS_clone, CLONE_PARENT | spec.clone_flags | SIGCHLD, nullptr, nullptr,
                         nullptr, nullptr);
    if (pid < 0) errors.fail_errno("clone", errno);
    if (pid == 0) {
      ::close(pid_w);
      if (mapped_r) {
        mapped_w.reset();
        char go;
        if (!read_exact(mapped_r.get(), &go, 1)) ::_exit(1);  // the intermediate reports why
        mapped_r.reset();
      }
      ErrorChannel child_errors(error_w);
      run_stage(child_errors, [&] {
        spec.child(child_errors, fds);
        child_errors.fail("launch", "setup returned without exec");
      });
    }
    auto child = static_cast<pid_t>(pid);
    if (::write(pid_w, &child, sizeof child) != sizeof child) {
      ::kill(child, SIGKILL);
      errors.fail_errno("launch", errno);
    }
    if (spec.map_ids) {
      spec.map_ids(errors, child);
      if (::write(mapped_w.get(), "m", 1) != 1) errors.fail_errno("launch", errno);
    }
  });
}

}  // namespace

pid_t launch(const LaunchSpec& spec) {
  int error_pipe[2], pid_pipe[2];
  if (::pipe2(error_pipe, O_CLOEXEC) != 0) throw SandboxError("launch", std::strerror(errno));
  UniqueFd error_r(error_pipe[0]), error_w(error_pipe[1]);
  if (::pipe2(pid_pipe, O_CLOEXEC) != 0) throw SandboxError("launch", std::strerror(errno));
  UniqueFd pid_r(pid_pipe[0]), pid_w(pid_pipe[1]);

  pid_t helper = ::fork();
  if (helper < 0) throw SandboxError("fork", std::strerror(errno));
  if (helper == 0) intermediate(spec, error_w.get(), pid_w.get());
  error_w.reset();
  pid_w.reset();

  pid_t child = -1;
  if (!read_exact(pid_r.get(), &child, sizeof child)) child = -1;
  int helper_status = wait_for(helper);
  std::string message = read_to_end(error_r.get());

  if (message.empty() && child > 0) return child;
  if (child > 0) {
    ::kill(child, SIGKILL);
    wait_for(child);
  }
  if (message.empty()) {
    std::string how =
        WIFSIGNALED(helper_status)
            ? std::string("killed by signal ") + std::to_string(WTERMSIG(helper_status))
            : "exit status " + std::to_string(WEXITSTATUS(helper_status));
    throw SandboxError("launch", "the setup process died (" + how + ")");
  }
  auto nul = message.find('\0');
  if (nul == std::string::npos) throw SandboxError("launch", message);
  throw SandboxError(message.substr(0, nul), message.substr(nul + 1));
}

}  // namespace sockerless::sandbox
