// docker cp's path rules, as dockerd applies them (its ResolvePath, GetResourcePath and
// StatPath), in a container's root given as a directory fd: the requested path is made
// absolute and cleaned but keeps a trailing "/" or "/." (which ask for the directory a
// link leads to, or a directory's contents); symbolic links are followed as if the root
// were "/", never above it; components that do not exist are taken as they are.
#pragma once

#include <sys/stat.h>

#include <stdexcept>
#include <string>
#include <string_view>

namespace sockerless::sandbox {

// A failed lookup, worded as Go's os package words it ("lstat /a/b/: not a directory");
// error() is the errno (ENOENT: the path does not exist).
class PathError : public std::runtime_error {
 public:
  PathError(int err, const std::string& op, const std::string& path);
  PathError(int err, const std::string& message) : std::runtime_error(message), err_(err) {}
  int error() const { return err_; }

 private:
  int err_;
};

// strerror as Go prints it: "no such file or directory", "read-only file system".
std::string go_strerror(int err);

// Go's path.Clean: "/a/./b/../c/" → "/a/c", "" → ".".
std::string clean_path(std::string_view path);

// Go's filepath.Base: "/a/b/" → "b", "/a/." → ".", "/" → "/".
std::string base_name(std::string_view path);

// The requested path as dockerd reads it: absolute, cleaned, with a trailing "/" or "/."
// of the request kept ("dir/." → "/dir/.", "/a/../b/" → "/b/").
std::string container_abs_path(std::string_view requested);

// `abs_path` with every symbolic link followed inside the root, the last one too; what
// does not exist is kept as written. Throws PathError for a lookup that fails otherwise
// (ENOTDIR through a file, ELOOP past 255 steps).
std::string resolve_in_root(int root_fd, std::string_view abs_path);

// What HEAD and GET /archive report for a requested path.
struct ArchiveStat {
  std::string name;         // base name of the request ("." for "/dir/.", "/" for "/")
  struct stat st {};        // lstat of it (a trailing "/" or "/." follows a link)
  std::string link_target;  // a symbolic link's destination, resolved in the root
  std::string source;       // the resolved path the archive is made of
};

// Throws PathError (ENOENT when missing).
ArchiveStat stat_for_archive(int root_fd, std::string_view requested);

// The directory PUT /archive extracts into: every link followed. Throws PathError
// (ENOENT when missing, ENOTDIR when not a directory).
std::string extraction_dir(int root_fd, std::string_view requested);

}  // namespace sockerless::sandbox
