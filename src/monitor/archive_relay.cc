#include "monitor/archive_relay.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>

#include "common/time.h"
#include "monitor/monitor.h"
#include "monitor/spawn_role.h"
#include "sandbox/layout.h"

extern char** environ;

namespace sockerless::monitor {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

void reply(int fd, const json& doc) {
  send_all(fd, doc.dump() + "\n");
}

// Go's os.FileMode bits, as docker cp's stat header carries them.
std::uint32_t go_mode(mode_t m) {
  std::uint32_t out = m & 0777;
  if (S_ISDIR(m)) out |= 1u << 31;
  if (S_ISLNK(m)) out |= 1u << 27;
  if (S_ISFIFO(m)) out |= 1u << 25;
  if (S_ISSOCK(m)) out |= 1u << 24;
  if (S_ISBLK(m)) out |= 1u << 26;
  if (S_ISCHR(m)) out |= (1u << 26) | (1u << 21);
  if (m & S_ISUID) out |= 1u << 23;
  if (m & S_ISGID) out |= 1u << 22;
  if (m & S_ISVTX) out |= 1u << 20;
  return out;
}

json stat_json(const std::string& path, const struct stat& st) {
  std::string link;
  if (S_ISLNK(st.st_mode)) {
    std::error_code ec;
    link = fs::read_symlink(path, ec).string();
  }
  std::string name = fs::path(path).filename().string();
  if (name.empty()) name = fs::path(path).parent_path().filename().string();
  if (name.empty()) name = "/";
  auto nanos = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  return {{"name", name},
          {"size", static_cast<std::int64_t>(st.st_size)},
          {"mode", go_mode(st.st_mode)},
          {"mtime", format_rfc3339_nano(from_unix_nanos(nanos))},
          {"linkTarget", link}};
}

// Makes "/" the container's root for this (single-threaded) process.
void enter_container_root(const json& req) {
  if (req.value("running", false)) {
    std::string ns = "/proc/" + std::to_string(req.value("pid", 0)) + "/ns/mnt";
    int fd = ::open(ns.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::setns(fd, CLONE_NEWNS) != 0)
      throw std::runtime_error("joining the container's mount namespace: " +
                               std::string(std::strerror(errno)));
    ::close(fd);
    if (::chdir("/") != 0) throw std::runtime_error("chdir /");
    return;
  }
  MonitorConfig config = config_from_json(json{{"spec", req.at("spec")}});
  sandbox::StateLayout layout(config.spec.state_dir);
  sandbox::prepare_state_dir(layout);
  if (::unshare(CLONE_NEWNS) != 0)
    throw std::runtime_error("unshare: " + std::string(std::strerror(errno)));
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    throw std::runtime_error("making mounts private: " + std::string(std::strerror(errno)));
  std::string root = layout.rootfs;
  if (!fs::exists(layout.copied)) {
    std::string lower;
    for (auto it = config.spec.lower_dirs.rbegin(); it != config.spec.lower_dirs.rend(); ++it)
      lower += (lower.empty() ? "" : ":") + *it;
    if (lower.empty()) lower = layout.empty_lower;
    std::string options =
        "lowerdir=" + lower + ",upperdir=" + layout.upper + ",workdir=" + layout.work;
    if (::mount("overlay", root.c_str(), "overlay", 0, options.c_str()) != 0)
      throw std::runtime_error("mounting the container's root: " +
                               std::string(std::strerror(errno)));
  }
  if (::chroot(root.c_str()) != 0 || ::chdir("/") != 0)
    throw std::runtime_error("entering the container's root: " + std::string(std::strerror(errno)));
}

void do_get(int fd, const std::string& path) {
  archive* disk = archive_read_disk_new();
  archive_read_disk_set_standard_lookup(disk);
  archive_read_disk_set_symlink_physical(disk);
  archive* out = archive_write_new();
  archive_write_set_format_pax_restricted(out);
  archive_write_open_fd(out, fd);
  std::string clean = path;
  while (clean.size() > 1 && clean.back() == '/')
    clean.pop_back();
  if (clean.size() >= 2 && clean.substr(clean.size() - 2) == "/.") clean.resize(clean.size() - 2);
  if (clean.empty()) clean = "/";
  fs::path base = fs::path(clean).filename();
  std::string prefix = clean == "/" ? "" : fs::path(clean).parent_path().string();
  if (archive_read_disk_open(disk, clean.c_str()) == ARCHIVE_OK) {
    archive_entry* e = archive_entry_new();
    std::vector<char> buf(64 * 1024);
    while (archive_read_next_header2(disk, e) == ARCHIVE_OK) {
      archive_read_disk_descend(disk);
      // Entries are named from the path's own base name, as dockerd does.
      std::string name = archive_entry_pathname(e);
      std::string rel = name.substr(std::min(name.size(), prefix.size()));
      while (!rel.empty() && rel.front() == '/')
        rel.erase(0, 1);
      if (clean == "/") rel = name == "/" ? "." : name.substr(1);
      archive_entry_set_pathname(e, rel.c_str());
      archive_write_header(out, e);
      if (archive_entry_filetype(e) == AE_IFREG) {
        int f = ::open(archive_entry_sourcepath(e), O_RDONLY | O_CLOEXEC);
        if (f >= 0) {
          ssize_t n;
          while ((n = ::read(f, buf.data(), buf.size())) > 0)
            archive_write_data(out, buf.data(), static_cast<std::size_t>(n));
          ::close(f);
        }
      }
      archive_entry_clear(e);
    }
    archive_entry_free(e);
  }
  archive_read_close(disk);
  archive_read_free(disk);
  archive_write_close(out);
  archive_write_free(out);
}

json do_put(int fd, const std::string& dir, bool no_overwrite_dir_non_dir, bool copy_uid_gid) {
  archive* in = archive_read_new();
  archive_read_support_filter_all(in);
  archive_read_support_format_tar(in);
  archive_read_support_format_empty(in);
  archive* disk = archive_write_disk_new();
  int flags = ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
              ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_UNLINK;
  if (copy_uid_gid) flags |= ARCHIVE_EXTRACT_OWNER;
  archive_write_disk_set_options(disk, flags);
  archive_write_disk_set_standard_lookup(disk);
  json result = {{"ok", true}};
  if (archive_read_open_fd(in, fd, 64 * 1024) != ARCHIVE_OK) {
    result = {{"error", std::string("invalid tar: ") + archive_error_string(in)}, {"status", 400}};
  } else {
    archive_entry* e;
    int rc;
    while ((rc = archive_read_next_header(in, &e)) == ARCHIVE_OK) {
      std::string name = archive_entry_pathname(e);
      fs::path rel = fs::path(name).lexically_normal();
      if (rel.is_absolute() || (!rel.empty() && *rel.begin() == "..")) {
        result = {{"error", "invalid tar entry " + name + ": outside the destination"},
                  {"status", 400}};
        break;
      }
      std::string target = (fs::path(dir) / rel).string();
      struct stat st {};
      if (no_overwrite_dir_non_dir && ::lstat(target.c_str(), &st) == 0) {
        bool is_dir = archive_entry_filetype(e) == AE_IFDIR;
        if (S_ISDIR(st.st_mode) != is_dir) {
          result = {{"error", "cannot overwrite " +
                                  std::string(S_ISDIR(st.st_mode) ? "directory" : "non-directory") +
                                  " \"" + target + "\" with " +
                                  (is_dir ? "directory" : "non-directory") + " \"" + name + "\""},
                    {"status", 400}};
          break;
        }
      }
      archive_entry_set_pathname(e, target.c_str());
      if (const char* link = archive_entry_hardlink(e)) {
        std::string t = (fs::path(dir) / fs::path(link).lexically_normal()).string();
        archive_entry_set_hardlink(e, t.c_str());
      }
      if (archive_write_header(disk, e) < ARCHIVE_WARN) {
        result = {{"error", std::string("extracting ") + name + ": " + archive_error_string(disk)},
                  {"status", 400}};
        break;
      }
      const void* buf;
      size_t size;
      la_int64_t offset;
      while (archive_read_data_block(in, &buf, &size, &offset) == ARCHIVE_OK)
        archive_write_data_block(disk, buf, size, offset);
      archive_write_finish_entry(disk);
    }
    if (result.contains("ok") && rc != ARCHIVE_EOF)
      result = {{"error", std::string("invalid tar: ") + archive_error_string(in)},
                {"status", 400}};
  }
  archive_write_close(disk);
  archive_write_free(disk);
  archive_read_free(in);
  return result;
}

// Every entry of the staged upload must stay inside its destination: no absolute names,
// no "..". Returns what is wrong, or nothing.
std::optional<std::string> check_upload(int fd) {
  ::lseek(fd, 0, SEEK_SET);
  archive* in = archive_read_new();
  archive_read_support_filter_all(in);
  archive_read_support_format_tar(in);
  archive_read_support_format_empty(in);
  std::optional<std::string> problem;
  if (archive_read_open_fd(in, fd, 64 * 1024) != ARCHIVE_OK) {
    problem = std::string("invalid tar: ") + archive_error_string(in);
  } else {
    archive_entry* e;
    int rc;
    while ((rc = archive_read_next_header(in, &e)) == ARCHIVE_OK) {
      std::string name = archive_entry_pathname(e);
      fs::path rel = fs::path(name).lexically_normal();
      bool escapes = rel.is_absolute() || (!rel.empty() && *rel.begin() == "..");
      if (const char* link = archive_entry_hardlink(e)) {
        fs::path target = fs::path(link).lexically_normal();
        escapes = escapes || target.is_absolute() || (!target.empty() && *target.begin() == "..");
      }
      if (escapes) {
        problem = "invalid tar entry " + name + ": outside the destination";
        break;
      }
      archive_read_data_skip(in);
    }
    if (!problem && rc != ARCHIVE_EOF)
      problem = std::string("invalid tar: ") + archive_error_string(in);
  }
  archive_read_free(in);
  return problem;
}

}  // namespace

