#include "sandbox/mounts.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "sandbox/safe_path.h"

namespace sockerless::sandbox {
namespace {

unsigned long preserved_flags(const std::string& path) {
  struct statvfs sv {};
  if (::statvfs(path.c_str(), &sv) != 0) return 0;
  unsigned long flags = 0;
  if (sv.f_flag & ST_NOSUID) flags |= MS_NOSUID;
  if (sv.f_flag & ST_NODEV) flags |= MS_NODEV;
  if (sv.f_flag & ST_NOEXEC) flags |= MS_NOEXEC;
  if (sv.f_flag & ST_NOATIME) flags |= MS_NOATIME;
  if (sv.f_flag & ST_NODIRATIME) flags |= MS_NODIRATIME;
  if (sv.f_flag & ST_RELATIME) flags |= MS_RELATIME;
  return flags;
}

std::size_t depth(const std::string& path) {
  return static_cast<std::size_t>(std::count(path.begin(), path.end(), '/')) -
         (path.size() > 1 && path.back() == '/' ? 1 : 0);
}

void mount_bind(const ErrorChannel& errors, int root_fd, const Mount& m) {
  std::string step = "mount " + m.target;
  struct stat st;
  if (::stat(m.source.c_str(), &st) != 0)
    errors.fail(step, "bind source path does not exist: " + m.source);
  UniqueFd target = S_ISDIR(st.st_mode) ? mkdir_all_in_root(root_fd, m.target, 0755)
                                        : ensure_file_in_root(root_fd, m.target);
  if (!target) errors.fail_errno(step, errno);
  unsigned long flags = MS_BIND | (m.recursive ? MS_REC : 0);
  if (::mount(m.source.c_str(), fd_path(target.get()).c_str(), nullptr, flags, nullptr) != 0)
    errors.fail_errno(step, errno);
  // The old fd still names what was underneath; the new mount is reached by a new lookup.
  UniqueFd mounted = open_in_root(root_fd, m.target, O_PATH);
  if (!mounted) errors.fail_errno(step, errno);
  std::string path = fd_path(mounted.get());
  if (::mount(nullptr, path.c_str(), nullptr, propagation_flags(m.propagation), nullptr) != 0)
    errors.fail_errno(step + ": propagation", errno);
  if (m.readonly)
    if (int err = remount_readonly(path, m.recursive)) errors.fail_errno(step + ": read-only", err);
}

void mount_tmpfs(const ErrorChannel& errors, int root_fd, const Mount& m) {
  std::string step = "mount " + m.target;
  UniqueFd target = mkdir_all_in_root(root_fd, m.target, 0755);
  if (!target) errors.fail_errno(step, errno);
  char data[64];
  std::snprintf(data, sizeof data, "mode=%o", m.tmpfs_mode);
  std::string options = data;
  if (m.tmpfs_size > 0) options += ",size=" + std::to_string(m.tmpfs_size);
  // docker's defaults for a tmpfs mount.
  unsigned long flags = MS_NOSUID | MS_NODEV | MS_NOEXEC | (m.readonly ? MS_RDONLY : 0);
  if (::mount("tmpfs", fd_path(target.get()).c_str(), "tmpfs", flags, options.c_str()) != 0)
    errors.fail_errno(step, errno);
}

}  // namespace

unsigned long propagation_flags(std::string_view p) {
  if (p == "" || p == "rprivate") return MS_PRIVATE | MS_REC;
  if (p == "private") return MS_PRIVATE;
  if (p == "shared") return MS_SHARED;
  if (p == "rshared") return MS_SHARED | MS_REC;
  if (p == "slave") return MS_SLAVE;
  if (p == "rslave") return MS_SLAVE | MS_REC;
  return 0;
}

void validate_mounts(const std::vector<Mount>& mounts) {
  for (const auto& m : mounts) {
    if (m.target.empty() || m.target.front() != '/')
      throw SandboxError("mounts",
                         "invalid mount config: mount path must be absolute: \"" + m.target + "\"");
    if (m.target.find_first_not_of('/') == std::string::npos)
      throw SandboxError("mounts", "invalid specification: destination can't be '/'");
    if (m.type == "bind") {
      struct stat st;
      if (m.source.empty() || m.source.front() != '/')
        throw SandboxError(
            "mounts", "invalid mount config for type \"bind\": invalid mount path: '" + m.source +
                          "' mount path must be absolute");
      if (::stat(m.source.c_str(), &st) != 0)
        throw SandboxError(
            "mounts",
            "invalid mount config for type \"bind\": bind source path does not exist: " + m.source);
      if (propagation_flags(m.propagation) == 0)
        throw SandboxError("mounts", "invalid propagation mode: " + m.propagation);
    } else if (m.type != "tmpfs") {
      throw SandboxError("mounts", "mount type not supported by the sandbox: \"" + m.type + "\"");
    }
  }
}

void mount_user_mounts(const ErrorChannel& errors, int root_fd, const std::vector<Mount>& mounts) {
  std::vector<const Mount*> order;
  for (const auto& m : mounts)
    order.push_back(&m);
  std::stable_sort(order.begin(), order.end(), [](const Mount* a, const Mount* b) {
    return depth(a->target) < depth(b->target);
  });
  for (const Mount* m : order) {
    if (m->type == "tmpfs") {
      mount_tmpfs(errors, root_fd, *m);
    } else {
      mount_bind(errors, root_fd, *m);
    }
  }
}

void bind_file(const ErrorChannel& errors, int root_fd, const std::string& source,
               const std::string& target) {
  UniqueFd fd = ensure_file_in_root(root_fd, target);
  if (!fd) errors.fail_errno("mount " + target, errno);
  if (::mount(source.c_str(), fd_path(fd.get()).c_str(), nullptr, MS_BIND, nullptr) != 0)
    errors.fail_errno("mount " + target, errno);
  UniqueFd mounted = open_in_root(root_fd, target, O_PATH);
  if (!mounted ||
      ::mount(nullptr, fd_path(mounted.get()).c_str(), nullptr, MS_PRIVATE, nullptr) != 0)
    errors.fail_errno("mount " + target, errno);
}

int remount_readonly(const std::string& path, bool recursive) {
  if (recursive) {
    UniqueFd fd(::open(path.c_str(), O_PATH | O_CLOEXEC));
    if (!fd) return errno;
    mount_attr attr{};
    attr.attr_set = MOUNT_ATTR_RDONLY;
    if (::mount_setattr(fd.get(), "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) == 0)
      return 0;
    if (errno != ENOSYS) return errno;  // before Linux 5.12: only the top mount below
  }
  unsigned long flags = MS_BIND | MS_REMOUNT | MS_RDONLY | preserved_flags(path);
  if (::mount(nullptr, path.c_str(), nullptr, flags, nullptr) != 0) return errno;
  return 0;
}

}  // namespace sockerless::sandbox
