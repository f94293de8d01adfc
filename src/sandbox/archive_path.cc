#include "sandbox/archive_path.h"

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <climits>
#include <cstring>
#include <vector>

#include "sandbox/safe_path.h"

namespace sockerless::sandbox {
namespace {

// dockerd's evalSymlinksInScope gives up after this many steps (components and links).
constexpr int kMaxResolveSteps = 255;

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts)
    out += "/" + p;
  return out.empty() ? "/" : out;
}

// lstat of `path` (symlink-free but for its last component) in the root.
int lstat_in_root(int root_fd, const std::string& path, struct stat& st) {
  auto slash = path.rfind('/');
  std::string parent = slash == 0 ? "/" : path.substr(0, slash);
  std::string name = path.substr(slash + 1);
  if (name.empty()) name = ".";
  // Not O_DIRECTORY: a parent that is a file must fail the way lstat does, with ENOTDIR.
  UniqueFd dir = open_in_root(root_fd, parent, O_PATH);
  if (!dir) return errno;
  return ::fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : errno;
}

std::string read_link_in_root(int root_fd, const std::string& path) {
  auto slash = path.rfind('/');
  UniqueFd dir = open_in_root(root_fd, slash == 0 ? "/" : path.substr(0, slash), O_PATH);
  char target[PATH_MAX];
  ssize_t n = dir ? ::readlinkat(dir.get(), path.c_str() + slash + 1, target, sizeof target) : -1;
  if (n < 0) throw PathError(errno, "readlink", path);
  return std::string(target, static_cast<std::size_t>(n));
}

}  // namespace

PathError::PathError(int err, const std::string& op, const std::string& path)
    : std::runtime_error(op + " " + path + ": " + go_strerror(err)), err_(err) {}

std::string go_strerror(int err) {
  std::string s = std::strerror(err);
  if (!s.empty() && !(s.size() > 1 && std::isupper(static_cast<unsigned char>(s[1]))))
    s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
  return s;
}

std::string clean_path(std::string_view path) {
  if (path.empty()) return ".";
  bool rooted = path.front() == '/';
  std::vector<std::string_view> parts;
  while (!path.empty()) {
    auto slash = path.find('/');
    auto part = path.substr(0, slash);
    if (part == "..") {
      if (!parts.empty() && parts.back() != "..") {
        parts.pop_back();
      } else if (!rooted) {
        parts.push_back(part);
      }
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  std::string out = rooted ? "/" : "";
  for (std::size_t i = 0; i < parts.size(); ++i)
    out += (i ? "/" : "") + std::string(parts[i]);
  return out.empty() ? "." : out;
}

std::string base_name(std::string_view path) {
  if (path.empty()) return ".";
  while (path.size() > 1 && path.back() == '/')
    path.remove_suffix(1);
  if (path == "/") return "/";
  auto slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

std::string container_abs_path(std::string_view requested) {
  std::string out = clean_path("/" + std::string(requested));
  // A request naming "." keeps it, one ending in a separator keeps that.
  if (base_name(requested) == "." && base_name(out) != ".") out += out == "/" ? "." : "/.";
  if (!requested.empty() && requested.back() == '/' && out.back() != '/') out += '/';
  return out;
}

std::string resolve_in_root(int root_fd, std::string_view abs_path) {
  std::string rest = clean_path("/" + std::string(abs_path));
  std::vector<std::string> resolved;  // never holds a symbolic link
  for (int steps = 0; !rest.empty(); ++steps) {
    if (steps > kMaxResolveSteps)
      throw PathError(ELOOP, "evalSymlinksInScope: too many links in " + std::string(abs_path));
    auto slash = rest.find('/');
    std::string part = rest.substr(0, slash);
    rest = slash == std::string::npos ? "" : rest.substr(slash + 1);
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (!resolved.empty()) resolved.pop_back();
      continue;
    }
    resolved.push_back(part);
    std::string path = join(resolved);
    struct stat st {};
    if (int err = lstat_in_root(root_fd, path, st)) {
      if (err == ENOENT) continue;  // taken as written
      throw PathError(err, "lstat", path);
    }
    if (!S_ISLNK(st.st_mode)) continue;
    std::string target = read_link_in_root(root_fd, path);
    resolved.pop_back();
    if (!target.empty() && target.front() == '/') resolved.clear();
    rest = target + "/" + rest;
  }
  return join(resolved);
}

ArchiveStat stat_for_archive(int root_fd, std::string_view requested) {
  std::string abs = container_abs_path(requested);
  auto slash = abs.rfind('/');
  std::string dir = abs.substr(0, slash + 1), base = abs.substr(slash + 1);
  std::string resolved_dir = resolve_in_root(root_fd, dir);
  std::string resolved = (resolved_dir == "/" ? "" : resolved_dir) + "/" + base;
  ArchiveStat out;
  out.name = base_name(abs);
  if (base.empty() || base == ".") {
    // The trailing "/" or "/." looks into what the directory part resolved to.
    UniqueFd fd = open_in_root(root_fd, resolved_dir, O_PATH);
    if (!fd || ::fstat(fd.get(), &out.st) != 0) throw PathError(errno, "lstat", resolved);
    if (!S_ISDIR(out.st.st_mode)) throw PathError(ENOTDIR, "lstat", resolved);
  } else if (int err = lstat_in_root(root_fd, resolved, out.st)) {
    throw PathError(err, "lstat", resolved);
  }
  if (S_ISLNK(out.st.st_mode)) out.link_target = resolve_in_root(root_fd, abs);
  out.source = clean_path(resolved);
  return out;
}

std::string extraction_dir(int root_fd, std::string_view requested) {
  std::string resolved = resolve_in_root(root_fd, container_abs_path(requested));
  struct stat st {};
  if (int err = lstat_in_root(root_fd, resolved, st)) throw PathError(err, "lstat", resolved);
  if (!S_ISDIR(st.st_mode)) throw PathError(ENOTDIR, "extraction point is not a directory");
  return resolved;
}

}  // namespace sockerless::sandbox
