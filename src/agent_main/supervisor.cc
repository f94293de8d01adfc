#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "agent/wire.h"
#include "agent_main/agent.h"
#include "sandbox/caps.h"
#include "sandbox/launch.h"
#include "sandbox/process.h"
#include "sandbox/sandbox.h"
#include "sandbox/user.h"

namespace sockerless::agent {

namespace {

const int kHandled[] = {SIGCHLD, SIGTERM, SIGINT,   SIGHUP,  SIGQUIT,
                        SIGUSR1, SIGUSR2, SIGWINCH, SIGALRM, SIGCONT};

sigset_t handled_set() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : kHandled)
    sigaddset(&set, s);
  return set;
}

constexpr std::size_t kRingLimit = 64 << 10;

}  // namespace

bool write_all_fd(int fd, const char* data, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    data += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

// ---------------------------------------------------------------- Reaper

Reaper& Reaper::instance() {
  static Reaper r;
  return r;
}

void Reaper::block_signals() {
  sigset_t set = handled_set();
  ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
}

void Reaper::start(std::function<void(int)> forward) {
  std::thread([this, forward = std::move(forward)] {
    sigset_t set = handled_set();
    for (;;) {
      siginfo_t info;
      int sig = ::sigwaitinfo(&set, &info);
      if (sig < 0) continue;
      if (sig == SIGCHLD) {
        reap();
      } else if (forward) {
        forward(sig);
      }
    }
  }).detach();
}

void Reaper::reap() {
  for (;;) {
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    auto now = std::chrono::steady_clock::now();
    {
      std::lock_guard lock(mu_);
      // Exits nobody claims (orphans, the launcher's own helpers) go after a minute, long
      // before their pids could come round again.
      for (auto it = exited_.begin(); it != exited_.end();)
        it = now - it->second.at > std::chrono::seconds(60) ? exited_.erase(it) : std::next(it);
      exited_[pid] = {code, now};
    }
    cv_.notify_all();
  }
}

int Reaper::wait(pid_t pid) {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return exited_.count(pid) > 0; });
  int code = exited_[pid].code;
  exited_.erase(pid);
  return code;
}

// ---------------------------------------------------------------- ChunkQueue

bool ChunkQueue::push(Chunk c) {
  {
    std::lock_guard lock(mu_);
    if (closed_) return false;
    if (bytes_ + c.data.size() > limit_) {
      closed_ = true;  // a reader this far behind is let go rather than holding output up
      cv_.notify_all();
      return false;
    }
    bytes_ += c.data.size();
    q_.push_back(std::move(c));
  }
  cv_.notify_all();
  return true;
}

std::optional<Chunk> ChunkQueue::pop() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return closed_ || !q_.empty(); });
  if (q_.empty()) return std::nullopt;
  Chunk c = std::move(q_.front());
  q_.pop_front();
  bytes_ -= c.data.size();
  return c;
}

void ChunkQueue::close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

// ---------------------------------------------------------------- processes

std::vector<std::string> environment_without_token() {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e)
    if (std::string_view(*e).rfind(std::string(kTokenEnv) + "=", 0) != 0) env.emplace_back(*e);
  return env;
}

pid_t start_process(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                    const std::string& workdir, const std::string& user,
                    const std::vector<std::string>& group_add, bool tty,
                    const std::vector<int>& stdio) {
  sandbox::LaunchSpec spec;
  spec.inherit = stdio;
  spec.child = [&](sandbox::ErrorChannel& errors, const std::vector<int>& fds) {
    sigset_t none;
    sigemptyset(&none);
    ::pthread_sigmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    sandbox::ProcessSpec p;
    p.argv = argv;
    p.env = env;
    p.working_dir = workdir.empty() ? "/" : workdir;
    p.tty = tty;
    // The container's bounding set is already the container's: keep it whole.
    p.caps = sandbox::all_capabilities();
    p.user.uid = ::getuid();
    p.user.gid = ::getgid();
    if (user.empty()) {
      // The agent's own groups too: the runtime gave it the container's.
      int n = ::getgroups(0, nullptr);
      p.user.groups.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
      if (n > 0 && ::getgroups(n, p.user.groups.data()) != n) p.user.groups = {p.user.gid};
    } else {
      auto resolved = sandbox::resolve_user_in_root(user, group_add);
      if (auto* message = std::get_if<std::string>(&resolved)) errors.fail("user", *message);
      p.user = std::get<sandbox::ExecUser>(resolved);
    }
    if (tty) sandbox::exec_process(errors, p, fds[0], fds[0], fds[0]);
    sandbox::exec_process(errors, p, fds[0], fds[1], fds[2]);
  };
  return sandbox::launch(spec);
}

