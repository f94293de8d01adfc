// Support for the sandbox's integration tests: a busybox root filesystem built from the
// host's static busybox, container specs rooted in it, and guards that always clean up
// (kill the process, unmount, remove cgroups and files) even when a test fails.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "sandbox/sandbox.h"

namespace sockerless::sandbox::testing {

namespace fs = std::filesystem;

inline const char* kBusybox = "/bin/busybox";

// ThreadSanitizer's runtime doesn't survive the raw clone(2) the sandbox makes its
// processes with (the copies hang on its internal locks).
#if defined(__SANITIZE_THREAD__)
inline constexpr bool kUnderThreadSanitizer = true;
#else
inline constexpr bool kUnderThreadSanitizer = false;
#endif

// Root and a static busybox, or the test is skipped with the reason.
#define SANDBOX_REQUIRE_ROOT()                                                           \
  do {                                                                                   \
    if (::geteuid() != 0) GTEST_SKIP() << "the sandbox needs root";                      \
    if (::access(::sockerless::sandbox::testing::kBusybox, X_OK) != 0)                   \
      GTEST_SKIP() << "needs a static busybox at /bin/busybox (Debian: busybox-static)"; \
    if (::sockerless::sandbox::testing::kUnderThreadSanitizer)                           \
      GTEST_SKIP() << "ThreadSanitizer can't follow the sandbox's raw clone(2)";         \
  } while (0)

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "sandbox-test-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline void write_file(const std::string& path, const std::string& content) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::trunc) << content;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// bin/busybox with its applets as symlinks, /etc/passwd with root and app (1000), and
// /etc/group where app is also a member of "staff" (50).
inline std::string make_busybox_layer(const std::string& dir) {
  fs::create_directories(dir + "/bin");
  fs::copy_file(kBusybox, dir + "/bin/busybox", fs::copy_options::overwrite_existing);
  for (const char* applet :
       {"sh",   "echo", "cat",      "id",     "hostname", "ls",    "sleep", "mount", "ps",
        "env",  "pwd",  "true",     "false",  "grep",     "touch", "stat",  "wc",    "tty",
        "kill", "test", "readlink", "ulimit", "mkdir",    "rm",    "sed"}) {
    std::error_code ec;
    fs::create_symlink("busybox", dir + "/bin/" + applet, ec);
  }
  write_file(dir + "/etc/passwd",
             "root:x:0:0:root:/root:/bin/sh\n"
             "app:x:1000:1000:app:/home/app:/bin/sh\n");
  write_file(dir + "/etc/group",
             "root:x:0:\n"
             "staff:x:50:app\n"
             "app:x:1000:\n");
  fs::create_directories(dir + "/tmp");
  fs::permissions(dir + "/tmp", fs::perms::all | fs::perms::sticky_bit);
  fs::create_directories(dir + "/root");
  return dir;
}

inline std::string random_id() {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  std::string id;
  const char* hex = "0123456789abcdef";
  for (int i = 0; i < 64; ++i)
    id += hex[rng() % 16];
  return id;
}

// A spec for `argv` over the given layers, with its state under `dir`.
inline ContainerSpec busybox_spec(const std::vector<std::string>& layers, const std::string& dir,
                                  std::vector<std::string> argv) {
  ContainerSpec spec;
  spec.id = random_id();
  spec.lower_dirs = layers;
  spec.state_dir = dir + "/state-" + spec.id.substr(0, 12);
  spec.argv = std::move(argv);
  spec.env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
  spec.hostname = "box";
  spec.cgroup_parent = "sockerless-test";
  return spec;
}

inline int wait_status(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

inline int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// Cleans a container's sandbox up when the test leaves its scope, however it leaves.
class CleanupGuard {
 public:
  explicit CleanupGuard(ContainerSpec spec, bool remove_changes = true)
      : spec_(std::move(spec)), remove_changes_(remove_changes) {}
  ~CleanupGuard() {
    try {
      cleanup(spec_, remove_changes_);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "cleanup: " << e.what();
    }
  }
  CleanupGuard(const CleanupGuard&) = delete;
  CleanupGuard& operator=(const CleanupGuard&) = delete;

 private:
  ContainerSpec spec_;
  bool remove_changes_;
};

// Owns a spawned container: kills it, reaps it and cleans its sandbox up on destruction
// (keeping upper/ with `remove_changes` false, as a restart would).
class Container {
 public:
  explicit Container(ContainerSpec spec, bool remove_changes = true)
      : spec_(std::move(spec)), guard_(spec_, remove_changes) {}
  ~Container() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      wait_status(pid_);
    }
  }
  Container(const Container&) = delete;
  Container& operator=(const Container&) = delete;

