// The local driver's work on the host: its mount options (type/device/o) validated and
// mounted on a volume's _data while containers use it, the first-use copy of an image's
// content into an empty volume, and the sizes system df shows.
#include <archive.h>
#include <archive_entry.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netdb.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "common/errors.h"
#include "common/tar_entries.h"
#include "common/units.h"
#include "engine/volumes.h"

namespace sockerless::engine {

namespace fs = std::filesystem;

namespace local_driver {
namespace {

struct FlagWord {
  const char* word;
  bool clear;  // the word turns the flag off ("rw", "suid", …)
  unsigned long flag;
};

// mount(8)'s flag words, as dockerd's local driver hands them to mount(2).
constexpr std::array<FlagWord, 25> kFlagWords{{
    {"defaults", false, 0},
    {"ro", false, MS_RDONLY},
    {"rw", true, MS_RDONLY},
    {"suid", true, MS_NOSUID},
    {"nosuid", false, MS_NOSUID},
    {"dev", true, MS_NODEV},
    {"nodev", false, MS_NODEV},
    {"exec", true, MS_NOEXEC},
    {"noexec", false, MS_NOEXEC},
    {"sync", false, MS_SYNCHRONOUS},
    {"async", true, MS_SYNCHRONOUS},
    {"dirsync", false, MS_DIRSYNC},
    {"remount", false, MS_REMOUNT},
    {"mand", false, MS_MANDLOCK},
    {"nomand", true, MS_MANDLOCK},
    {"atime", true, MS_NOATIME},
    {"noatime", false, MS_NOATIME},
    {"diratime", true, MS_NODIRATIME},
    {"nodiratime", false, MS_NODIRATIME},
    {"bind", false, MS_BIND},
    {"rbind", false, MS_BIND | MS_REC},
    {"relatime", false, MS_RELATIME},
    {"norelatime", true, MS_RELATIME},
    {"strictatime", false, MS_STRICTATIME},
    {"nostrictatime", true, MS_STRICTATIME},
}};

constexpr std::array<std::pair<const char*, unsigned long>, 8> kPropagationWords{{
    {"private", MS_PRIVATE},
    {"rprivate", MS_PRIVATE | MS_REC},
    {"shared", MS_SHARED},
    {"rshared", MS_SHARED | MS_REC},
    {"slave", MS_SLAVE},
    {"rslave", MS_SLAVE | MS_REC},
    {"unbindable", MS_UNBINDABLE},
    {"runbindable", MS_UNBINDABLE | MS_REC},
}};

// The value of `key=` among the comma-separated options, or "".
std::string option_value(const std::string& options, const std::string& key) {
  std::size_t p = 0;
  while (p <= options.size()) {
    std::size_t comma = options.find(',', p);
    std::string opt = options.substr(p, comma == std::string::npos ? std::string::npos : comma - p);
    if (opt.rfind(key + "=", 0) == 0) return opt.substr(key.size() + 1);
    if (comma == std::string::npos) break;
    p = comma + 1;
  }
  return "";
}

// The kernel's NFS and CIFS clients want an address: a host name in addr= is resolved
// first, as dockerd does.
std::string resolve_addr(const std::string& data) {
  std::string addr = option_value(data, "addr");
  if (addr.empty()) return data;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  addrinfo* found = nullptr;
  unsigned char probe[sizeof(in6_addr)];
  if (::inet_pton(AF_INET, addr.c_str(), probe) == 1) return data;
  if (int rc = ::getaddrinfo(addr.c_str(), nullptr, &hints, &found); rc != 0)
    throw Internal("error resolving passed in network volume address: lookup " + addr + ": " +
                   ::gai_strerror(rc));
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> owned(found, ::freeaddrinfo);
  char text[INET6_ADDRSTRLEN] = {};
  const void* raw =
      found->ai_family == AF_INET
          ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(found->ai_addr)->sin_addr)
          : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(found->ai_addr)->sin6_addr);
  ::inet_ntop(found->ai_family, raw, text, sizeof text);
  std::string out = data;
  out.replace(out.find("addr=" + addr), 5 + addr.size(), "addr=" + std::string(text));
  return out;
}

// Go's syscall errors read in lower case ("no such file or directory").
std::string errno_text(int err) {
  std::string text = std::strerror(err);
  if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  return text;
}

bool is_empty_dir(const std::string& path) {
  DIR* dir = ::opendir(path.c_str());
  if (!dir) throw Internal("reading " + path + ": " + errno_text(errno));
  bool empty = true;
  while (const dirent* e = ::readdir(dir))
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
      empty = false;
      break;
    }
  ::closedir(dir);
  return empty;
}

