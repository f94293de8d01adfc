#include "monitor/archive_tar.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <map>
#include <string_view>
#include <utility>
#include <vector>

#include "common/time.h"
#include "common/unique_fd.h"
#include "sandbox/archive_path.h"
#include "sandbox/safe_path.h"

namespace sockerless::monitor {
namespace {

constexpr std::size_t kBlock = 512;
constexpr std::size_t kNameSize = 100, kPrefixSize = 155, kOwnerNameSize = 32;

struct TarHeader {
  std::string name, linkname, uname, gname;
  char type = '0';
  std::int64_t mode = 0, uid = 0, gid = 0, size = 0, mtime = 0, devmajor = 0, devminor = 0;
  std::map<std::string, std::string> xattrs;
};

bool is_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

std::string to_ascii(std::string_view s) {
  std::string out;
  for (char c : s)
    if (static_cast<unsigned char>(c) < 0x80) out += c;
  return out;
}

// Go's fitsInOctal: n-1 octal digits and a terminator.
bool fits_octal(std::size_t width, std::int64_t x) {
  return x >= 0 && (width >= 22 || x < (std::int64_t{1} << (3 * (width - 1))));
}

void put_string(char* field, std::size_t width, std::string_view s) {
  std::memcpy(field, s.data(), std::min(width, s.size()));
  if (s.size() < width) field[s.size()] = '\0';
}

void put_octal(char* field, std::size_t width, std::int64_t x) {
  if (!fits_octal(width, x)) x = 0;  // said in a PAX record instead
  char digits[32];
  int n = std::snprintf(digits, sizeof digits, "%0*llo", static_cast<int>(width - 1),
                        static_cast<unsigned long long>(x));
  put_string(field, width, std::string_view(digits, static_cast<std::size_t>(n)));
}

// Go's splitUSTARPath: a long ASCII name split at a '/' into prefix and name fields.
bool split_ustar_name(std::string_view name, std::string_view& prefix, std::string_view& rest) {
  std::size_t length = name.size();
  if (length <= kNameSize || !is_ascii(name)) return false;
  if (length > kPrefixSize + 1) {
    length = kPrefixSize + 1;
  } else if (name[length - 1] == '/') {
    --length;
  }
  auto slash = name.substr(0, length).rfind('/');
  if (slash == std::string_view::npos || slash == 0) return false;
  std::size_t suffix_len = name.size() - slash - 1;
  if (suffix_len > kNameSize || suffix_len == 0 || slash > kPrefixSize) return false;
  prefix = name.substr(0, slash);
  rest = name.substr(slash + 1);
  return true;
}

// Go's formatPAXRecord: "<length> <key>=<value>\n", the length counting itself.
std::string pax_record(const std::string& key, const std::string& value) {
  std::size_t size = key.size() + value.size() + 3;
  size += std::to_string(size).size();
  std::string record = std::to_string(size) + " " + key + "=" + value + "\n";
  if (record.size() != size)
    record = std::to_string(record.size()) + " " + key + "=" + value + "\n";
  return record;
}

// Writes headers and data the way Go's tar.Writer does for Format PAX.
class TarOut {
 public:
  explicit TarOut(int fd) : fd_(fd) {}
  ~TarOut() { flush(); }

  bool ok() const { return ok_; }