  pid_t start(const Stdio& stdio) {
    auto started = spawn(spec_, stdio);
    pty_ = std::move(started.pty);
    pid_ = started.pid;
    return pid_;
  }
  // Reaps the container's first process; returns its wait status.
  int wait() {
    int status = wait_status(pid_);
    pid_ = -1;
    return status;
  }
  pid_t pid() const { return pid_; }
  // With spec.tty: the master side of the container's terminal.
  UniqueFd& pty() { return pty_; }
  const ContainerSpec& spec() const { return spec_; }

 private:
  ContainerSpec spec_;
  CleanupGuard guard_;  // destroyed after ~Container has killed the process
  pid_t pid_ = -1;
  UniqueFd pty_;
};

// A pipe whose write end goes to the container and read end stays with the test.
class Pipe {
 public:
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    r_ = fds[0];
    w_ = fds[1];
  }
  ~Pipe() {
    close_read();
    close_write();
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  int r() const { return r_; }
  int w() const { return w_; }
  void close_write() {
    if (w_ >= 0) ::close(w_);
    w_ = -1;
  }
  void close_read() {
    if (r_ >= 0) ::close(r_);
    r_ = -1;
  }
  std::string read_all() {
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(r_, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
      if (n > 0) out.append(buf, static_cast<std::size_t>(n));
    return out;
  }
  // Reads up to and including the next newline.
  std::string read_line() {
    std::string out;
    char c;
    while (::read(r_, &c, 1) == 1) {
      out += c;
      if (c == '\n') break;
    }
    return out;
  }

 private:
  int r_ = -1, w_ = -1;
};

struct RunResult {
  std::string out, err;
  int exit_code = -1;
};

// Runs the container to completion with stdout and stderr through pipes.
inline RunResult run(const ContainerSpec& spec) {
  Container c(spec);
  Pipe out, err;
  c.start(Stdio{-1, out.w(), err.w()});
  out.close_write();
  err.close_write();
  RunResult r;
  std::thread drain_err([&] { r.err = err.read_all(); });
  r.out = out.read_all();
  drain_err.join();
  r.exit_code = exit_code(c.wait());
  return r;
}

// True when some mount point of ours lies under `dir`.
inline bool mounted_under(const std::string& dir) {
  return read_file("/proc/self/mountinfo").find(dir) != std::string::npos;
}

// The tests' cgroup_parent, removed once no test uses it any more (ctest runs them in
// parallel processes: whoever is last succeeds).
inline void remove_test_cgroup_parents() {
  for (const char* h : {"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids",
                        "systemd", "unified", ""}) {
    std::string dir = std::string("/sys/fs/cgroup/") + h + (*h ? "/" : "") + "sockerless-test";
    ::rmdir(dir.c_str());
  }
}

inline std::vector<std::string> cgroup_dirs(const ContainerSpec& spec) {
  std::vector<std::string> out;
  for (const char* h : {"memory", "cpu", "pids", "freezer", "unified", ""}) {
    std::string base = std::string("/sys/fs/cgroup/") + h;
    if (!fs::exists(base + "/cgroup.procs")) continue;
    out.push_back(base + (base.back() == '/' ? "" : "/") + spec.cgroup_parent + "/" + spec.id);
  }
  return out;
}

}  // namespace sockerless::sandbox::testing
