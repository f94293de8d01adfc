#include "sandbox/system_mounts.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <cerrno>
#include <string>

#include "common/oci_defaults.h"
#include "common/unique_fd.h"
#include "sandbox/mounts.h"
#include "sandbox/safe_path.h"

namespace sockerless::sandbox {
namespace {

constexpr unsigned long kSafeFlags = MS_NOSUID | MS_NODEV | MS_NOEXEC;

}  // namespace

void mount_proc(const ErrorChannel& errors, int root_fd) {
  UniqueFd target = mkdir_all_in_root(root_fd, "/proc", 0555);
  if (!target) errors.fail_errno("mount /proc", errno);
  if (::mount("proc", fd_path(target.get()).c_str(), "proc", kSafeFlags, nullptr) != 0)
    errors.fail_errno("mount /proc", errno);
}

void mount_sys(const ErrorChannel& errors, int root_fd, bool readonly) {
  UniqueFd target = mkdir_all_in_root(root_fd, "/sys", 0555);
  if (!target) errors.fail_errno("mount /sys", errno);
  std::string path = fd_path(target.get());
  if (::mount("sysfs", path.c_str(), "sysfs", kSafeFlags | (readonly ? MS_RDONLY : 0), nullptr) ==
      0)
    return;
  if (errno != EPERM && errno != EBUSY) errors.fail_errno("mount /sys", errno);
  if (::mount("/sys", path.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0)
    errors.fail_errno("mount /sys", errno);
  if (readonly) {
    UniqueFd mounted = open_in_root(root_fd, "/sys", O_PATH);
    if (!mounted) errors.fail_errno("mount /sys", errno);
    if (int err = remount_readonly(fd_path(mounted.get()), true))
      errors.fail_errno("mount /sys", err);
  }
}

void mount_cgroups(int root_fd, const std::vector<Hierarchy>& hierarchies, bool readonly) {
  const std::string base = "/sys/fs/cgroup";
  unsigned long flags = kSafeFlags | (readonly ? MS_RDONLY : 0);
  bool have_tmpfs = false;
  for (const auto& h : hierarchies) {
    if (h.mount != base && h.mount.rfind(base + "/", 0) != 0) continue;  // mounted elsewhere
    if (h.mount != base && !have_tmpfs) {
      // v1 (or hybrid): a tmpfs holding one directory per hierarchy, as docker has it.
      UniqueFd dir = open_in_root(root_fd, base, O_PATH | O_DIRECTORY);
      if (!dir ||
          ::mount("tmpfs", fd_path(dir.get()).c_str(), "tmpfs", kSafeFlags, "mode=755") != 0)
        return;
      have_tmpfs = true;
    }
    UniqueFd target = mkdir_all_in_root(root_fd, h.mount, 0555);
    if (!target) continue;
    std::string options;
    for (const auto& c : h.controllers)
      options += (options.empty() ? "" : ",") + c;
    ::mount("cgroup", fd_path(target.get()).c_str(), h.unified ? "cgroup2" : "cgroup", flags,
            h.unified ? nullptr : options.c_str());
  }
  if (have_tmpfs && readonly) {
    UniqueFd dir = open_in_root(root_fd, base, O_PATH | O_DIRECTORY);
    if (dir)
      ::mount(nullptr, fd_path(dir.get()).c_str(), nullptr,
              MS_REMOUNT | MS_BIND | MS_RDONLY | kSafeFlags, nullptr);
  }
}

void restrict_proc_and_sys(const ErrorChannel& errors, int root_fd) {
  UniqueFd null = open_in_root(root_fd, "/dev/null", O_PATH);
  if (!null) errors.fail_errno("mask paths", errno);
  for (const char* path : kDefaultMaskedPaths) {
    UniqueFd target = open_in_root(root_fd, path, O_PATH);
    if (!target) continue;  // not on this kernel
    struct stat st;
    if (::fstat(target.get(), &st) != 0) errors.fail_errno(std::string("mask ") + path, errno);
    std::string where = fd_path(target.get());
    int rc = S_ISDIR(st.st_mode)
                 ? ::mount("tmpfs", where.c_str(), "tmpfs", MS_RDONLY | kSafeFlags, "size=0")
                 : ::mount(fd_path(null.get()).c_str(), where.c_str(), nullptr, MS_BIND, nullptr);
    if (rc != 0) errors.fail_errno(std::string("mask ") + path, errno);
  }
  for (const char* path : kDefaultReadonlyPaths) {
    UniqueFd target = open_in_root(root_fd, path, O_PATH);
    if (!target) continue;
    std::string where = fd_path(target.get());
    if (::mount(where.c_str(), where.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0)
      errors.fail_errno(std::string("read-only ") + path, errno);
    UniqueFd mounted = open_in_root(root_fd, path, O_PATH);
    if (!mounted) errors.fail_errno(std::string("read-only ") + path, errno);
    if (int err = remount_readonly(fd_path(mounted.get()), true))
      errors.fail_errno(std::string("read-only ") + path, err);
  }
}

}  // namespace sockerless::sandbox
