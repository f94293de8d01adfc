#include "sandbox/layer_copy.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <utility>

#include "common/unique_fd.h"

namespace sockerless::sandbox {
namespace {

constexpr int kDirFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

bool is_whiteout(const struct stat& st) {
  return S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0);
}

bool is_opaque(int dir_fd) {
  for (const char* name : {"trusted.overlay.opaque", "user.overlay.opaque"}) {
    char value[2] = {};
    if (::fgetxattr(dir_fd, name, value, sizeof value) == 1 && value[0] == 'y') return true;
  }
  return false;
}

std::vector<std::string> entries(int dir_fd) {
  std::vector<std::string> out;
  int copy = ::dup(dir_fd);
  if (copy < 0) return out;
  DIR* dir = ::fdopendir(copy);
  if (!dir) {
    ::close(copy);
    return out;
  }
  ::rewinddir(dir);
  while (auto* e = ::readdir(dir)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    out.emplace_back(e->d_name);
  }
  ::closedir(dir);
  return out;
}

int remove_at(int dir_fd, const std::string& name) {
  struct stat st;
  if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
    return errno == ENOENT ? 0 : errno;
  if (S_ISDIR(st.st_mode)) {
    UniqueFd sub(::openat(dir_fd, name.c_str(), kDirFlags));
    if (!sub) return errno;
    for (const auto& child : entries(sub.get()))
      if (int err = remove_at(sub.get(), child)) return err;
    if (::unlinkat(dir_fd, name.c_str(), AT_REMOVEDIR) != 0) return errno;
    return 0;
  }
  if (::unlinkat(dir_fd, name.c_str(), 0) != 0 && errno != ENOENT) return errno;
  return 0;
}

class Copier {
 public:
  explicit Copier(int dest_root) : dest_root_(dest_root) {}

  bool copy_layer(const std::string& layer) {
    links_.clear();  // hard links never span layers
    UniqueFd src(::open(layer.c_str(), kDirFlags));
    if (!src) return fail("opening layer " + layer, errno);
    layer_ = layer;
    if (!copy_dir(src.get(), dest_root_, "")) return false;
    struct stat st;
    if (::fstat(src.get(), &st) != 0) return fail("stat " + layer, errno);
    return copy_metadata(dest_root_, nullptr, st, src.get());
  }

  const std::string& error() const { return error_; }

 private:
  bool fail(const std::string& what, int err) {
    error_ = what + ": " + std::strerror(err);
    return false;
  }

  bool copy_dir(int src, int dst, const std::string& rel) {
    for (const auto& name : entries(src))
      if (!copy_entry(src, dst, name, rel.empty() ? name : rel + "/" + name)) return false;
    return true;
  }

  bool copy_entry(int src_dir, int dst_dir, const std::string& name, const std::string& rel) {
    const char* n = name.c_str();
    struct stat st;
    if (::fstatat(src_dir, n, &st, AT_SYMLINK_NOFOLLOW) != 0)
      return fail("stat " + where(rel), errno);
    if (is_whiteout(st)) {
      if (int err = remove_at(dst_dir, name)) return fail("whiteout " + rel, err);
      return true;
    }
    struct stat existing;
    bool exists = ::fstatat(dst_dir, n, &existing, AT_SYMLINK_NOFOLLOW) == 0;

    if (S_ISDIR(st.st_mode)) {
      UniqueFd sub_src(::openat(src_dir, n, kDirFlags));
      if (!sub_src) return fail("opening " + where(rel), errno);
      if (exists && (!S_ISDIR(existing.st_mode) || is_opaque(sub_src.get()))) {
        if (int err = remove_at(dst_dir, name)) return fail("replacing " + rel, err);
        exists = false;
      }
      if (!exists && ::mkdirat(dst_dir, n, 0700) != 0) return fail("creating " + rel, errno);
      UniqueFd sub_dst(::openat(dst_dir, n, kDirFlags));
      if (!sub_dst) return fail("opening " + rel, errno);
      if (!copy_dir(sub_src.get(), sub_dst.get(), rel)) return false;
      return copy_metadata(sub_dst.get(), nullptr, st, sub_src.get());
    }

    if (exists)
      if (int err = remove_at(dst_dir, name)) return fail("replacing " + rel, err);
    auto key = std::make_pair(st.st_dev, st.st_ino);
    if (st.st_nlink > 1) {
      if (auto it = links_.find(key); it != links_.end()) {
        if (::linkat(dest_root_, it->second.c_str(), dst_dir, n, 0) == 0) return true;
      }
    }
    if (S_ISREG(st.st_mode)) {
      if (!copy_file(src_dir, dst_dir, name, rel, st)) return false;
    } else if (S_ISLNK(st.st_mode)) {
      std::string target(static_cast<std::size_t>(st.st_size) + 1, '\0');
      ssize_t len = ::readlinkat(src_dir, n, target.data(), target.size());
      if (len < 0) return fail("readlink " + where(rel), errno);
      target.resize(static_cast<std::size_t>(len));
      if (::symlinkat(target.c_str(), dst_dir, n) != 0) return fail("symlink " + rel, errno);
      if (!copy_metadata(dst_dir, n, st, -1)) return false;
    } else {
      if (::mknodat(dst_dir, n, st.st_mode, st.st_rdev) != 0) return fail("mknod " + rel, errno);
      if (!copy_metadata(dst_dir, n, st, -1)) return false;
    }
    if (st.st_nlink > 1) links_[key] = rel;
    return true;
  }