  void header(const TarHeader& h) {
    std::map<std::string, std::string> pax;
    bool ustar = true;
    std::string_view prefix, short_name = h.name;
    if (!is_ascii(h.name) || h.name.size() > kNameSize) {
      pax["path"] = h.name;
      ustar = split_ustar_name(h.name, prefix, short_name);
    }
    auto needs_pax = [&](bool fits, const char* key, const std::string& value) {
      if (!fits) {
        pax[key] = value;
        ustar = false;
      }
    };
    needs_pax(is_ascii(h.linkname) && h.linkname.size() <= kNameSize, "linkpath", h.linkname);
    needs_pax(is_ascii(h.uname) && h.uname.size() <= kOwnerNameSize, "uname", h.uname);
    needs_pax(is_ascii(h.gname) && h.gname.size() <= kOwnerNameSize, "gname", h.gname);
    needs_pax(fits_octal(8, h.uid), "uid", std::to_string(h.uid));
    needs_pax(fits_octal(8, h.gid), "gid", std::to_string(h.gid));
    needs_pax(fits_octal(12, h.size), "size", std::to_string(h.size));
    needs_pax(fits_octal(12, h.mtime), "mtime", std::to_string(h.mtime));
    for (const auto& [key, value] : h.xattrs)
      needs_pax(false, ("SCHILY.xattr." + key).c_str(), value);
    if (ustar) {
      block(h, std::string(prefix), std::string(short_name));
      return;
    }
    std::string records;
    for (const auto& [key, value] : pax)
      records += pax_record(key, value);
    auto slash = h.name.rfind('/');
    std::string dir = slash == std::string::npos ? "" : h.name.substr(0, slash + 1);
    std::string file = slash == std::string::npos ? h.name : h.name.substr(slash + 1);
    std::string pax_name = sandbox::clean_path(dir + "PaxHeaders.0/" + file);
    pax_name = to_ascii(pax_name).substr(0, kNameSize);
    while (!pax_name.empty() && pax_name.back() == '/')
      pax_name.pop_back();
    TarHeader x;
    x.name = pax_name;
    x.type = 'x';
    x.size = static_cast<std::int64_t>(records.size());
    block(x, "", x.name, true);
    data(records.data(), records.size());
    pad(records.size());
    block(h, "", to_ascii(h.name));
  }

  void data(const char* p, std::size_t n) {
    buffer_.append(p, n);
    if (buffer_.size() >= 64 * 1024) flush();
  }

  void pad(std::size_t written) {
    std::size_t rem = written % kBlock;
    if (rem) buffer_.append(kBlock - rem, '\0');
  }

  void finish() {
    buffer_.append(2 * kBlock, '\0');
    flush();
  }

 private:
  // One header block; `raw` for the PAX extended header, whose owners and owner names
  // Go leaves empty.
  void block(const TarHeader& h, const std::string& prefix, const std::string& name,
             bool raw = false) {
    char b[kBlock] = {};
    put_string(b, kNameSize, name);
    put_octal(b + 100, 8, h.mode);
    put_octal(b + 108, 8, h.uid);
    put_octal(b + 116, 8, h.gid);
    put_octal(b + 124, 12, h.size);
    put_octal(b + 136, 12, h.mtime);
    b[156] = h.type;
    put_string(b + 157, kNameSize, to_ascii(h.linkname));
    std::memcpy(b + 257,
                "ustar\0"
                "00",
                8);
    if (!raw) {
      put_string(b + 265, kOwnerNameSize, to_ascii(h.uname));
      put_string(b + 297, kOwnerNameSize, to_ascii(h.gname));
      put_octal(b + 329, 8, h.devmajor);
      put_octal(b + 337, 8, h.devminor);
      put_string(b + 345, kPrefixSize, prefix);
    }
    unsigned sum = 0;
    for (std::size_t i = 0; i < kBlock; ++i)
      sum += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(b[i]);
    put_octal(b + 148, 7, sum);
    b[155] = ' ';
    data(b, kBlock);
  }

  void flush() {
    std::size_t off = 0;
    while (ok_ && off < buffer_.size()) {
      ssize_t n = ::write(fd_, buffer_.data() + off, buffer_.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0)
        ok_ = false;
      else
        off += static_cast<std::size_t>(n);
    }
    buffer_.clear();
  }

  int fd_;
  bool ok_ = true;
  std::string buffer_;
};

// Owner names as the container's /etc/passwd and /etc/group give them (first entry wins).
class OwnerNames {
 public:
  explicit OwnerNames(int root_fd)
      : users_(read_names(root_fd, "/etc/passwd")), groups_(read_names(root_fd, "/etc/group")) {}

