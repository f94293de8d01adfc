// The sandbox around a running container: init, exec (enter), cgroups and limits,
// pause/resume, cleanup after normal exits and SIGKILL, many containers at once, and
// spawn latency. Needs root; skipped otherwise.
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <mutex>

#include "sandbox_test_support.h"

namespace sockerless::sandbox::testing {
namespace {

class SandboxLifecycle : public ::testing::Test {
 protected:
  static void TearDownTestSuite() { remove_test_cgroup_parents(); }
  void SetUp() override {
    SANDBOX_REQUIRE_ROOT();
    layer_ = make_busybox_layer(tmp_.path() + "/lower");
  }
  ContainerSpec sh(const std::string& script) {
    return busybox_spec({layer_}, tmp_.path(), {"sh", "-c", script});
  }

  TempDir tmp_;
  std::string layer_;
};

// Waits until `pred` holds or two seconds pass.
template <typename Pred>
bool eventually(Pred pred) {
  for (int i = 0; i < 400; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

// Starts a container whose script says "ready" once set up, and waits for that.
void start_when_ready(Container& c) {
  Pipe out;
  c.start(Stdio{-1, out.w(), -1});
  out.close_write();
  ASSERT_EQ(out.read_line(), "ready\n");
}

std::string host_path(pid_t pid, const std::string& inside) {
  return "/proc/" + std::to_string(pid) + "/root" + inside;
}

TEST_F(SandboxLifecycle, InitForwardsSigtermAndExitsWithTheStatus) {
  auto s = sh("trap 'echo got-term; exit 7' TERM; echo ready; while :; do sleep 0.05; done");
  s.init = true;
  Container c(s);
  Pipe out;
  c.start(Stdio{-1, out.w(), -1});
  out.close_write();
  ASSERT_EQ(out.read_line(), "ready\n");
  EXPECT_EQ(read_file("/proc/" + std::to_string(c.pid()) + "/comm"), "init\n");
  ASSERT_EQ(::kill(c.pid(), SIGTERM), 0);
  EXPECT_EQ(out.read_all(), "got-term\n");
  EXPECT_EQ(exit_code(c.wait()), 7);
}

TEST_F(SandboxLifecycle, InitExitsWith128PlusTheSignal) {
  auto s = busybox_spec({layer_}, tmp_.path(), {"sleep", "100"});
  s.init = true;
  Container c(s);
  c.start(Stdio{});
  // sleep is pid 2 once it has exec'd: spawn returns only after that.
  ASSERT_EQ(::kill(c.pid(), SIGTERM), 0);
  int status = c.wait();
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 128 + SIGTERM);
}

// The processes of `pid`'s pid namespace (seen from the host) in state Z.
int zombies_beside(pid_t pid) {
  std::string ns = fs::read_symlink("/proc/" + std::to_string(pid) + "/ns/pid").string();
  int zombies = 0;
  for (const auto& e : fs::directory_iterator("/proc")) {
    std::error_code ec;
    if (fs::read_symlink(e.path() / "ns/pid", ec).string() != ns || ec) continue;
    std::string stat = read_file((e.path() / "stat").string());
    auto close = stat.rfind(')');
    if (close != std::string::npos && stat.compare(close, 4, ") Z ") == 0) ++zombies;
  }
  return zombies;
}

TEST_F(SandboxLifecycle, InitReapsOrphans) {
  // The inner sh exits at once and its sleep is reparented to pid 1. With init that is
  // reaped; without, pid 1 is `sleep 100` (sh exec'd it), which never waits: a zombie,
  // as with docker run without --init.
  auto s = sh("sh -c 'sleep 0.05 &'; exec sleep 100");
  s.init = true;
  {
    Container c(s);
    c.start(Stdio{});
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    EXPECT_EQ(zombies_beside(c.pid()), 0);
  }
  s.init = false;
  Container c(s);
  c.start(Stdio{});
  EXPECT_TRUE(eventually([&] { return zombies_beside(c.pid()) == 1; }));
}

TEST_F(SandboxLifecycle, ExecSeesTheSameHostnameFilesAndPidNamespace) {
  auto s = sh("echo data > /tmp/f; echo ready; exec sleep 100");
  s.hostname = "shared-host";
  Container c(s);
  start_when_ready(c);
  if (HasFatalFailure()) return;

  ExecSpec exec;
  exec.argv = {"sh", "-c", "hostname; cat /tmp/f; pwd; cat /proc/1/comm; id -u"};
  exec.env = s.env;
  exec.working_dir = "/tmp";
  exec.user = "app";
  Pipe exec_out;
  pid_t pid = enter(c.pid(), s, exec, Stdio{-1, exec_out.w(), -1}).pid;
  exec_out.close_write();
  EXPECT_EQ(exec_out.read_all(), "shared-host\ndata\n/tmp\nsleep\n1000\n");
  EXPECT_EQ(exit_code(wait_status(pid)), 0);

  // Same namespaces and cgroups as the container.
  exec.argv = {"sleep", "100"};
  exec.user = "";
  pid = enter(c.pid(), s, exec, Stdio{}).pid;
  for (const char* ns : {"mnt", "pid", "uts", "ipc", "net", "cgroup"}) {
    auto link = [&](pid_t p) {
      return fs::read_symlink("/proc/" + std::to_string(p) + "/ns/" + ns).string();
    };
    EXPECT_EQ(link(pid), link(c.pid())) << ns;
  }
  EXPECT_EQ(read_file("/proc/" + std::to_string(pid) + "/cgroup"),
            read_file("/proc/" + std::to_string(c.pid()) + "/cgroup"));
  ::kill(pid, SIGKILL);
  wait_status(pid);
}

TEST_F(SandboxLifecycle, ExecErrorsAreReported) {
  auto s = sh("echo ready; exec sleep 100");
  Container c(s);
  start_when_ready(c);
  if (HasFatalFailure()) return;
  ExecSpec exec;
  exec.argv = {"missing-tool"};
  exec.env = s.env;
  try {
    enter(c.pid(), s, exec, Stdio{});
    FAIL() << "enter succeeded";
  } catch (const SandboxError& e) {
    EXPECT_STREQ(e.what(), "exec: exec: \"missing-tool\": executable file not found in $PATH");
  }
  exec.argv = {"true"};
  exec.working_dir = "/does/not/exist";
  try {
    enter(c.pid(), s, exec, Stdio{});
    FAIL() << "enter succeeded";
  } catch (const SandboxError& e) {
    EXPECT_EQ(e.step(), "chdir");
  }
}

TEST_F(SandboxLifecycle, CleanupAfterSigkillLeavesNoMountsOrCgroups) {
  auto s = sh("echo ready; sleep 100");
  s.resources.memory = 64 << 20;
  s.resources.pids_limit = 50;
  s.resources.cpu_shares = 512;
  s.resources.cpu_quota = 50000;
  Container c(s);
  start_when_ready(c);
  if (HasFatalFailure()) return;

  // In its cgroups, with the limits written.
  std::string own = read_file("/proc/" + std::to_string(c.pid()) + "/cgroup");
  EXPECT_NE(own.find(s.cgroup_parent + "/" + s.id), std::string::npos) << own;
  auto dirs = cgroup_dirs(s);
  ASSERT_FALSE(dirs.empty());
  for (const auto& dir : dirs)
    EXPECT_TRUE(fs::exists(dir)) << dir;
  if (fs::exists("/sys/fs/cgroup/memory/cgroup.procs")) {
    std::string dir = "/sys/fs/cgroup/memory/" + s.cgroup_parent + "/" + s.id;
    EXPECT_EQ(read_file(dir + "/memory.limit_in_bytes"), std::to_string(64 << 20) + "\n");
    EXPECT_EQ(read_file("/sys/fs/cgroup/pids/" + s.cgroup_parent + "/" + s.id + "/pids.max"),
              "50\n");
    EXPECT_EQ(read_file("/sys/fs/cgroup/cpu/" + s.cgroup_parent + "/" + s.id + "/cpu.shares"),
              "512\n");
    EXPECT_EQ(read_file("/sys/fs/cgroup/cpu/" + s.cgroup_parent + "/" + s.id + "/cpu.cfs_quota_us"),
              "50000\n");
  } else if (fs::exists("/sys/fs/cgroup/cgroup.controllers")) {
    std::string dir = "/sys/fs/cgroup/" + s.cgroup_parent + "/" + s.id;
    EXPECT_EQ(read_file(dir + "/memory.max"), std::to_string(64 << 20) + "\n");
    EXPECT_EQ(read_file(dir + "/pids.max"), "50\n");
    EXPECT_EQ(read_file(dir + "/cpu.max"), "50000 100000\n");
  }
  // The container's mounts are in its own namespace only.
  std::string inside = read_file("/proc/" + std::to_string(c.pid()) + "/mountinfo");
  EXPECT_NE(inside.find(" / / "), std::string::npos);
  EXPECT_FALSE(mounted_under(s.state_dir));

  ::kill(c.pid(), SIGKILL);
  c.wait();
  cleanup(s, false);
  cleanup(s, false);  // idempotent
  EXPECT_FALSE(mounted_under(s.state_dir));
  for (const auto& dir : dirs)
    EXPECT_FALSE(fs::exists(dir)) << dir;
  EXPECT_TRUE(fs::exists(s.state_dir + "/upper"));
  cleanup(s, true);
  EXPECT_FALSE(fs::exists(s.state_dir + "/upper"));
}

TEST_F(SandboxLifecycle, CleanupKillsStragglersInTheCgroup) {
  auto s = sh("echo ready; sleep 100");
  Container c(s);
  start_when_ready(c);
  if (HasFatalFailure()) return;
  ExecSpec exec;
  exec.argv = {"sleep", "100"};
  exec.env = s.env;
  pid_t straggler = enter(c.pid(), s, exec, Stdio{}).pid;
  // Not reaped by the test: cleanup must still get the cgroup removed.
  std::thread reaper([&] { wait_status(straggler); });
  cleanup(s, false);
  reaper.join();
  for (const auto& dir : cgroup_dirs(s))
    EXPECT_FALSE(fs::exists(dir)) << dir;
  EXPECT_EQ(exit_code(c.wait()), 128 + SIGKILL);
}

TEST_F(SandboxLifecycle, OomKillsAreCountedUntilCleanup) {
  bool memory_cgroup =
      fs::exists("/sys/fs/cgroup/memory/cgroup.procs") ||
      read_file("/sys/fs/cgroup/cgroup.controllers").find("memory") != std::string::npos;
  if (!memory_cgroup) GTEST_SKIP() << "no memory cgroup on this host";
  auto quiet = sh("true");
  EXPECT_EQ(run(quiet).exit_code, 0);
  // A finished container whose cgroup is gone has no kills to report.
  EXPECT_FALSE(oom_killed(quiet));

  auto s = sh("echo ready; tail /dev/zero");
  s.resources.memory = 8 << 20;
  s.resources.memory_swap = 8 << 20;  // no swap to escape into
  Container c(s);
  start_when_ready(c);
  if (HasFatalFailure()) return;
  EXPECT_EQ(exit_code(c.wait()), 128 + SIGKILL);
  EXPECT_TRUE(oom_killed(s));
  cleanup(s, false);
  EXPECT_FALSE(oom_killed(s));
}

TEST_F(SandboxLifecycle, ANormalExitIsNoOomKill) {
  auto s = sh("echo ready; exit 3");
  s.resources.memory = 64 << 20;
  Container c(s);
  start_when_ready(c);
  if (HasFatalFailure()) return;
  EXPECT_EQ(exit_code(c.wait()), 3);
  EXPECT_FALSE(oom_killed(s));
}

long read_counter(pid_t pid) {
  std::string v = read_file(host_path(pid, "/tmp/counter"));
  return v.empty() ? -1 : std::stol(v);
}

// Pauses a counting container through `control` (its own spec, or one naming no cgroups)
// and checks that the counter stands still until resume.
void expect_pause_stops_the_counter(Container& c, const ContainerSpec& control) {
  ASSERT_TRUE(eventually([&] { return read_counter(c.pid()) > 10; }));
  pause(control, c.pid());
  long frozen = read_counter(c.pid());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(read_counter(c.pid()), frozen);
  resume(control, c.pid());
  EXPECT_TRUE(eventually([&] { return read_counter(c.pid()) > frozen + 10; }));
}

TEST_F(SandboxLifecycle, PauseFreezesAndResumeThaws) {
  auto s = sh("i=0; while :; do i=$((i+1)); echo $i > /tmp/counter; done");
  Container c(s);
  c.start(Stdio{});
  expect_pause_stops_the_counter(c, s);
}

TEST_F(SandboxLifecycle, PauseFallsBackToSignalsWithoutAFreezer) {
  auto s = sh("i=0; while :; do i=$((i+1)); echo $i > /tmp/counter; done");
  Container c(s);
  c.start(Stdio{});
  // A spec whose cgroups don't exist: pause must stop the processes by signal.
  ContainerSpec no_cgroups = s;
  no_cgroups.id = random_id();
  expect_pause_stops_the_counter(c, no_cgroups);
}

TEST_F(SandboxLifecycle, SeesItsOwnCgroupsAndLimitsInside) {
  // The cgroup namespace puts the container's cgroup at "/", and /sys/fs/cgroup shows it
  // (read-only) with its limits, where tools like the JVM look for them.
  auto s =
      sh("grep -v '::/$' /proc/self/cgroup | grep -vc ':/$';"
         "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat "
         "/sys/fs/cgroup/memory.max;"
         "echo 1 > /sys/fs/cgroup/pids/pids.max 2>/dev/null || echo read-only");
  s.resources.memory = 32 << 20;
  auto r = run(s);
  EXPECT_EQ(r.out, "0\n" + std::to_string(32 << 20) + "\nread-only\n") << r.err;
}

// Processes whose root is inside `dir`: containers that outlived their test.
std::vector<pid_t> processes_rooted_in(const std::string& dir) {
  std::vector<pid_t> out;
  for (const auto& e : fs::directory_iterator("/proc")) {
    std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::error_code ec;
    auto root = fs::read_symlink(e.path() / "root", ec);
    if (!ec && root.string().rfind(dir, 0) == 0) out.push_back(std::stoi(name));
  }
  return out;
}

TEST_F(SandboxLifecycle, TwentyConcurrentSandboxesLeaveNothingBehind) {
#if defined(__SANITIZE_ADDRESS__)
  // Twenty threads forking at once: under ASan a child can inherit the sanitizer
  // allocator's lock held by another thread and hang (seen in CI). The daemon never does
  // this (each sandbox is spawned by its own single-threaded monitor); the plain build
  // runs the test.
  GTEST_SKIP() << "concurrent fork from many threads deadlocks in ASan's allocator";
#endif
  constexpr int kCount = 20;
  std::vector<ContainerSpec> specs;
  for (int i = 0; i < kCount; ++i)
    specs.push_back(sh("sleep 0.2; echo ok-" + std::to_string(i)));
  std::vector<std::string> outputs(kCount);
  std::mutex mu;
  std::vector<std::string> errors;
  std::vector<std::thread> threads;
  for (int i = 0; i < kCount; ++i) {
    threads.emplace_back([&, i] {
      try {
        auto r = run(specs[static_cast<std::size_t>(i)]);
        outputs[static_cast<std::size_t>(i)] = r.out;
      } catch (const std::exception& e) {
        std::lock_guard lock(mu);
        errors.push_back(e.what());
      }
    });
  }
  for (auto& t : threads)
    t.join();
  EXPECT_TRUE(errors.empty()) << errors.front();
  for (int i = 0; i < kCount; ++i)
    EXPECT_EQ(outputs[static_cast<std::size_t>(i)], "ok-" + std::to_string(i) + "\n");
  EXPECT_FALSE(mounted_under(tmp_.path()));
  EXPECT_TRUE(processes_rooted_in(tmp_.path()).empty());
  EXPECT_EQ(::waitpid(-1, nullptr, WNOHANG), -1);  // no child left, not even a zombie
  for (const auto& s : specs)
    for (const auto& dir : cgroup_dirs(s))
      EXPECT_FALSE(fs::exists(dir)) << dir;
}

TEST_F(SandboxLifecycle, SpawnLatency) {
  constexpr int kRuns = 50;
  std::vector<double> ms;
  for (int i = 0; i < kRuns; ++i) {
    Container c(busybox_spec({layer_}, tmp_.path(), {"true"}));
    auto start = std::chrono::steady_clock::now();
    c.start(Stdio{});
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                     .count());
    c.wait();
  }
  std::sort(ms.begin(), ms.end());
  double median = ms[kRuns / 2], p90 = ms[kRuns * 9 / 10];
  std::printf("spawn latency over %d runs: median %.2f ms, p90 %.2f ms, max %.2f ms\n", kRuns,
              median, p90, ms.back());
  RecordProperty("spawn_latency_median_ms", std::to_string(median));
  EXPECT_LT(median, 500.0);
}

}  // namespace
}  // namespace sockerless::sandbox::testing