int run_archive_relay(int fd) {
  std::string line;
  char c;
  while (::read(fd, &c, 1) == 1 && c != '\n')
    line += c;
  json req = json::parse(line, nullptr, false);
  if (!req.is_object()) {
    reply(fd, {{"error", "bad request"}, {"status", 500}});
    return 1;
  }
  // An upload is read whole and checked before anything is written: an archive that
  // would escape its destination is refused with nothing extracted.
  UniqueFd upload;
  if (req.value("op", "") == "put") {
    std::string dir = req.contains("spec") ? req["spec"].value("state_dir", "/tmp") : "/tmp";
    upload = UniqueFd(::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
    if (!upload) {
      reply(fd, {{"error", std::string("staging the upload: ") + std::strerror(errno)},
                 {"status", 500}});
      return 1;
    }
    char buf[64 * 1024];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0)
      if (::write(upload.get(), buf, static_cast<std::size_t>(n)) != n) {
        reply(fd, {{"error", std::string("staging the upload: ") + std::strerror(errno)},
                   {"status", 500}});
        return 1;
      }
    if (auto problem = check_upload(upload.get())) {
      reply(fd, {{"error", *problem}, {"status", 400}});
      return 1;
    }
    ::lseek(upload.get(), 0, SEEK_SET);
  }
  try {
    enter_container_root(req);
  } catch (const std::exception& e) {
    reply(fd, {{"error", e.what()}, {"status", 500}});
    return 1;
  }
  std::string op = req.value("op", "");
  std::string path = req.value("path", "/");
  if (path.empty() || path.front() != '/') path = "/" + path;
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    reply(fd, {{"error", "Could not find the file " + req.value("path", "") + " in container " +
                             req.value("container", std::string())},
               {"status", 404}});
    return 1;
  }
  if (op == "stat") {
    reply(fd, {{"stat", stat_json(path, st)}});
  } else if (op == "get") {
    reply(fd, {{"stat", stat_json(path, st)}});
    do_get(fd, path);
  } else if (op == "put") {
    if (!S_ISDIR(st.st_mode)) {
      reply(fd, {{"error", "extraction point is not a directory"}, {"status", 400}});
      return 1;
    }
    reply(fd, do_put(upload.get(), path, req.value("no_overwrite_dir_non_dir", false),
                     req.value("copy_uid_gid", false)));
  } else {
    reply(fd, {{"error", "unknown archive operation " + op}, {"status", 500}});
  }
  ::shutdown(fd, SHUT_WR);
  return 0;
}

UniqueFd launch_archive(const std::string& self_exe, const std::string& log_dir,
                        const json& request) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    throw std::runtime_error(std::string("socketpair: ") + std::strerror(errno));
  UniqueFd ours(sv[0]), theirs(sv[1]);
  spawn_role(self_exe, "archive", log_dir, theirs.get(), log_dir + "/archive.log", "archive relay");
  if (!send_all(ours.get(), request.dump() + "\n"))
    throw std::runtime_error("the archive relay went away");
  return ours;
}

}  // namespace sockerless::monitor
