#include "image/layer_pack.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "common/errors.h"
#include "common/unique_fd.h"

namespace sockerless::image {

namespace {

struct Writer {
  archive* a = archive_write_new();
  ~Writer() { archive_write_free(a); }
};

la_ssize_t to_sink(archive*, void* data, const void* buffer, size_t length) {
  (*static_cast<const ByteSink*>(data))(static_cast<const char*>(buffer), length);
  return static_cast<la_ssize_t>(length);
}

bool is_opaque(const std::string& path) {
  char value[4];
  for (const char* name : {"trusted.overlay.opaque", "user.overlay.opaque"}) {
    ssize_t n = ::lgetxattr(path.c_str(), name, value, sizeof value);
    if (n == 1 && value[0] == 'y') return true;
  }
  return false;
}

class Packer {
 public:
  Packer(const std::function<bool(const std::string&)>& skip, const ByteSink& sink)
      : skip_(skip), sink_(sink) {
    archive_write_set_format_pax_restricted(w_.a);
    // No padding beyond the two end blocks, as Go's archive/tar writes: an empty
    // directory then gives the well-known empty layer.
    archive_write_set_bytes_per_block(w_.a, 512);
    archive_write_set_bytes_in_last_block(w_.a, 1);
    if (archive_write_open(w_.a, const_cast<ByteSink*>(&sink_), nullptr, to_sink, nullptr) !=
        ARCHIVE_OK)
      fail("open");
  }

  void directory(const std::string& host, const std::string& rel) {
    std::vector<std::string> names;
    {
      std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(host.c_str()), ::closedir);
      if (!d) throw Internal("commit: reading " + host + ": " + std::strerror(errno));
      while (dirent* e = ::readdir(d.get())) {
        std::string n = e->d_name;
        if (n != "." && n != "..") names.push_back(n);
      }
    }
    std::sort(names.begin(), names.end());
    for (const auto& n : names)
      entry(host + "/" + n, rel.empty() ? n : rel + "/" + n);
  }

  void finish() {
    if (archive_write_close(w_.a) != ARCHIVE_OK) fail("close");
  }

 private:
  void entry(const std::string& host, const std::string& rel) {
    if (skip_("/" + rel)) return;
    struct stat st {};
    if (::lstat(host.c_str(), &st) != 0)
      throw Internal("commit: " + host + ": " + std::strerror(errno));
    if (S_ISCHR(st.st_mode) && st.st_rdev == 0) {  // an overlay whiteout
      auto slash = rel.rfind('/');
      std::string marker = slash == std::string::npos
                               ? ".wh." + rel
                               : rel.substr(0, slash + 1) + ".wh." + rel.substr(slash + 1);
      empty_file(marker, st);
      return;
    }
    std::unique_ptr<archive_entry, void (*)(archive_entry*)> e(archive_entry_new(),
                                                               archive_entry_free);
    archive_entry_copy_stat(e.get(), &st);
    archive_entry_set_pathname(e.get(), rel.c_str());
    if (S_ISLNK(st.st_mode)) {
      std::vector<char> target(static_cast<std::size_t>(st.st_size) + 1 + 4096);
      ssize_t n = ::readlink(host.c_str(), target.data(), target.size() - 1);
      if (n < 0) throw Internal("commit: readlink " + host + ": " + std::strerror(errno));
      target[static_cast<std::size_t>(n)] = '\0';
      archive_entry_set_symlink(e.get(), target.data());
    }
    if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
      auto key = std::make_pair(st.st_dev, st.st_ino);
      if (auto it = links_.find(key); it != links_.end()) {
        archive_entry_set_hardlink(e.get(), it->second.c_str());
        archive_entry_set_size(e.get(), 0);
        header(e.get());
        return;
      }
      links_.emplace(key, rel);
    }
    header(e.get());
    if (S_ISREG(st.st_mode) && st.st_size > 0) contents(host);
    if (S_ISDIR(st.st_mode)) {
      if (is_opaque(host)) empty_file(rel + "/.wh..wh..opq", st);
      directory(host, rel);
    }
  }

  void empty_file(const std::string& name, const struct stat& like) {
    std::unique_ptr<archive_entry, void (*)(archive_entry*)> e(archive_entry_new(),
                                                               archive_entry_free);
    archive_entry_set_pathname(e.get(), name.c_str());
    archive_entry_set_filetype(e.get(), AE_IFREG);
    archive_entry_set_perm(e.get(), 0);
    archive_entry_set_size(e.get(), 0);
    archive_entry_set_mtime(e.get(), like.st_mtim.tv_sec, like.st_mtim.tv_nsec);
    header(e.get());
  }

  void header(archive_entry* e) {
    if (archive_write_header(w_.a, e) < ARCHIVE_WARN) fail("header");
  }

  void contents(const std::string& host) {
    UniqueFd fd(::open(host.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) throw Internal("commit: open " + host + ": " + std::strerror(errno));
    std::vector<char> buf(1 << 16);
    for (;;) {
      ssize_t n = ::read(fd.get(), buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw Internal("commit: read " + host + ": " + std::strerror(errno));
      if (n == 0) break;
      if (archive_write_data(w_.a, buf.data(), static_cast<std::size_t>(n)) < 0) fail("data");
    }
  }

  [[noreturn]] void fail(const char* what) {
    const char* msg = archive_error_string(w_.a);
    throw Internal(std::string("commit: writing the layer (") + what + "): " + (msg ? msg : "?"));
  }

  const std::function<bool(const std::string&)>& skip_;
  const ByteSink& sink_;
  Writer w_;
  std::map<std::pair<dev_t, ino_t>, std::string> links_;
};

}  // namespace

void pack_layer(const std::string& dir, const std::function<bool(const std::string&)>& skip,
                const ByteSink& sink) {
  Packer p(skip, sink);
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) p.directory(dir, "");
  p.finish();
}

}  // namespace sockerless::image