// "app/www/index.html" → "www/index.html"; the directory's own entry → "".
std::string below_root(const std::string& name) {
  std::string clean = name;
  while (clean.rfind("./", 0) == 0)
    clean.erase(0, 2);
  while (!clean.empty() && clean.front() == '/')
    clean.erase(0, 1);
  auto slash = clean.find('/');
  if (slash == std::string::npos) return "";
  std::string rest = fs::path(clean.substr(slash + 1)).lexically_normal().string();
  while (!rest.empty() && rest.back() == '/')
    rest.pop_back();
  if (rest == ".") return "";
  if (fs::path(rest).is_absolute() || rest == ".." || rest.rfind("../", 0) == 0)
    throw Internal("copying the image's content: entry " + name + " leaves its directory");
  return rest;
}

}  // namespace

void validate_options(const std::map<std::string, std::string>& options) {
  static const std::set<std::string> kValid = {"type", "o", "device", "size"};
  for (const auto& [key, value] : options)
    if (!kValid.count(key)) throw InvalidArgument("invalid option: \"" + key + "\"");
  static const std::vector<std::pair<std::string, std::vector<std::string>>> kNeeds = {
      {"device", {"type"}}, {"type", {"device"}}, {"o", {"device", "type"}}};
  for (const auto& [key, needs] : kNeeds)
    if (options.count(key))
      for (const auto& need : needs)
        if (!options.count(need))
          throw InvalidArgument("missing required option: \"" + need + "\"");
  if (auto it = options.find("size"); it != options.end()) {
    auto bytes = parse_ram_bytes(it->second);
    if (!bytes) throw InvalidArgument("invalid size: '" + it->second + "'");
    if (*bytes > 0) throw InvalidArgument("quota size requested but no quota support");
  }
}

MountArgs parse_mount_options(std::string_view o) {
  MountArgs out;
  std::size_t p = 0;
  while (p <= o.size() && !o.empty()) {
    std::size_t comma = o.find(',', p);
    std::string_view word = o.substr(p, comma == std::string_view::npos ? o.npos : comma - p);
    bool known = false;
    for (const auto& f : kFlagWords)
      if (word == f.word) {
        out.flags = f.clear ? out.flags & ~f.flag : out.flags | f.flag;
        known = true;
      }
    for (const auto& [name, flag] : kPropagationWords)
      if (word == name) {
        out.propagation |= flag;
        known = true;
      }
    if (!known && !word.empty()) out.data += (out.data.empty() ? "" : ",") + std::string(word);
    if (comma == std::string_view::npos) break;
    p = comma + 1;
  }
  return out;
}

std::int64_t disk_usage(const std::string& path) {
  std::int64_t total = 0;
  std::set<std::pair<dev_t, ino_t>> seen;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(
           path, fs::directory_options::skip_permission_denied, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) != 0 || S_ISDIR(st.st_mode) || st.st_size == 0) continue;
    if (!seen.insert({st.st_dev, st.st_ino}).second) continue;  // a hard link counts once
    total += st.st_size;
  }
  return total;
}

