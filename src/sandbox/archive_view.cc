#include "sandbox/archive_view.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "sandbox/launch.h"
#include "sandbox/layout.h"
#include "sandbox/mounts.h"
#include "sandbox/rootfs.h"

namespace sockerless::sandbox {
namespace {

[[noreturn]] void fail(const std::string& step) {
  throw SandboxError(step, std::strerror(errno));
}

// A mount namespace of our own whose changes reach no one else.
void private_mount_namespace() {
  if (::unshare(CLONE_NEWNS) != 0) fail("archive view: unshare");
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    fail("archive view: make mounts private");
}

bool mounted_by_user(const ContainerSpec& spec, const std::string& target) {
  return std::any_of(spec.mounts.begin(), spec.mounts.end(),
                     [&](const Mount& m) { return m.target == target; });
}

void enter_running(const ContainerSpec& spec, pid_t pid, ArchiveMounts mounts) {
  std::string ns = "/proc/" + std::to_string(pid) + "/ns/mnt";
  UniqueFd fd(::open(ns.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd || ::setns(fd.get(), CLONE_NEWNS) != 0) fail("archive view: join the container's mounts");
  private_mount_namespace();
  if (::chdir("/") != 0) fail("archive view: chdir");
  // Deepest first; a lazy unmount takes what is mounted below along.
  std::vector<std::string> runtime;
  for (const auto& m : spec.mounts)
    if (m.type == "tmpfs" || mounts == ArchiveMounts::kNone) runtime.push_back(m.target);
  if (mounts == ArchiveMounts::kNone)
    for (const char* p : {"/etc/hosts", "/etc/hostname", "/etc/resolv.conf"})
      runtime.emplace_back(p);
  std::sort(runtime.begin(), runtime.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  for (const char* p : {"/dev", "/sys", "/proc"})
    runtime.emplace_back(p);
  for (const auto& target : runtime)
    ::umount2(target.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW);  // not mounted: nothing to do
}

// In a child, because the mount steps report failures by exiting: the mounts land in the
// namespace it shares with us.
void mount_stopped(const ContainerSpec& spec, const StateLayout& layout, ArchiveMounts mounts) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) fail("archive view: pipe");
  UniqueFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
  pid_t child = ::fork();
  if (child < 0) fail("archive view: fork");
  if (child == 0) {
    read_end.reset();
    ErrorChannel errors(write_end.get());
    mount_rootfs(errors, layout, spec.lower_dirs);
    if (mounts == ArchiveMounts::kNone) ::_exit(0);
    UniqueFd root(::open(layout.rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root) errors.fail_errno("open rootfs", errno);
    const std::pair<const std::string*, const char*> etc_files[] = {
        {&layout.hosts, "/etc/hosts"},
        {&layout.hostname, "/etc/hostname"},
        {&layout.resolv_conf, "/etc/resolv.conf"},
    };
    std::vector<Mount> binds;
    for (const auto& m : spec.mounts)
      if (m.type != "tmpfs") binds.push_back(m);
    mount_user_mounts(errors, root.get(), binds);
    for (const auto& [source, target] : etc_files)  // over the user's mounts, as at start
      if (::access(source->c_str(), F_OK) == 0 && !mounted_by_user(spec, target))
        bind_file(errors, root.get(), *source, target);
    ::_exit(0);
  }
  write_end.reset();
  std::string report;
  char buf[512];
  ssize_t n;
  while ((n = ::read(read_end.get(), buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0) report.append(buf, static_cast<std::size_t>(n));
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (!report.empty()) {
    auto nul = report.find('\0');
    throw SandboxError(report.substr(0, nul),
                       nul == std::string::npos ? "" : report.substr(nul + 1));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw SandboxError("archive view", "mounting the container's files failed");
}

void enter_stopped(const ContainerSpec& spec, ArchiveMounts mounts) {
  StateLayout layout(spec.state_dir);
  prepare_state_dir(layout);
  private_mount_namespace();
  mount_stopped(spec, layout, mounts);
  if (::chroot(layout.rootfs.c_str()) != 0 || ::chdir("/") != 0)
    fail("archive view: enter the container's root");
}

}  // namespace

void enter_archive_view(const ContainerSpec& spec, pid_t running_pid, ArchiveMounts mounts) {
  if (running_pid > 0) {
    enter_running(spec, running_pid, mounts);
  } else {
    enter_stopped(spec, mounts);
  }
}

}  // namespace sockerless::sandbox