  std::string user(std::int64_t uid) const { return find(users_, uid); }
  std::string group(std::int64_t gid) const { return find(groups_, gid); }

 private:
  static std::map<std::int64_t, std::string> read_names(int root_fd, const char* path) {
    std::map<std::int64_t, std::string> out;
    UniqueFd fd = sandbox::open_in_root(root_fd, path, O_RDONLY);
    if (!fd) return out;
    std::string text;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd.get(), buf, sizeof buf)) > 0 && text.size() < (1u << 22))
      text.append(buf, static_cast<std::size_t>(n));
    std::size_t start = 0;
    while (start < text.size()) {
      std::size_t end = text.find('\n', start);
      std::string_view line(text.data() + start,
                            (end == std::string::npos ? text.size() : end) - start);
      start = end == std::string::npos ? text.size() : end + 1;
      auto c1 = line.find(':');
      auto c2 = c1 == std::string_view::npos ? c1 : line.find(':', c1 + 1);
      auto c3 = c2 == std::string_view::npos ? c2 : line.find(':', c2 + 1);
      if (c3 == std::string_view::npos || c1 == 0 || c3 == c2 + 1) continue;
      std::string id(line.substr(c2 + 1, c3 - c2 - 1));
      if (id.find_first_not_of("0123456789") != std::string::npos || id.size() > 10) continue;
      out.emplace(std::stoll(id), std::string(line.substr(0, c1)));
    }
    return out;
  }

  static std::string find(const std::map<std::int64_t, std::string>& names, std::int64_t id) {
    auto it = names.find(id);
    return it == names.end() ? "" : it->second;
  }

  std::map<std::int64_t, std::string> users_, groups_;
};

char type_flag(mode_t m) {
  if (S_ISDIR(m)) return '5';
  if (S_ISLNK(m)) return '2';
  if (S_ISCHR(m)) return '3';
  if (S_ISBLK(m)) return '4';
  if (S_ISFIFO(m)) return '6';
  return '0';
}

class TreeWriter {
 public:
  TreeWriter(int root_fd, int out_fd) : out_(out_fd), owners_(root_fd) {
    struct stat st {};
    if (::fstat(root_fd, &st) == 0) root_ = {st.st_dev, st.st_ino};
  }

