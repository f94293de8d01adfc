#include "sandbox/init.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>

namespace sockerless::sandbox {
namespace {

constexpr int kForwarded[] = {SIGHUP,  SIGINT,  SIGQUIT,  SIGTERM,
                              SIGUSR1, SIGUSR2, SIGWINCH, SIGALRM};

int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

[[noreturn]] void supervise(pid_t child, const sigset_t& waited) {
  for (;;) {
    siginfo_t info;
    int sig = ::sigwaitinfo(&waited, &info);
    if (sig < 0) continue;
    if (sig != SIGCHLD) {
      ::kill(child, sig);
      continue;
    }
    int status = 0;
    pid_t pid;
    while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
      // Leaving takes the rest of the namespace along (the kernel kills it), as with tini.
      if (pid == child) ::_exit(exit_code(status));
    }
  }
}

}  // namespace

void become_init(ErrorChannel& errors, bool tty) {
  // Blocked before the fork, so nothing sent in between is lost: pid 1 only receives
  // signals it handles or has blocked (a blocked signal is queued for sigwaitinfo).
  sigset_t waited, previous;
  sigemptyset(&waited);
  sigaddset(&waited, SIGCHLD);
  for (int sig : kForwarded)
    sigaddset(&waited, sig);
  if (::sigprocmask(SIG_BLOCK, &waited, &previous) != 0) errors.fail_errno("init", errno);

  pid_t child = ::fork();
  if (child < 0) errors.fail_errno("init: fork", errno);
  if (child == 0) {
    ::sigprocmask(SIG_SETMASK, &previous, nullptr);
    // Its own process group, so that a terminal's ^C reaches it once, not via init too.
    ::setpgid(0, 0);
    if (tty) {
      ::signal(SIGTTOU, SIG_IGN);  // we are a background group until this call succeeds
      ::tcsetpgrp(0, ::getpid());
      ::signal(SIGTTOU, SIG_DFL);
    }
    return;
  }
  // The child reports its own exec; init holds no descriptor but the container's stdio.
  errors.close();
  ::close_range(3, ~0U, 0);
  ::prctl(PR_SET_NAME, "init", 0, 0, 0);
  supervise(child, waited);
}

}  // namespace sockerless::sandbox
