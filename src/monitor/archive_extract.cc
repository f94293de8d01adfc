#include "monitor/archive_extract.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <set>
#include <vector>

#include "common/tar_entries.h"
#include "common/unique_fd.h"
#include "sandbox/archive_path.h"
#include "sandbox/safe_path.h"
#include "sandbox/user.h"

namespace sockerless::monitor {
namespace {

using ReadArchive = std::unique_ptr<struct archive, decltype(&archive_read_free)>;

ReadArchive open_upload(int fd) {
  ::lseek(fd, 0, SEEK_SET);
  ReadArchive a(archive_read_new(), archive_read_free);
  archive_read_support_filter_all(a.get());
  archive_read_support_format_tar(a.get());
  archive_read_support_format_gnutar(a.get());
  archive_read_support_format_empty(a.get());
  archive_read_open_fd(a.get(), fd, 64 * 1024);
  return a;
}

// Go's archive/tar says one of these where libarchive has its own words.
std::string tar_error(struct archive* a) {
  const char* e = archive_error_string(a);
  std::string text = e ? e : "";
  if (text.find("runcated") != std::string::npos) return "unexpected EOF";
  return "archive/tar: invalid tar header";
}

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string join(const std::string& dir, const std::string& rel) {
  if (rel == ".") return dir;
  return (dir == "/" ? "" : dir) + "/" + rel;
}

// An entry's name as dockerd reads it: cleaned and joined to the destination, so an
// absolute name ("/var/run/x") lands beneath it as with GNU tar without -P; what is left
// starts with ".." only when the name climbs out.
std::string member_name(const char* raw) {
  std::string name = sandbox::clean_path(raw ? raw : "");
  if (name.front() != '/') return name;
  name.erase(0, name.find_first_not_of('/'));
  return name.empty() ? "." : name;
}

bool climbs_out(const std::string& clean_relative) {
  return clean_relative == ".." || clean_relative.rfind("../", 0) == 0;
}

std::string parent_of(const std::string& clean_relative) {
  auto slash = clean_relative.rfind('/');
  return slash == std::string::npos ? "." : clean_relative.substr(0, slash);
}

// Removes `name` and, for a directory, everything below it; links are not followed.
int remove_all(int parent_fd, const std::string& name) {
  struct stat st {};
  if (::fstatat(parent_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
    return errno == ENOENT ? 0 : errno;
  if (S_ISDIR(st.st_mode)) {
    UniqueFd dir(
        ::openat(parent_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dir) return errno;
    for (const auto& child : sandbox::directory_names(dir.get()))
      if (int err = remove_all(dir.get(), child)) return err;
    return ::unlinkat(parent_fd, name.c_str(), AT_REMOVEDIR) == 0 ? 0 : errno;
  }
  return ::unlinkat(parent_fd, name.c_str(), 0) == 0 ? 0 : errno;
}

[[noreturn]] void fail(const std::string& op, const std::string& path, int err) {
  throw ExtractError(op + " " + path + ": " + sandbox::go_strerror(err));
}

// Go's os.Chtimes turns times outside what the system takes into the epoch.
timespec chtimes_time(time_t sec, long nsec) {
  if (sec < 0) return timespec{0, 0};
  return timespec{sec, nsec};
}

struct DirTimes {
  std::string path;
  timespec atime, mtime;
};

class Unpacker {
 public:
  Unpacker(int root_fd, const std::string& dest, const ExtractOptions& options)
      : root_fd_(root_fd), dest_(dest), options_(options) {}

  void entry(struct archive* in, struct archive_entry* e) {
    std::string name = member_name(archive_entry_pathname(e));
    if (name == ".") return;  // the destination itself, which exists
    std::string path = join(dest_, name);
    auto slash = path.rfind('/');
    std::string parent = slash == 0 ? "/" : path.substr(0, slash);
    std::string base = path.substr(slash + 1);
    UniqueFd dir = sandbox::open_in_root(root_fd_, parent, O_PATH | O_DIRECTORY);
    if (!dir && errno == ENOENT) dir = sandbox::mkdir_all_in_root(root_fd_, parent, 0755, 0, 0);
    if (!dir) fail("mkdir", parent, errno);

    const char* hardlink = archive_entry_hardlink(e);
    mode_t type = hardlink ? 0 : archive_entry_filetype(e);
    bool is_dir = type == AE_IFDIR;
    struct stat existing {};
    bool exists = ::fstatat(dir.get(), base.c_str(), &existing, AT_SYMLINK_NOFOLLOW) == 0;
    if (exists) {
      bool existing_dir = S_ISDIR(existing.st_mode);
      if (options_.no_overwrite_dir_non_dir && existing_dir != is_dir)
        throw ExtractError(std::string("cannot overwrite ") +
                           (existing_dir ? "directory " : "non-directory ") + quoted(path) +
                           " with " + (existing_dir ? "non-directory " : "directory ") +
                           quoted(dest_));
      if (!(existing_dir && is_dir))
        if (int err = remove_all(dir.get(), base)) fail("unlinkat", path, err);
    }

    mode_t perm = archive_entry_perm(e) & 07777;
    if (hardlink) {
      std::string target = join(dest_, member_name(hardlink));
      auto t = target.rfind('/');
      UniqueFd tdir = sandbox::open_in_root(root_fd_, t == 0 ? "/" : target.substr(0, t), O_PATH);
      if (!tdir || ::linkat(tdir.get(), target.c_str() + t + 1, dir.get(), base.c_str(), 0) != 0)
        throw ExtractError("link " + target + " " + path + ": " + sandbox::go_strerror(errno));
    } else if (is_dir) {
      if (!(exists && S_ISDIR(existing.st_mode)) && ::mkdirat(dir.get(), base.c_str(), perm) != 0)
        fail("mkdir", path, errno);
    } else if (type == AE_IFREG) {
      write_file(in, e, dir.get(), base, path, perm);
    } else if (type == AE_IFLNK) {
      const char* target = archive_entry_symlink(e);
      if (::symlinkat(target ? target : "", dir.get(), base.c_str()) != 0)
        throw ExtractError("symlink " + std::string(target ? target : "") + " " + path + ": " +
                           sandbox::go_strerror(errno));
    } else if (type == AE_IFCHR || type == AE_IFBLK || type == AE_IFIFO) {
      dev_t dev = makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
      if (::mknodat(dir.get(), base.c_str(), perm | type, dev) != 0)
        throw ExtractError(sandbox::go_strerror(errno));
    } else {
      throw ExtractError("unhandled tar header type " + std::to_string(type >> 12));
    }

    uid_t uid = options_.owner ? options_.owner->first : static_cast<uid_t>(archive_entry_uid(e));
    gid_t gid = options_.owner ? options_.owner->second : static_cast<gid_t>(archive_entry_gid(e));
    if (::fchownat(dir.get(), base.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0)
      fail("lchown", path, errno);
    if (is_dir || type == AE_IFREG) set_xattrs(e, dir.get(), base, path);

    timespec mtime = {archive_entry_mtime(e), archive_entry_mtime_nsec(e)};
    timespec atime = mtime;
    if (archive_entry_atime_is_set(e) &&
        (archive_entry_atime(e) > mtime.tv_sec ||
         (archive_entry_atime(e) == mtime.tv_sec && archive_entry_atime_nsec(e) > mtime.tv_nsec)))
      atime = {archive_entry_atime(e), archive_entry_atime_nsec(e)};
    // dockerd applies a hard link's mode and times only when its target, looked up from
    // the root rather than from the destination, exists and is not a symbolic link.
    bool metadata = type != AE_IFLNK;
    if (hardlink) {
      struct stat st {};
      UniqueFd t =
          sandbox::open_in_root(root_fd_, "/" + member_name(hardlink), O_PATH | O_NOFOLLOW);
      metadata = t && ::fstat(t.get(), &st) == 0 && !S_ISLNK(st.st_mode);
    }
    if (metadata && ::fchmodat(dir.get(), base.c_str(), perm, 0) != 0) fail("chmod", path, errno);
    if (type == AE_IFLNK || metadata) {
      timespec times[2] = {atime, mtime};
      if (type != AE_IFLNK) {
        times[0] = chtimes_time(atime.tv_sec, atime.tv_nsec);
        times[1] = chtimes_time(mtime.tv_sec, mtime.tv_nsec);
      }
      if (::utimensat(dir.get(), base.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0)
        fail(type == AE_IFLNK ? "lutimes" : "chtimes", path, errno);
    }
    if (is_dir) {
      // Go sets these again at the end from the header's access time, unset (the epoch)
      // unless the archive has one.
      timespec dir_atime = archive_entry_atime_is_set(e)
                               ? chtimes_time(archive_entry_atime(e), archive_entry_atime_nsec(e))
                               : timespec{0, 0};
      dirs_.push_back({path, dir_atime, chtimes_time(mtime.tv_sec, mtime.tv_nsec)});
    }
  }

  // Directory times last: the entries written into them changed them meanwhile.
  void finish() {
    for (const auto& d : dirs_) {
      auto slash = d.path.rfind('/');
      UniqueFd dir =
          sandbox::open_in_root(root_fd_, slash == 0 ? "/" : d.path.substr(0, slash), O_PATH);
      timespec times[2] = {d.atime, d.mtime};
      if (!dir ||
          ::utimensat(dir.get(), d.path.c_str() + slash + 1, times, AT_SYMLINK_NOFOLLOW) != 0)
        fail("chtimes", d.path, errno);
    }
  }

 private:
  void write_file(struct archive* in, struct archive_entry* e, int dir, const std::string& base,
                  const std::string& path, mode_t perm) {
    UniqueFd out(::openat(dir, base.c_str(), O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, perm));
    if (!out) fail("open", path, errno);
    const void* buf;
    size_t size;
    la_int64_t offset;
    int rc;
    while ((rc = archive_read_data_block(in, &buf, &size, &offset)) == ARCHIVE_OK) {
      const char* p = static_cast<const char*>(buf);
      while (size > 0) {
        ssize_t n = ::pwrite(out.get(), p, size, offset);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail("write", path, errno);
        p += n;
        offset += n;
        size -= static_cast<std::size_t>(n);
      }
    }
    if (rc != ARCHIVE_EOF) throw ExtractError(tar_error(in));
    // Sparse entries end in a hole.
    if (archive_entry_size_is_set(e) && ::ftruncate(out.get(), archive_entry_size(e)) != 0)
      fail("write", path, errno);
  }

  void set_xattrs(struct archive_entry* e, int dir, const std::string& base,
                  const std::string& path) {
    if (archive_entry_xattr_reset(e) == 0) return;
    UniqueFd fd(::openat(dir, base.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    const char* key;
    const void* value;
    size_t size;
    while (archive_entry_xattr_next(e, &key, &value, &size) == ARCHIVE_OK) {
      if (!fd || ::fsetxattr(fd.get(), key, value, size, 0) == 0) continue;
      // As dockerd: a filesystem without them is not a failure.
      if (errno != ENOTSUP && errno != EPERM) fail("lsetxattr", path, errno);
    }
  }

  int root_fd_;
  std::string dest_;
  ExtractOptions options_;
  std::vector<DirTimes> dirs_;
};

}  // namespace

std::optional<UploadProblem> refuse_upload(int tar_fd, const std::string& dest) {
  ReadArchive in = open_upload(tar_fd);
  std::set<std::string> links;  // symbolic links the archive has made so far
  struct archive_entry* e;
  int rc;
  while ((rc = next_tar_entry(in.get(), &e)) == ARCHIVE_OK) {
    const char* raw = archive_entry_pathname(e);
    std::string given = raw ? raw : "";
    std::string name = member_name(raw);
    if (climbs_out(name))
      return UploadProblem{400, quoted(given) + " is outside of " + quoted(dest)};
    for (std::string up = parent_of(name); up != "."; up = parent_of(up))
      if (links.count(up))
        return UploadProblem{400, quoted(given) + " is beneath the symbolic link " + quoted(up) +
                                      " of the same archive"};
    if (const char* hardlink = archive_entry_hardlink(e)) {
      std::string target = member_name(hardlink);
      if (climbs_out(target))
        return UploadProblem{
            400, "invalid hardlink " + quoted(join(dest, target)) + " -> " + quoted(hardlink)};
      if (links.count(target)) links.insert(name);
    } else if (archive_entry_filetype(e) == AE_IFLNK) {
      const char* target = archive_entry_symlink(e);
      std::string t = target ? target : "";
      if (dest != "/" && (t.empty() || t.front() != '/') &&
          climbs_out(sandbox::clean_path(parent_of(name) + "/" + t)))
        return UploadProblem{400,
                             "invalid symlink " + quoted(join(dest, name)) + " -> " + quoted(t)};
      links.insert(name);
    } else {
      links.erase(name);
    }
    if (archive_read_data_skip(in.get()) != ARCHIVE_OK)
      return UploadProblem{500, tar_error(in.get())};
  }
  if (rc != ARCHIVE_EOF) {
    // Less than one header block: Go's reader runs out before it can look at it.
    struct stat st {};
    bool short_input = ::fstat(tar_fd, &st) == 0 && st.st_size > 0 && st.st_size < 512;
    return UploadProblem{500, short_input ? "unexpected EOF" : tar_error(in.get())};
  }
  return std::nullopt;
}

void extract_upload(int root_fd, const std::string& dest, int tar_fd,
                    const ExtractOptions& options) {
  ReadArchive in = open_upload(tar_fd);
  Unpacker unpacker(root_fd, dest, options);
  struct archive_entry* e;
  int rc;
  while ((rc = next_tar_entry(in.get(), &e)) == ARCHIVE_OK)
    unpacker.entry(in.get(), e);
  if (rc != ARCHIVE_EOF) throw ExtractError(tar_error(in.get()));
  unpacker.finish();
}

namespace {

// dockerd refuses to write into a read-only volume, and outside the volumes of a
// container whose root is read-only; the deepest mount holding `dir` decides.
std::optional<std::string> read_only(const PutRequest& r, const std::string& dir) {
  const sandbox::Mount* holder = nullptr;
  std::size_t depth = 0;
  for (const auto& m : r.mounts) {
    std::string target = sandbox::clean_path(m.target);
    bool holds = dir == target || target == "/" || dir.rfind(target + "/", 0) == 0;
    if (m.type != "tmpfs" && holds && (!holder || target.size() > depth)) {
      holder = &m;
      depth = target.size();
    }
  }
  if (holder) {
    if (holder->readonly) return "mounted volume is marked read-only";
    return std::nullopt;
  }
  if (r.readonly_rootfs) return "container rootfs is marked read-only";
  return std::nullopt;
}

}  // namespace

std::optional<UploadProblem> put_archive(int root_fd, const PutRequest& r, int upload) {
  std::string dest = sandbox::extraction_dir(root_fd, r.path);
  if (auto refused = read_only(r, dest)) return UploadProblem{500, *refused};
  if (auto problem = refuse_upload(upload, dest)) {
    if (problem->status == 500)
      problem->message = "Error processing tar file(exit status 1): " + problem->message;
    return problem;
  }
  ExtractOptions options;
  options.no_overwrite_dir_non_dir = r.no_overwrite_dir_non_dir;
  if (r.copy_uid_gid && !r.user.empty()) {
    // The owner every entry gets with copyUIDGID: the container's user as its own
    // /etc/passwd and /etc/group say.
    auto user = sandbox::resolve_user_in_root(r.user, {});
    if (auto* message = std::get_if<std::string>(&user)) return UploadProblem{400, *message};
    const auto& u = std::get<sandbox::ExecUser>(user);
    options.owner = std::make_pair(u.uid, u.gid);
  }
  try {
    extract_upload(root_fd, dest, upload, options);
  } catch (const ExtractError& e) {
    return UploadProblem{500, std::string("Error processing tar file(exit status 1): ") + e.what()};
  }
  return std::nullopt;
}

}  // namespace sockerless::monitor