  // The entry `name` of the directory `parent_fd`, and what is below it, as `tar_name`.
  void add(int parent_fd, const std::string& name, const std::string& tar_name) {
    struct stat st {};
    if (!out_.ok() || ::fstatat(parent_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return;
    if (S_ISSOCK(st.st_mode)) return;  // Go's tar has no type for sockets
    TarHeader h;
    h.name = tar_name;
    if (S_ISDIR(st.st_mode) && (h.name.empty() || h.name.back() != '/')) h.name += '/';
    h.type = type_flag(st.st_mode);
    h.mode = st.st_mode & (S_IFMT | 07777);
    h.uid = st.st_uid;
    h.gid = st.st_gid;
    h.uname = owners_.user(st.st_uid);
    h.gname = owners_.group(st.st_gid);
    h.mtime = st.st_mtim.tv_sec;
    if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
      h.devmajor = major(st.st_rdev);
      h.devminor = minor(st.st_rdev);
    }
    if (S_ISLNK(st.st_mode)) {
      char target[PATH_MAX];
      ssize_t n = ::readlinkat(parent_fd, name.c_str(), target, sizeof target);
      if (n < 0) return;
      h.linkname.assign(target, static_cast<std::size_t>(n));
    }
    UniqueFd fd;
    if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))
      fd = UniqueFd(
          ::openat(parent_fd, name.c_str(),
                   O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0)));
    if (fd) {
      char cap[1024];
      ssize_t n = ::fgetxattr(fd.get(), "security.capability", cap, sizeof cap);
      if (n > 0) h.xattrs["security.capability"].assign(cap, static_cast<std::size_t>(n));
    }
    if (S_ISREG(st.st_mode)) {
      h.size = st.st_size;
      if (st.st_nlink > 1) {
        auto [it, first] = seen_.emplace(std::make_pair(st.st_dev, st.st_ino), h.name);
        if (!first) {
          h.type = '1';
          h.linkname = it->second;
          h.size = 0;
        }
      }
    }
    out_.header(h);
    if (h.type == '0') copy_content(fd.get(), h.size);
    if (S_ISDIR(st.st_mode) && fd) {
      std::string prefix = tar_name == "/" ? "" : tar_name;
      while (!prefix.empty() && prefix.back() == '/')
        prefix.pop_back();
      for (const auto& child : sandbox::directory_names(fd.get()))
        if (!hidden(fd.get(), child)) add(fd.get(), child, prefix + "/" + child);
    }
  }

  void finish() { out_.finish(); }
  bool ok() const { return out_.ok(); }

  // Where sockerless-agent and its sockets are mounted in containers that run under it:
  // the container's user never put it there, so its archives never show it.
  bool hidden(int dir_fd, const std::string& child) const {
    if (child != ".sockerless") return false;
    struct stat st {};
    return ::fstat(dir_fd, &st) == 0 && std::make_pair(st.st_dev, st.st_ino) == root_;
  }

 private:
  std::pair<dev_t, ino_t> root_{0, 0};
  // Exactly `size` bytes, as the header said: a file that shrank meanwhile is padded.
  void copy_content(int fd, std::int64_t size) {
    char buf[64 * 1024];
    std::int64_t left = size;
    while (left > 0 && fd >= 0) {
      ssize_t n =
          ::read(fd, buf, static_cast<std::size_t>(std::min<std::int64_t>(left, sizeof buf)));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      out_.data(buf, static_cast<std::size_t>(n));
      left -= n;
    }
    std::string zeros(static_cast<std::size_t>(std::min<std::int64_t>(left, sizeof buf)), '\0');
    while (left > 0) {
      auto n = std::min<std::int64_t>(left, static_cast<std::int64_t>(zeros.size()));
      out_.data(zeros.data(), static_cast<std::size_t>(n));
      left -= n;
    }
    out_.pad(static_cast<std::size_t>(size));
  }

  TarOut out_;
  OwnerNames owners_;
  std::map<std::pair<dev_t, ino_t>, std::string> seen_;
};

}  // namespace

bool write_archive(int root_fd, const std::string& source, const std::string& rebase, int out_fd) {
  TreeWriter writer(root_fd, out_fd);
  auto slash = source.rfind('/');
  if (rebase.empty()) {
    UniqueFd dir = sandbox::open_in_root(root_fd, source, O_RDONLY | O_DIRECTORY);
    for (const auto& child : dir ? sandbox::directory_names(dir.get()) : std::vector<std::string>{})
      if (!writer.hidden(dir.get(), child)) writer.add(dir.get(), child, child);
  } else if (source == "/" || slash == std::string::npos) {
    writer.add(root_fd, ".", rebase == "/" ? "/" : rebase);
  } else {
    UniqueFd parent = sandbox::open_in_root(root_fd, slash == 0 ? "/" : source.substr(0, slash),
                                            O_PATH | O_DIRECTORY);
    if (parent) writer.add(parent.get(), source.substr(slash + 1), rebase == "/" ? "/" : rebase);
  }
  writer.finish();
  return writer.ok();
}

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

nlohmann::json archive_stat_json(const sandbox::ArchiveStat& s) {
  auto nanos =
      static_cast<std::int64_t>(s.st.st_mtim.tv_sec) * 1'000'000'000 + s.st.st_mtim.tv_nsec;
  return {{"name", s.name},
          {"size", static_cast<std::int64_t>(s.st.st_size)},
          {"mode", go_mode(s.st.st_mode)},
          {"mtime", format_rfc3339_nano(from_unix_nanos(nanos))},
          {"linkTarget", s.link_target}};
}

}  // namespace sockerless::monitor
