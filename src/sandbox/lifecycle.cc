// cleanup(), pause() and resume(): a container's sandbox around its processes' lifetime.
#include <dirent.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "sandbox/cgroups.h"
#include "sandbox/layout.h"
#include "sandbox/mountinfo.h"
#include "sandbox/sandbox.h"

namespace sockerless::sandbox {
namespace {

bool under(const std::string& path, const std::string& dir) {
  return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
                         path[dir.size()] == '/');
}

// The container's mounts live in its own mount namespace and vanish with it; this catches
// anything that reached the caller's namespace anyway (a shared propagation, an older
// sandbox), deepest first.
std::vector<std::string> mounts_under(const std::string& dir) {
  std::vector<std::string> targets;
  for (const auto& m : read_mountinfo())
    if (under(m.mount_point, dir)) targets.push_back(m.mount_point);
  std::sort(targets.begin(), targets.end(),
            [](const auto& a, const auto& b) { return a.size() > b.size(); });
  return targets;
}

void unmount_under(const std::string& dir) {
  for (const auto& t : mounts_under(dir))
    ::umount2(t.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW);
  // Removing files below a mount that stayed could reach into a bind-mounted host dir.
  if (auto left = mounts_under(dir); !left.empty())
    throw SandboxError("cleanup", "still mounted: " + left.front() + ": " + std::strerror(errno));
}

// Directories left without permissions for their owner, which only root may empty: a
// rootless container's root is the daemon's user, and overlayfs's work/work has mode 0.
void give_back_directories(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return;
  if ((st.st_mode & S_IRWXU) != S_IRWXU) ::chmod(path.c_str(), (st.st_mode & 07777) | S_IRWXU);
  DIR* dir = ::opendir(path.c_str());
  if (!dir) return;
  while (auto* e = ::readdir(dir))
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0)
      give_back_directories(path + "/" + e->d_name);
  ::closedir(dir);
}

void remove_path(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec == std::errc::permission_denied && ::geteuid() != 0) {
    give_back_directories(path);
    std::filesystem::remove_all(path, ec);
  }
  if (ec) throw SandboxError("cleanup", "removing " + path + ": " + ec.message());
}

// Without a freezer: every process in the container's pid namespace, found through
// /proc (a process group would miss those that made groups of their own).
void signal_namespace(pid_t container_pid, int sig) {
  struct stat target;
  std::string ns = "/proc/" + std::to_string(container_pid) + "/ns/pid";
  if (::stat(ns.c_str(), &target) != 0)
    throw SandboxError(sig == SIGSTOP ? "pause" : "unpause", "container process is not running");
  DIR* proc = ::opendir("/proc");
  if (!proc) throw SandboxError(sig == SIGSTOP ? "pause" : "unpause", std::strerror(errno));
  while (auto* e = ::readdir(proc)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end) continue;
    struct stat st;
    std::string path = std::string("/proc/") + e->d_name + "/ns/pid";
    if (::stat(path.c_str(), &st) == 0 && st.st_dev == target.st_dev && st.st_ino == target.st_ino)
      ::kill(static_cast<pid_t>(pid), sig);
  }
  ::closedir(proc);
}

}  // namespace

void cleanup(const ContainerSpec& spec, bool remove_changes) {
  if (spec.state_dir.empty() || spec.id.empty()) return;
  StateLayout layout(spec.state_dir);
  unmount_under(layout.state_dir);
  remove_cgroups(spec);
  if (remove_changes) {
    for (const auto* path : {&layout.upper, &layout.work, &layout.rootfs, &layout.empty_lower,
                             &layout.copied, &layout.hosts, &layout.hostname, &layout.resolv_conf})
      remove_path(*path);
  }
}

void pause(const ContainerSpec& spec, pid_t container_pid) {
  if (!freeze_cgroups(spec, true)) signal_namespace(container_pid, SIGSTOP);
}

void resume(const ContainerSpec& spec, pid_t container_pid) {
  if (!freeze_cgroups(spec, false)) signal_namespace(container_pid, SIGCONT);
}

}  // namespace sockerless::sandbox
