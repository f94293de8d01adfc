#include "sandbox/safe_path.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <vector>

namespace sockerless::sandbox {
namespace {

std::vector<std::string_view> components(std::string_view path) {
  std::vector<std::string_view> out;
  while (!path.empty()) {
    auto slash = path.find('/');
    auto part = path.substr(0, slash);
    if (!part.empty() && part != ".") out.push_back(part);
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

std::string join(const std::vector<std::string_view>& parts, std::size_t n) {
  std::string out = "/";
  for (std::size_t i = 0; i < n; ++i) {
    if (i) out += '/';
    out += parts[i];
  }
  return out;
}

}  // namespace

UniqueFd open_in_root(int root_fd, std::string_view path, int flags) {
  open_how how{};
  how.flags = static_cast<unsigned long long>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  std::string p(path.empty() ? "/" : path);
  for (;;) {
    long fd = ::syscall(SYS_openat2, root_fd, p.c_str(), &how, sizeof how);
    if (fd >= 0) return UniqueFd(static_cast<int>(fd));
    // EAGAIN: a rename raced with the lookup somewhere on the system; just retry.
    if (errno != EAGAIN && errno != EINTR) return UniqueFd();
  }
}

UniqueFd mkdir_all_in_root(int root_fd, std::string_view path, mode_t mode, uid_t uid, gid_t gid) {
  std::string wanted(path);
  // Each dangling symlink on the way restarts the walk at its target (as runc does: an
  // image's /var/run -> /run gets /run created), up to the kernel's own link limit.
  for (int links = 0; links <= 40; ++links) {
    auto parts = components(wanted);
    UniqueFd current = open_in_root(root_fd, "/", O_PATH | O_DIRECTORY);
    if (!current) return current;
    std::string restart;
    for (std::size_t i = 0; i < parts.size() && restart.empty(); ++i) {
      std::string prefix = join(parts, i + 1);
      UniqueFd next = open_in_root(root_fd, prefix, O_PATH | O_DIRECTORY);
      if (!next && errno == ENOENT) {
        // `current` is the resolved parent, inside the root: the name is created right there.
        std::string name(parts[i]);
        if (::mkdirat(current.get(), name.c_str(), mode) == 0) {
          if (uid != static_cast<uid_t>(-1) &&
              ::fchownat(current.get(), name.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0)
            return UniqueFd();
          ::fchmodat(current.get(), name.c_str(), mode, 0);  // undo the umask
        } else if (errno == EEXIST) {
          char target[PATH_MAX];
          ssize_t n = ::readlinkat(current.get(), name.c_str(), target, sizeof target - 1);
          if (n <= 0) return UniqueFd();
          target[n] = '\0';
          std::string rest;
          for (std::size_t k = i + 1; k < parts.size(); ++k)
            rest += "/" + std::string(parts[k]);
          // An absolute target is relative to the container's root; open_in_root sees to that
          // and to ".." never climbing above it.
          restart = target[0] == '/' ? target + rest : join(parts, i) + "/" + target + rest;
          break;
        } else {
          return UniqueFd();
        }
        next = open_in_root(root_fd, prefix, O_PATH | O_DIRECTORY);
      }
      if (!next) return next;
      current = std::move(next);
    }
    if (restart.empty()) return current;
    wanted = restart;
  }
  errno = ELOOP;
  return UniqueFd();
}

UniqueFd ensure_file_in_root(int root_fd, std::string_view path) {
  UniqueFd existing = open_in_root(root_fd, path, O_PATH);
  if (existing || errno != ENOENT) return existing;
  auto parts = components(path);
  if (parts.empty()) return UniqueFd();
  UniqueFd parent = mkdir_all_in_root(root_fd, join(parts, parts.size() - 1), 0755);
  if (!parent) return parent;
  std::string name(parts.back());
  int fd = ::openat(parent.get(), name.c_str(),
                    O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, 0644);
  if (fd >= 0) {
    ::close(fd);
  } else if (errno != EEXIST) {
    return UniqueFd();
  }
  return open_in_root(root_fd, path, O_PATH);
}

std::vector<std::string> directory_names(int dir_fd) {
  std::vector<std::string> names;
  int copy = ::dup(dir_fd);  // closedir closes it
  DIR* dir = copy < 0 ? nullptr : ::fdopendir(copy);
  if (!dir) {
    if (copy >= 0) ::close(copy);
    return names;
  }
  ::rewinddir(dir);
  while (dirent* d = ::readdir(dir)) {
    std::string_view n = d->d_name;
    if (n != "." && n != "..") names.emplace_back(n);
  }
  ::closedir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

std::string fd_path(int fd) {
  return "/proc/self/fd/" + std::to_string(fd);
}

}  // namespace sockerless::sandbox