  bool copy_file(int src_dir, int dst_dir, const std::string& name, const std::string& rel,
                 const struct stat& st) {
    UniqueFd in(::openat(src_dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!in) return fail("opening " + where(rel), errno);
    UniqueFd out(::openat(dst_dir, name.c_str(),
                          O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!out) return fail("creating " + rel, errno);
    off_t left = st.st_size;
    bool plain = false;  // copy_file_range not possible between these filesystems
    while (left > 0) {
      ssize_t n = plain ? -1
                        : ::copy_file_range(in.get(), nullptr, out.get(), nullptr,
                                            static_cast<std::size_t>(left), 0);
      if (n < 0 && !plain &&
          (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) {
        plain = true;
      }
      if (plain) {
        char buf[65536];
        n = ::read(in.get(), buf, sizeof buf);
        if (n > 0 && ::write(out.get(), buf, static_cast<std::size_t>(n)) != n)
          return fail("writing " + rel, errno);
      }
      if (n < 0) return fail("copying " + where(rel), errno);
      if (n == 0) break;  // the file shrank underneath us
      left -= n;
    }
    return copy_metadata(out.get(), nullptr, st, in.get());
  }

  // On `fd` itself (name == nullptr) or on `name` in directory `fd` (not following it).
  bool copy_metadata(int fd, const char* name, const struct stat& st, int xattr_src) {
    bool is_link = S_ISLNK(st.st_mode);
    int rc = name ? ::fchownat(fd, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW)
                  : ::fchown(fd, st.st_uid, st.st_gid);
    if (rc != 0) return fail("chown", errno);
    if (xattr_src >= 0 && !name && !copy_xattrs(xattr_src, fd)) return false;
    if (!is_link) {
      rc = name ? ::fchmodat(fd, name, st.st_mode & 07777, 0) : ::fchmod(fd, st.st_mode & 07777);
      if (rc != 0) return fail("chmod", errno);
    }
    const timespec times[2] = {st.st_atim, st.st_mtim};
    rc = name ? ::utimensat(fd, name, times, AT_SYMLINK_NOFOLLOW) : ::futimens(fd, times);
    if (rc != 0) return fail("utimes", errno);
    return true;
  }

  bool copy_xattrs(int from, int to) {
    ssize_t size = ::flistxattr(from, nullptr, 0);
    if (size <= 0) return true;  // none, or a filesystem without xattrs
    std::string names(static_cast<std::size_t>(size), '\0');
    size = ::flistxattr(from, names.data(), names.size());
    if (size <= 0) return true;
    names.resize(static_cast<std::size_t>(size));
    for (std::size_t pos = 0; pos < names.size();) {
      std::string key = names.c_str() + pos;
      pos += key.size() + 1;
      if (key.rfind("trusted.overlay.", 0) == 0 || key.rfind("user.overlay.", 0) == 0) continue;
      ssize_t len = ::fgetxattr(from, key.c_str(), nullptr, 0);
      if (len < 0) continue;
      std::string value(static_cast<std::size_t>(len), '\0');
      len = ::fgetxattr(from, key.c_str(), value.data(), value.size());
      if (len < 0) continue;
      if (::fsetxattr(to, key.c_str(), value.data(), static_cast<std::size_t>(len), 0) != 0 &&
          errno != ENOTSUP)
        return fail("setting xattr " + key, errno);
    }
    return true;
  }

  std::string where(const std::string& rel) const { return layer_ + "/" + rel; }

  int dest_root_;
  std::string layer_;
  std::string error_;
  std::map<std::pair<dev_t, ino_t>, std::string> links_;
};

}  // namespace

int clear_directory(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), kDirFlags));
  if (!fd) return errno;
  for (const auto& name : entries(fd.get()))
    if (int err = remove_at(fd.get(), name)) return err;
  return 0;
}

std::string copy_layers(const std::vector<std::string>& lower_bottom_first,
                        const std::string& dest) {
  UniqueFd root(::open(dest.c_str(), kDirFlags));
  if (!root) return "opening " + dest + ": " + std::strerror(errno);
  Copier copier(root.get());
  for (const auto& layer : lower_bottom_first)
    if (!copier.copy_layer(layer)) return copier.error();
  return "";
}

}  // namespace sockerless::sandbox
