#include "image/credentials_helper.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include "common/unique_fd.h"

namespace sockerless::image {
namespace {

// Helpers may wait on a keychain or gpg-agent, but a hung one must not hold a pull forever.
constexpr std::chrono::seconds kHelperTimeout{60};
// A helper prints a small JSON document or one error line; beyond this it is broken.
constexpr std::size_t kOutputLimit = 1 << 20;
constexpr std::size_t kMessageLimit = 1000;
constexpr std::string_view kNotFound = "credentials not found";

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

struct Pipe {
  UniqueFd read;
  UniqueFd write;
};

Pipe make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno("pipe");
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// Resolved here rather than by execvp so that "not found" is reported clearly and the
// PATH in effect at the call is the one searched.
std::string find_on_path(const std::string& file) {
  const char* env = std::getenv("PATH");
  std::string_view path = env != nullptr && *env != '\0' ? env : "/usr/local/bin:/usr/bin:/bin";
  while (true) {
    std::size_t colon = path.find(':');
    std::string dir(path.substr(0, colon));
    std::string candidate = (dir.empty() ? "." : dir) + "/" + file;
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    if (colon == std::string_view::npos) return {};
    path.remove_prefix(colon + 1);
  }
}

// Kills and reaps the helper on every early exit, so a failure leaves no process behind.
class Child {
 public:
  explicit Child(pid_t pid) : pid_(pid) {}
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      wait();
    }
  }
  int wait() {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return status;
  }

 private:
  pid_t pid_;
};

struct Finished {
  int status = 0;
  std::string out;
  std::string err;
};

Finished run(const std::string& program, std::string_view input) {
  Pipe in = make_pipe();
  Pipe out = make_pipe();
  Pipe err = make_pipe();
  // The input fits in the pipe buffer, so it is written before the helper starts: the
  // write cannot block, and cannot raise SIGPIPE if the helper never reads it.
  if (input.size() > PIPE_BUF) throw std::runtime_error("credential helper input too long");
  if (::write(in.write.get(), input.data(), input.size()) != static_cast<ssize_t>(input.size())) {
    throw_errno("write to " + program);
  }
  in.write.reset();

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in.read.get(), STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out.write.get(), STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err.write.get(), STDERR_FILENO);
  // Descriptors opened elsewhere in the daemon without O_CLOEXEC stay out of the helper.
  posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1);
  std::string arg0 = program;
  std::string arg1 = "get";
  std::array<char*, 3> argv = {arg0.data(), arg1.data(), nullptr};
  pid_t pid = 0;
  // posix_spawn rather than fork: the daemon is multi-threaded and this is called from
  // worker threads; glibc's posix_spawn reports exec failures to the caller.
  int rc = ::posix_spawn(&pid, program.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("exec " + program + ": " + std::strerror(rc));
  Child child(pid);
  in.read.reset();
  out.write.reset();
  err.write.reset();

  // Both streams are drained together so a helper filling one pipe cannot stall while
  // we wait on the other.
  Finished result;
  std::array<UniqueFd*, 2> fds = {&out.read, &err.read};
  std::array<std::string*, 2> sinks = {&result.out, &result.err};
  auto deadline = std::chrono::steady_clock::now() + kHelperTimeout;
  while (out.read || err.read) {
    std::array<pollfd, 2> polled{};
    std::array<std::size_t, 2> which{};
    nfds_t count = 0;
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (!*fds[i]) continue;
      polled[count] = {fds[i]->get(), POLLIN, 0};
      which[count++] = i;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) {
      throw std::runtime_error(program + " did not answer within " +
                               std::to_string(kHelperTimeout.count()) + "s");
    }
    int ready = ::poll(polled.data(), count, static_cast<int>(left));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) throw_errno("poll " + program);
    for (nfds_t k = 0; k < count; ++k) {
      if (polled[k].revents == 0) continue;
      char buffer[4096];
      ssize_t got = ::read(polled[k].fd, buffer, sizeof buffer);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        fds[which[k]]->reset();
        continue;
      }
      std::string& sink = *sinks[which[k]];
      if (sink.size() < kOutputLimit) sink.append(buffer, static_cast<std::size_t>(got));
    }
  }
  result.status = child.wait();
  return result;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
    s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.remove_suffix(1);
  return s;
}

std::string describe(int status) {
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("signal: ") + ::strsignal(WTERMSIG(status));
  return "status " + std::to_string(status);
}

}  // namespace

std::optional<std::string> run_credential_helper_get(std::string_view helper,
                                                     std::string_view server_url) {
  // The name comes from config.json; it names a program on PATH, never a path.
  if (helper.empty() || helper.find('/') != std::string_view::npos) {
    throw std::runtime_error("invalid credential helper name \"" + std::string(helper) + "\"");
  }
  std::string name = "docker-credential-" + std::string(helper);
  std::string program = find_on_path(name);
  if (program.empty()) {
    throw std::runtime_error("exec: \"" + name + "\": executable file not found in $PATH");
  }
  Finished finished = run(program, server_url);
  if (WIFEXITED(finished.status) && WEXITSTATUS(finished.status) == 0) return finished.out;

  // Helpers print their error on stdout (the protocol's convention), some on stderr.
  if (finished.out.find(kNotFound) != std::string::npos ||
      finished.err.find(kNotFound) != std::string::npos) {
    return std::nullopt;
  }
  std::string_view message = trim(finished.out);
  if (message.empty()) message = trim(finished.err);
  throw std::runtime_error("error getting credentials from " + name +
                           " - err: " + describe(finished.status) + ", out: `" +
                           std::string(message.substr(0, kMessageLimit)) + "`");
}

}  // namespace sockerless::image