// ---------------------------------------------------------------- MainProcess

void MainProcess::start(const std::vector<std::string>& argv, const std::string& user,
                        const std::vector<std::string>& group_add) {
  tty_ = ::isatty(1) == 1;
  UniqueFd child_in, child_out, child_err, slave;
  UniqueFd out_r, err_r;
  if (tty_) {
    // The command gets our terminal itself, so that it is /dev/pts/0, owned by its user,
    // as under docker; we give it up as our controlling terminal first. Its output then
    // goes to the container's log without us (attach to it stays with the runtime).
    ::ioctl(0, TIOCNOTTY);
    slave = UniqueFd(::fcntl(0, F_DUPFD_CLOEXEC, 3));
  } else {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    child_in = UniqueFd(p[0]);
    stdin_ = UniqueFd(p[1]);
    if (::pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    out_r = UniqueFd(p[0]);
    child_out = UniqueFd(p[1]);
    if (::pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    err_r = UniqueFd(p[0]);
    child_err = UniqueFd(p[1]);
  }
  std::vector<std::string> env = environment_without_token();
  char cwd[4096];
  std::string workdir = ::getcwd(cwd, sizeof cwd) ? cwd : "/";
  pid_ = start_process(argv, env, workdir, user, group_add, tty_,
                       tty_ ? std::vector<int>{slave.get()}
                            : std::vector<int>{child_in.get(), child_out.get(), child_err.get()});
  child_in.reset();
  child_out.reset();
  child_err.reset();
  slave.reset();
  std::lock_guard lock(mu_);
  if (tty_) return;
  {
    pumps_running_ = 2;
    std::thread([this, fd = out_r.release()] { pump(fd, 1, 1); }).detach();
    std::thread([this, fd = err_r.release()] { pump(fd, 2, 2); }).detach();
  }
  // The agent's own stdin (the container's) goes on to the process.
  std::thread([this] {
    char buf[32 * 1024];
    for (;;) {
      ssize_t n = ::read(0, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      write_stdin(std::string_view(buf, static_cast<std::size_t>(n)));
    }
    if (!tty_) close_stdin();
  }).detach();
}

void MainProcess::pump(int fd, std::uint8_t stream, int copy_to) {
  UniqueFd in(fd);
  char buf[64 * 1024];
  for (;;) {
    ssize_t n = ::read(in.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EIO from a terminal whose process has gone is its end
    write_all_fd(copy_to, buf, static_cast<std::size_t>(n));
    output(stream, std::string_view(buf, static_cast<std::size_t>(n)));
  }
  std::lock_guard lock(mu_);
  if (--pumps_running_ == 0) cv_.notify_all();
}

void MainProcess::output(std::uint8_t stream, std::string_view data) {
  std::lock_guard lock(mu_);
  ring_.push_back({stream, std::string(data)});
  ring_bytes_ += data.size();
  while (ring_bytes_ > kRingLimit && ring_.size() > 1) {
    ring_bytes_ -= ring_.front().data.size();
    ring_.pop_front();
  }
  for (auto it = subscribers_.begin(); it != subscribers_.end();) {
    if (!(*it)->push({stream, std::string(data)})) {
      it = subscribers_.erase(it);
    } else {
      ++it;
    }
  }
}

int MainProcess::wait() {
  int code = Reaper::instance().wait(pid_);
  std::unique_lock lock(mu_);
  // A terminal's master reads EIO only once every holder of the slave is gone; a process
  // that left children holding it would keep us here, so give it a moment, then go on.
  cv_.wait_for(lock, std::chrono::seconds(2), [&] { return pumps_running_ == 0; });
  code_ = code;
  for (const auto& s : subscribers_)
    s->close();
  subscribers_.clear();
  cv_.notify_all();
  return code;
}

std::optional<int> MainProcess::exit_code() {
  std::lock_guard lock(mu_);
  return code_;
}

void MainProcess::signal(int sig) {
  if (pid_ > 0 && !exit_code()) ::kill(pid_, sig);
}

void MainProcess::resize(int height, int width) {
  // The command shares our terminal (see start): sizing it is sizing theirs, and the
  // kernel signals the command's foreground group itself.
  if (!tty_) return;
  winsize ws{};
  ws.ws_row = static_cast<unsigned short>(height);
  ws.ws_col = static_cast<unsigned short>(width);
  ::ioctl(0, TIOCSWINSZ, &ws);
}

std::shared_ptr<ChunkQueue> MainProcess::subscribe(std::size_t replay) {
  auto q = std::make_shared<ChunkQueue>();
  std::lock_guard lock(mu_);
  if (replay > 0) {
    std::size_t total = 0;
    auto it = ring_.end();
    while (it != ring_.begin() && total < replay) {
      --it;
      total += it->data.size();
    }
    for (; it != ring_.end(); ++it)
      q->push(*it);
  }
  if (code_) {
    q->close();
  } else {
    subscribers_.insert(q);
  }
  return q;
}

void MainProcess::unsubscribe(const std::shared_ptr<ChunkQueue>& q) {
  std::lock_guard lock(mu_);
  subscribers_.erase(q);
  q->close();
}

void MainProcess::write_stdin(std::string_view data) {
  std::lock_guard lock(stdin_mu_);
  int fd = stdin_.get();  // a TTY command reads the terminal itself
  if (fd >= 0) write_all_fd(fd, data.data(), data.size());
}

void MainProcess::close_stdin() {
  std::lock_guard lock(stdin_mu_);
  if (!tty_) stdin_.reset();
}

// ---------------------------------------------------------------- invocations

InvocationResult run_invocation(const std::vector<std::string>& argv, const std::string& user,
                                const Invocation& invocation) {
  InvocationResult result;
  int p[2];
  UniqueFd in_r, in_w, out_r, out_w, err_r, err_w;
  if (::pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  in_r = UniqueFd(p[0]);
  in_w = UniqueFd(p[1]);
  if (::pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  out_r = UniqueFd(p[0]);
  out_w = UniqueFd(p[1]);
  if (::pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  err_r = UniqueFd(p[0]);
  err_w = UniqueFd(p[1]);
  std::vector<std::string> env = environment_without_token();
  if (!invocation.id.empty()) env.push_back("_X_SOCKERLESS_INVOCATION_ID=" + invocation.id);
  char cwd[4096];
  std::string workdir = ::getcwd(cwd, sizeof cwd) ? cwd : "/";
  pid_t pid;
  try {
    pid =
        start_process(argv, env, workdir, user, {}, false, {in_r.get(), out_w.get(), err_w.get()});
  } catch (const sandbox::SandboxError& e) {
    auto failure = sandbox::start_error(e.step(), e.what());
    result.exit_code = failure.exit_code;
    result.errors = failure.detail + "\n";
    return result;
  }
  in_r.reset();
  out_w.reset();
  err_w.reset();
  std::thread feeder([fd = in_w.release(), &invocation] {
    UniqueFd w(fd);
    write_all_fd(w.get(), invocation.event.data(), invocation.event.size());
  });
  std::thread errs([&] {
    char buf[65536];
    ssize_t n;
    while ((n = ::read(err_r.get(), buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
      if (n > 0) {
        result.errors.append(buf, static_cast<std::size_t>(n));
        write_all_fd(2, buf, static_cast<std::size_t>(n));
      }
  });
  char buf[65536];
  ssize_t n;
  while ((n = ::read(out_r.get(), buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0) result.output.append(buf, static_cast<std::size_t>(n));
  errs.join();
  feeder.join();
  result.exit_code = Reaper::instance().wait(pid);
  return result;
}

}  // namespace sockerless::agent