bool is_mountpoint(const std::string& path) {
  struct statx stx {};
  if (::statx(AT_FDCWD, path.c_str(), AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_BASIC_STATS,
              &stx) != 0)
    return false;
  if (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)
    return (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
  struct stat self {
  }, parent{};  // before Linux 5.8: another device at least
  return ::stat(path.c_str(), &self) == 0 && ::stat((path + "/..").c_str(), &parent) == 0 &&
         self.st_dev != parent.st_dev;
}

void extract_rooted_tar(int fd, const std::string& dir) {
  std::unique_ptr<archive, decltype(&archive_read_free)> in(archive_read_new(), archive_read_free);
  archive_read_support_format_tar(in.get());
  archive_read_support_format_empty(in.get());
  if (archive_read_open_fd(in.get(), fd, 64 * 1024) != ARCHIVE_OK)
    throw Internal(std::string("copying the image's content: ") + archive_error_string(in.get()));
  // No name lookups: the numeric owners are the container's, not this host's.
  std::unique_ptr<archive, decltype(&archive_write_free)> out(archive_write_disk_new(),
                                                              archive_write_free);
  archive_write_disk_set_options(out.get(), ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM |
                                                ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_XATTR |
                                                ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                                ARCHIVE_EXTRACT_SECURE_NODOTDOT);
  std::optional<std::pair<uid_t, gid_t>> root_owner;
  std::optional<mode_t> root_mode;
  archive_entry* e = nullptr;
  int rc;
  while ((rc = next_tar_entry(in.get(), &e)) == ARCHIVE_OK) {
    std::string rel = below_root(archive_entry_pathname(e));
    if (rel.empty()) {
      if (archive_entry_filetype(e) == AE_IFDIR) {
        root_owner = {static_cast<uid_t>(archive_entry_uid(e)),
                      static_cast<gid_t>(archive_entry_gid(e))};
        root_mode = archive_entry_perm(e);
      }
      continue;
    }
    archive_entry_set_pathname(e, (dir + "/" + rel).c_str());
    if (const char* link = archive_entry_hardlink(e))
      archive_entry_set_hardlink(e, (dir + "/" + below_root(link)).c_str());
    if (archive_write_header(out.get(), e) < ARCHIVE_WARN)
      throw Internal("copying " + rel + " into the volume: " + archive_error_string(out.get()));
    const void* buf = nullptr;
    size_t size = 0;
    la_int64_t offset = 0;
    while (archive_read_data_block(in.get(), &buf, &size, &offset) == ARCHIVE_OK)
      archive_write_data_block(out.get(), buf, size, offset);
    archive_write_finish_entry(out.get());
  }
  if (rc != ARCHIVE_EOF)
    throw Internal(std::string("copying the image's content: ") + archive_error_string(in.get()));
  archive_write_close(out.get());
  // dockerd's copyOwnership: the volume's root takes the directory's owner and mode.
  if (root_owner && ::lchown(dir.c_str(), root_owner->first, root_owner->second) != 0 &&
      errno != EPERM)
    throw Internal("copying the image's content: chown " + dir + ": " + errno_text(errno));
  if (root_mode && ::chmod(dir.c_str(), *root_mode) != 0)
    throw Internal("copying the image's content: chmod " + dir + ": " + errno_text(errno));
}

}  // namespace local_driver

