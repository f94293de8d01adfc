#include "sandbox/rootfs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "common/unique_fd.h"
#include "sandbox/layer_copy.h"
#include "sandbox/mounts.h"

namespace sockerless::sandbox {
namespace {

// The kernel copies mount data into one page.
constexpr std::size_t kMaxMountData = 4095;

std::string escape(const std::string& path) {
  std::string out;
  for (char c : path) {
    if (c == ',' || c == ':' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

// With many layers the absolute paths overflow the page; relative to their common
// parent (the layer store) they usually fit. Returns "" when they share nothing.
std::string common_parent(const std::vector<std::string>& paths) {
  if (paths.empty()) return "";
  std::string prefix = paths.front();
  for (const auto& p : paths) {
    std::size_t n = 0;
    while (n < prefix.size() && n < p.size() && prefix[n] == p[n])
      ++n;
    prefix.resize(n);
  }
  auto slash = prefix.rfind('/');
  if (slash == std::string::npos || slash == 0) return "";
  return prefix.substr(0, slash);
}

// Docker turns the index feature off (it fails mounts whose layers were used by another
// overlay before); only where the module would turn it on by default.
bool overlay_index_default_on() {
  std::ifstream in("/sys/module/overlay/parameters/index");
  char c = 'N';
  return in >> c && c == 'Y';
}

// Returns 0 or the errno of the failed mount.
int mount_overlay(const StateLayout& layout, std::vector<std::string> lower) {
  if (lower.empty()) lower.push_back(layout.empty_lower);
  std::string extra = overlay_index_default_on() ? ",index=off" : "";
  std::string data = overlay_options(lower, layout.upper, layout.work) + extra;
  if (data.size() <= kMaxMountData)
    return ::mount("overlay", layout.rootfs.c_str(), "overlay", 0, data.c_str()) == 0 ? 0 : errno;

  std::vector<std::string> all = lower;
  all.push_back(layout.upper);
  all.push_back(layout.work);
  std::string base = common_parent(all);
  if (base.empty()) return E2BIG;
  for (auto& p : lower)
    p = p.substr(base.size() + 1);
  data = overlay_options(lower, layout.upper.substr(base.size() + 1),
                         layout.work.substr(base.size() + 1)) +
         extra;
  if (data.size() > kMaxMountData) return E2BIG;
  // Relative overlay paths are resolved against the mounting process's cwd.
  if (::chdir(base.c_str()) != 0) return errno;
  int rc = ::mount("overlay", layout.rootfs.c_str(), "overlay", 0, data.c_str()) == 0 ? 0 : errno;
  if (::chdir("/") != 0 && rc == 0) rc = errno;
  return rc;
}

bool exists(const std::string& path) {
  return ::access(path.c_str(), F_OK) == 0;
}

// The errors of a kernel without overlayfs, or of an upper dir overlayfs can't use.
bool overlay_unsupported(int err) {
  return err == ENODEV || err == EINVAL || err == EOPNOTSUPP || err == EPERM || err == E2BIG;
}

bool directory_empty(const std::string& path) {
  DIR* dir = ::opendir(path.c_str());
  if (!dir) return true;
  bool empty = true;
  while (auto* e = ::readdir(dir)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
      empty = false;
      break;
    }
  }
  ::closedir(dir);
  return empty;
}

}  // namespace

std::string overlay_options(const std::vector<std::string>& lower_bottom_first,
                            const std::string& upper, const std::string& work) {
  std::string data = "lowerdir=";
  for (auto it = lower_bottom_first.rbegin(); it != lower_bottom_first.rend(); ++it) {
    if (it != lower_bottom_first.rbegin()) data += ':';
    data += escape(*it);
  }
  data += ",upperdir=" + escape(upper) + ",workdir=" + escape(work);
  return data;
}

void isolate_mounts(const ErrorChannel& errors) {
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0)
    errors.fail_errno("make mounts private", errno);
}

void mount_rootfs(const ErrorChannel& errors, const StateLayout& layout,
                  const std::vector<std::string>& lower_bottom_first) {
  std::string overlay_error;
  if (!exists(layout.copied)) {
    int err = mount_overlay(layout, lower_bottom_first);
    if (err == 0) return;
    overlay_error = std::strerror(err);
    // Only a host that can't do overlays at all gets the copy; a missing layer or a
    // passing shortage is an error. A copy would also hide changes an earlier overlay
    // run left in upper/.
    if (!overlay_unsupported(err)) errors.fail("mount overlay rootfs", overlay_error);
    if (!directory_empty(layout.upper))
      errors.fail("mount overlay rootfs", overlay_error + " (not copying the layers instead: " +
                                              layout.upper + " holds the container's changes)");
    // A previous partial copy (the process died while copying) starts over.
    if (int clear = clear_directory(layout.rootfs))
      errors.fail("mount overlay rootfs",
                  overlay_error + "; clearing the copy: " + std::strerror(clear));
    std::string copy_error = copy_layers(lower_bottom_first, layout.rootfs);
    if (!copy_error.empty())
      errors.fail("mount overlay rootfs",
                  overlay_error + "; copying the layers instead: " + copy_error);
    UniqueFd marker(::open(layout.copied.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    if (!marker) errors.fail_errno("copy rootfs", errno);
  }
  // pivot_root needs a mount point.
  if (::mount(layout.rootfs.c_str(), layout.rootfs.c_str(), nullptr, MS_BIND | MS_REC, nullptr) !=
      0)
    errors.fail_errno("bind rootfs", errno);
}

void enter_rootfs(const ErrorChannel& errors, const std::string& rootfs) {
  UniqueFd old_root(::open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC));
  UniqueFd new_root(::open(rootfs.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC));
  if (!old_root || !new_root) errors.fail_errno("pivot_root", errno);
  if (::fchdir(new_root.get()) != 0) errors.fail_errno("pivot_root", errno);
  // pivot_root(".", "."): the old root ends up stacked on the new one, where it can be
  // unmounted without needing a directory for it in the image.
  if (::syscall(SYS_pivot_root, ".", ".") == 0) {
    if (::fchdir(old_root.get()) != 0) errors.fail_errno("pivot_root", errno);
    if (::umount2(".", MNT_DETACH) != 0)
      errors.fail_errno("pivot_root: detach the old root", errno);
  } else if (errno == EINVAL) {
    // The host's root is not a mount point we can pivot away from (an initramfs): the
    // root moves over "/" instead.
    if (::mount(rootfs.c_str(), "/", nullptr, MS_MOVE, nullptr) != 0)
      errors.fail_errno("move rootfs", errno);
    if (::chroot(".") != 0) errors.fail_errno("chroot", errno);
  } else {
    errors.fail_errno("pivot_root", errno);
  }
  if (::chdir("/") != 0) errors.fail_errno("pivot_root", errno);
}

void make_root_readonly(const ErrorChannel& errors) {
  if (int err = remount_readonly("/", false)) errors.fail_errno("remount rootfs read-only", err);
}

}  // namespace sockerless::sandbox