void Volumes::mount_local(const Volume& v) {
  auto option = [&](const char* key) {
    auto it = v.options.find(key);
    return it == v.options.end() ? std::string() : it->second;
  };
  std::string type = option("type"), device = option("device"), o = option("o");
  auto args = local_driver::parse_mount_options(o);
  if (type == "nfs" || type == "cifs") args.data = local_driver::resolve_addr(args.data);
  std::error_code ec;
  fs::create_directories(v.mountpoint, ec);
  auto fail = [&](int err) {
    // moby's mount error: "mount <source>:<target>, flags: 0x…, data: …: <errno>", with any
    // password masked.
    std::string text = "mount " + device + ":" + v.mountpoint;
    if (args.flags) {
      char hex[32];
      std::snprintf(hex, sizeof hex, ", flags: 0x%lx", args.flags);
      text += hex;
    }
    std::string data = args.data;
    if (std::string pw = local_driver::option_value(data, "password"); !pw.empty())
      data.replace(data.find("password=" + pw), 9 + pw.size(), "password=********");
    if (!data.empty()) text += ", data: " + data;
    throw Internal("error while mounting volume '" + v.mountpoint +
                   "': failed to mount local volume: " + text + ": " +
                   local_driver::errno_text(err));
  };
  if (::mount(device.c_str(), v.mountpoint.c_str(), type.c_str(), args.flags,
              args.data.empty() ? nullptr : args.data.c_str()) != 0)
    fail(errno);
  // A read-only bind needs a second pass; so does propagation.
  if ((args.flags & MS_BIND) && (args.flags & MS_RDONLY) &&
      ::mount(nullptr, v.mountpoint.c_str(), nullptr, args.flags | MS_REMOUNT, nullptr) != 0) {
    int err = errno;
    ::umount2(v.mountpoint.c_str(), MNT_DETACH);
    fail(err);
  }
  if (args.propagation &&
      ::mount(nullptr, v.mountpoint.c_str(), nullptr, args.propagation, nullptr) != 0) {
    int err = errno;
    ::umount2(v.mountpoint.c_str(), MNT_DETACH);
    fail(err);
  }
}

std::string Volumes::mount(const std::string& name, const std::string& holder) {
  Volume v = get(name);
  if (!v.needs_mount()) return v.mountpoint;
  std::lock_guard lock(mount_mu_);
  if (!local_driver::is_mountpoint(v.mountpoint)) mount_local(v);
  holders_[name].insert(holder);
  return v.mountpoint;
}

void Volumes::unmount(const std::string& name, const std::string& holder) {
  auto v = find(name);
  if (!v || !v->needs_mount()) return;
  std::lock_guard lock(mount_mu_);
  if (auto it = holders_.find(name); it != holders_.end()) {
    it->second.erase(holder);
    if (!it->second.empty()) return;
    holders_.erase(it);
  }
  if (local_driver::is_mountpoint(v->mountpoint) &&
      ::umount2(v->mountpoint.c_str(), MNT_DETACH) != 0)
    spdlog::warn("unmounting volume {}: {}", name, std::strerror(errno));
}

void Volumes::restore_mounts(const std::map<std::string, std::vector<std::string>>& holders) {
  std::vector<Volume> all;
  {
    std::lock_guard lock(mu_);
    for (const auto& [n, v] : volumes_)
      if (v.needs_mount()) all.push_back(v);
  }
  std::lock_guard lock(mount_mu_);
  for (const auto& v : all) {
    auto it = holders.find(v.name);
    if (it != holders.end() && !it->second.empty()) {
      holders_[v.name].insert(it->second.begin(), it->second.end());
    } else {
      holders_.erase(v.name);
      if (local_driver::is_mountpoint(v.mountpoint)) ::umount2(v.mountpoint.c_str(), MNT_DETACH);
    }
  }
}

void Volumes::fill(const std::string& name, const std::function<UniqueFd()>& open_tar) {
  std::lock_guard lock(fill_mu_);
  static const std::string kHolder = "first-use copy";
  std::string dir = mount(name, kHolder);
  struct Release {
    Volumes* self;
    const std::string& name;
    ~Release() { self->unmount(name, kHolder); }
  } release{this, name};
  if (!local_driver::is_empty_dir(dir)) {
    spdlog::debug("volume {}: has content already, not filled", name);
    return;
  }
  UniqueFd tar = open_tar();
  if (tar) local_driver::extract_rooted_tar(tar.get(), dir);
}

}  // namespace sockerless::engine
