#include "engine/build_copy.h"

#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>

#include "build/cache_key.h"
#include "build/glob.h"
#include "common/digest.h"
#include "common/errors.h"
#include "common/tar_entries.h"

namespace sockerless::engine::build_files {
namespace fs = std::filesystem;

namespace {

using ReadArchive = std::unique_ptr<struct archive, decltype(&archive_read_free)>;
using WriteArchive = std::unique_ptr<struct archive, decltype(&archive_write_free)>;
using Entry = std::unique_ptr<struct archive_entry, decltype(&archive_entry_free)>;

ReadArchive open_reader() {
  ReadArchive a(archive_read_new(), archive_read_free);
  archive_read_support_filter_all(a.get());
  archive_read_support_format_tar(a.get());
  archive_read_support_format_gnutar(a.get());
  return a;
}

std::string error_of(struct archive* a) {
  const char* e = archive_error_string(a);
  return e ? e : "archive error";
}

// A tar member's name made relative and checked: no absolute paths, no "..".
std::string safe_member(const char* raw) {
  std::string name = raw ? raw : "";
  while (!name.empty() && name.front() == '/')
    name.erase(0, 1);
  name = build::clean_path(name);
  if (name == ".." || name.rfind("../", 0) == 0)
    throw InvalidArgument("invalid path in archive: " + std::string(raw ? raw : ""));
  return name;
}

bool has_glob(const std::string& s) {
  return s.find_first_of("*?[") != std::string::npos;
}

// Calls fn(host_path, sub, st) for everything beneath `dir` (sorted, parents first), with
// .dockerignore applied through `context_rel` when `ignore` is given.
void walk(
    const std::string& dir, const std::string& sub_prefix, const std::string& context_rel,
    const build::Dockerignore* ignore,
    const std::function<void(const std::string&, const std::string&, const struct stat&)>& fn) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    std::string host = dir + "/" + n;
    std::string sub = sub_prefix.empty() ? n : sub_prefix + "/" + n;
    std::string crel = context_rel.empty() ? n : context_rel + "/" + n;
    struct stat st {};
    if (::lstat(host.c_str(), &st) != 0) continue;
    bool excluded = ignore && ignore->excluded(crel);
    if (!excluded) {
      fn(host, sub, st);
      if (S_ISDIR(st.st_mode)) walk(host, sub, crel, ignore, fn);
      continue;
    }
    if (!S_ISDIR(st.st_mode) || !ignore->must_descend(crel)) continue;
    // An excluded directory with something re-included beneath it ("dir", "!dir/keep"):
    // the client sent that, and the directory came with it, so it is there (with what
    // was re-included only), as in dockerd's context.
    struct Found {
      std::string host, sub;
      struct stat st;
    };
    std::vector<Found> inside;
    walk(host, sub, crel, ignore,
         [&](const std::string& h, const std::string& s, const struct stat& t) {
           inside.push_back({h, s, t});
         });
    if (inside.empty()) continue;
    fn(host, sub, st);
    for (const auto& f : inside)
      fn(f.host, f.sub, f.st);
  }
}

// Whether the context path `rel` is in the context as the builder sees it: not excluded,
// or a directory with something re-included beneath it.
bool in_context(const std::string& root, const std::string& rel,
                const build::Dockerignore& ignore) {
  if (rel == "." || !ignore.excluded(rel)) return true;
  struct stat st {};
  std::string host = root + "/" + rel;
  if (::lstat(host.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || !ignore.must_descend(rel))
    return false;
  bool any = false;
  walk(host, rel, rel, &ignore,
       [&](const std::string&, const std::string&, const struct stat&) { any = true; });
  return any;
}

std::string file_digest(const std::string& path) {
  Sha256 h;
  std::ifstream in(path, std::ios::binary);
  char buf[64 * 1024];
  while (in) {
    in.read(buf, sizeof buf);
    if (in.gcount() > 0) h.update(buf, static_cast<std::size_t>(in.gcount()));
  }
  return h.digest();
}

std::string link_of(const std::string& path) {
  std::error_code ec;
  auto t = fs::read_symlink(path, ec);
  return ec ? "" : t.string();
}

build::SourceEntry source_entry(const std::string& host, const std::string& sub,
                                const struct stat& st) {
  build::SourceEntry e;
  e.path = sub;
  e.mode = st.st_mode;
  e.size = S_ISREG(st.st_mode) ? static_cast<std::uint64_t>(st.st_size) : 0;
  if (S_ISREG(st.st_mode)) e.digest = file_digest(host);
  if (S_ISLNK(st.st_mode)) e.digest = link_of(host);
  return e;
}

std::string join(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  return a + "/" + b;
}

class TarWriter {
 public:
  explicit TarWriter(const std::string& path) : a_(archive_write_new(), archive_write_free) {
    archive_write_set_format_pax_restricted(a_.get());
    if (archive_write_open_filename(a_.get(), path.c_str()) != ARCHIVE_OK)
      throw Internal("cannot write " + path + ": " + error_of(a_.get()));
  }
  ~TarWriter() {
    if (a_) archive_write_close(a_.get());
  }

  void dir(const std::string& name, std::uint32_t mode, std::uint32_t uid, std::uint32_t gid,
           std::int64_t mtime) {
    Entry e(archive_entry_new(), archive_entry_free);
    archive_entry_set_pathname(e.get(), (name + "/").c_str());
    archive_entry_set_filetype(e.get(), AE_IFDIR);
    archive_entry_set_perm(e.get(), mode & 07777);
    fill(e.get(), uid, gid, mtime);
    header(e.get());
  }

  // A file, symlink or directory from the host, as it is there apart from owner/mode.
  void from_host(const std::string& host, const std::string& name, const struct stat& st,
                 const Ownership& owner) {
    std::uint32_t uid = owner.uid.value_or(0), gid = owner.gid.value_or(0);
    std::uint32_t mode = owner.mode.value_or(st.st_mode & 07777);
    if (S_ISDIR(st.st_mode)) return dir(name, mode, uid, gid, st.st_mtime);
    Entry e(archive_entry_new(), archive_entry_free);
    archive_entry_set_pathname(e.get(), name.c_str());
    fill(e.get(), uid, gid, st.st_mtime);
    if (S_ISLNK(st.st_mode)) {
      archive_entry_set_filetype(e.get(), AE_IFLNK);
      archive_entry_set_perm(e.get(), 0777);
      archive_entry_set_symlink(e.get(), link_of(host).c_str());
      return header(e.get());
    }
    if (!S_ISREG(st.st_mode)) return;  // devices, fifos, sockets: not copied
    archive_entry_set_filetype(e.get(), AE_IFREG);
    archive_entry_set_perm(e.get(), mode);
    archive_entry_set_size(e.get(), st.st_size);
    header(e.get());
    std::ifstream in(host, std::ios::binary);
    char buf[64 * 1024];
    while (in) {
      in.read(buf, sizeof buf);
      if (in.gcount() > 0) data(buf, static_cast<std::size_t>(in.gcount()));
    }
  }

  void file(const std::string& name, const std::string& content, const Ownership& owner) {
    Entry e(archive_entry_new(), archive_entry_free);
    archive_entry_set_pathname(e.get(), name.c_str());
    fill(e.get(), owner.uid.value_or(0), owner.gid.value_or(0), ::time(nullptr));
    archive_entry_set_filetype(e.get(), AE_IFREG);
    archive_entry_set_perm(e.get(), owner.mode.value_or(0644));
    archive_entry_set_size(e.get(), static_cast<la_int64_t>(content.size()));
    header(e.get());
    data(content.data(), content.size());
  }

  // Every member of a local archive, moved under `dir`.
  void extracted(const std::string& archive_path, const std::string& dir, const Ownership& owner) {
    auto r = open_reader();
    if (archive_read_open_filename(r.get(), archive_path.c_str(), 64 * 1024) != ARCHIVE_OK)
      throw InvalidArgument("cannot read " + archive_path + ": " + error_of(r.get()));
    struct archive_entry* e = nullptr;
    while (next_tar_entry(r.get(), &e) == ARCHIVE_OK) {
      std::string name = safe_member(archive_entry_pathname(e));
      if (name == ".") continue;
      archive_entry_set_pathname(e, join(dir, name).c_str());
      if (const char* hl = archive_entry_hardlink(e))
        archive_entry_set_hardlink(e, join(dir, safe_member(hl)).c_str());
      if (owner.uid) archive_entry_set_uid(e, *owner.uid);
      if (owner.gid) archive_entry_set_gid(e, *owner.gid);
      header(e);
      const void* buf = nullptr;
      size_t size = 0;
      la_int64_t offset = 0;
      while (archive_read_data_block(r.get(), &buf, &size, &offset) == ARCHIVE_OK)
        data(static_cast<const char*>(buf), size);
    }
  }

 private:
  static void fill(struct archive_entry* e, std::uint32_t uid, std::uint32_t gid,
                   std::int64_t mtime) {
    archive_entry_set_uid(e, uid);
    archive_entry_set_gid(e, gid);
    archive_entry_set_mtime(e, mtime, 0);
  }
  void header(struct archive_entry* e) {
    // A warning: a name not convertible to UTF-8, written as its bytes (hdrcharset=BINARY).
    if (archive_write_header(a_.get(), e) < ARCHIVE_WARN)
      throw Internal("writing the copy archive: " + error_of(a_.get()));
  }
  void data(const char* p, std::size_t n) {
    if (n && archive_write_data(a_.get(), p, n) < 0)
      throw Internal("writing the copy archive: " + error_of(a_.get()));
  }
  WriteArchive a_;
};

std::size_t write_to_file(char* p, std::size_t size, std::size_t n, void* user) {
  return std::fwrite(p, size, n, static_cast<std::FILE*>(user));
}

}  // namespace

TempDir::TempDir(std::string path) : path_(std::move(path)) {
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

namespace {

// A ustar header block's member size (octal, or base-256 when its top bit is set), or
// nullopt when the block is not a tar header (its checksum is wrong).
std::optional<std::uint64_t> tar_header_size(const unsigned char* b) {
  std::uint64_t sum = 0;
  for (int i = 0; i < 512; ++i)
    sum += (i >= 148 && i < 156) ? ' ' : b[i];
  std::uint64_t stored = 0;
  bool digits = false;
  for (int i = 148; i < 156 && b[i] != 0 && b[i] != ' '; ++i) {
    if (b[i] < '0' || b[i] > '7') return std::nullopt;
    stored = stored * 8 + (b[i] - '0');
    digits = true;
  }
  if (!digits || stored != sum) return std::nullopt;
  std::uint64_t size = 0;
  if (b[124] & 0x80) {
    for (int i = 125; i < 136; ++i)
      size = (size << 8) | b[i];
    return size;
  }
  for (int i = 124; i < 136 && b[i] != 0 && b[i] != ' '; ++i) {
    if (b[i] < '0' || b[i] > '7') return std::nullopt;
    size = size * 8 + (b[i] - '0');
  }
  return size;
}

}  // namespace

void complete_tar_end(const std::string& path) {
  std::unique_ptr<std::FILE, decltype(&std::fclose)> f(std::fopen(path.c_str(), "r+b"),
                                                       std::fclose);
  if (!f) return;
  std::error_code ec;
  auto total = static_cast<std::uint64_t>(fs::file_size(path, ec));
  if (ec) return;
  std::uint64_t pos = 0, pad = 0;
  bool members = false;
  unsigned char block[512];
  for (;;) {
    if (pos == total) {
      if (!members) return;
      break;  // ends on a member boundary without the zero blocks
    }
    if (pos + 512 > total) return;
    if (std::fseek(f.get(), static_cast<long>(pos), SEEK_SET) != 0 ||
        std::fread(block, 1, 512, f.get()) != 512)
      return;
    if (std::all_of(block, block + 512, [](unsigned char c) { return c == 0; })) return;
    auto size = tar_header_size(block);
    if (!size) return;
    std::uint64_t data_end = pos + 512 + *size;
    std::uint64_t next = pos + 512 + (*size + 511) / 512 * 512;
    if (data_end == total && next != total) {
      pad = next - total;
      break;
    }
    if (next > total) return;  // cut inside a member: a broken archive, left to the reader
    members = true;
    pos = next;
  }
  std::vector<char> zeros(pad + 1024, 0);
  std::fseek(f.get(), 0, SEEK_END);
  std::fwrite(zeros.data(), 1, zeros.size(), f.get());
}

void extract_tar(int fd, const std::string& dir) {
  fs::create_directories(dir);
  auto r = open_reader();
  archive_read_support_format_empty(r.get());
  if (archive_read_open_fd(r.get(), fd, 64 * 1024) != ARCHIVE_OK)
    throw InvalidArgument("the build context is not an archive: " + error_of(r.get()));
  std::unique_ptr<struct archive, decltype(&archive_write_free)> w(archive_write_disk_new(),
                                                                   archive_write_free);
  archive_write_disk_set_options(w.get(), ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM |
                                              ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                              ARCHIVE_EXTRACT_SECURE_NODOTDOT);
  struct archive_entry* e = nullptr;
  int rc;
  while ((rc = next_tar_entry(r.get(), &e)) == ARCHIVE_OK) {
    std::string name = safe_member(archive_entry_pathname(e));
    archive_entry_set_pathname(e, (dir + "/" + name).c_str());
    if (const char* hl = archive_entry_hardlink(e))
      archive_entry_set_hardlink(e, (dir + "/" + safe_member(hl)).c_str());
    if (archive_write_header(w.get(), e) < ARCHIVE_WARN)
      throw InvalidArgument("extracting the build context: " + error_of(w.get()));
    const void* buf = nullptr;
    size_t size = 0;
    la_int64_t offset = 0;
    while (archive_read_data_block(r.get(), &buf, &size, &offset) == ARCHIVE_OK)
      archive_write_data_block(w.get(), buf, size, offset);
    archive_write_finish_entry(w.get());
  }
  if (rc != ARCHIVE_EOF)
    throw InvalidArgument("the build context is not a valid archive: " + error_of(r.get()));
  archive_write_close(w.get());
}

std::string download(const std::string& url, const std::string& file) {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  std::FILE* out = std::fopen(file.c_str(), "wb");
  if (!out) throw Internal("cannot write " + file);
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, write_to_file);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, out);
  CURLcode rc = curl_easy_perform(curl.get());
  std::fclose(out);
  if (rc != CURLE_OK) throw BadGateway("error downloading " + url + ": " + curl_easy_strerror(rc));
  std::string path = url;
  if (auto q = path.find_first_of("?#"); q != std::string::npos) path.resize(q);
  if (auto scheme = path.find("://"); scheme != std::string::npos) path = path.substr(scheme + 3);
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? "" : path.substr(slash + 1);
}

std::vector<CopyItem> context_items(const std::string& root, const build::Dockerignore& ignore,
                                    const std::vector<std::string>& patterns,
                                    const std::string& instruction) {
  std::vector<CopyItem> items;
  auto add = [&](const std::string& rel) {
    std::string host = rel == "." ? root : root + "/" + rel;
    struct stat st {};
    if (::stat(host.c_str(), &st) != 0) return false;
    CopyItem item;
    item.host_path = host;
    item.name = rel == "." ? "" : fs::path(rel).filename().string();
    item.dir = S_ISDIR(st.st_mode);
    item.context_rel = rel == "." ? "" : rel;
    items.push_back(item);
    return true;
  };
  for (const auto& raw : patterns) {
    std::string pattern = raw;
    while (!pattern.empty() && pattern.front() == '/')
      pattern.erase(0, 1);
    pattern = build::clean_path(pattern);
    if (pattern == ".." || pattern.rfind("../", 0) == 0)
      throw InvalidArgument(instruction +
                            " failed: forbidden path outside the build context: " + raw + " ()");
    if (has_glob(pattern)) {
      walk(root, "", "", &ignore,
           [&](const std::string&, const std::string& sub, const struct stat&) {
             if (build::glob_match(pattern, sub, build::GlobRules{true, '\\'})) add(sub);
           });
      continue;
    }
    if (!in_context(root, pattern, ignore) || !add(pattern))
      throw InvalidArgument(instruction +
                            " failed: file not found in build context or excluded by "
                            ".dockerignore: stat " +
                            raw + ": file does not exist");
  }
  return items;
}

bool is_archive(const std::string& host_path) {
  auto r = open_reader();
  if (archive_read_open_filename(r.get(), host_path.c_str(), 64 * 1024) != ARCHIVE_OK) return false;
  struct archive_entry* e = nullptr;
  return next_tar_entry(r.get(), &e) == ARCHIVE_OK;
}

std::string source_label(const std::vector<CopyItem>& items, const build::Dockerignore* ignore) {
  std::vector<build::SourceEntry> entries;
  for (const auto& item : items) {
    std::string base = item.file_name.value_or(item.name);
    struct stat st {};
    if (::lstat(item.host_path.c_str(), &st) != 0) continue;
    entries.push_back(source_entry(item.host_path, base, st));
    if (item.dir)
      walk(item.host_path, base, item.context_rel, ignore,
           [&](const std::string& host, const std::string& sub, const struct stat& s) {
             entries.push_back(source_entry(host, sub, s));
           });
  }
  auto hex = build::hash_sources(entries);
  auto shape = items.size() != 1 ? build::SourceShape::Multi
               : items[0].dir    ? build::SourceShape::Dir
                                 : build::SourceShape::File;
  return build::source_label(shape, hex);
}

void write_copy_tar(const std::vector<CopyItem>& items, const CopyDest& dest,
                    const Ownership& owner, const build::Dockerignore* ignore,
                    const std::string& tar_path) {
  TarWriter tar(tar_path);
  for (const auto& d : dest.missing_dirs)
    tar.dir(d, 0755, owner.uid.value_or(0), owner.gid.value_or(0), ::time(nullptr));
  for (const auto& item : items) {
    struct stat st {};
    if (::lstat(item.host_path.c_str(), &st) != 0)
      throw NotFound("copy source vanished: " + item.host_path);
    if (item.archive) {
      tar.extracted(item.host_path, dest.dir, owner);
    } else if (item.dir) {
      walk(item.host_path, "", item.context_rel, ignore,
           [&](const std::string& host, const std::string& sub, const struct stat& s) {
             tar.from_host(host, join(dest.dir, sub), s, owner);
           });
    } else {
      std::string name =
          dest.file ? *dest.file : join(dest.dir, item.file_name.value_or(item.name));
      tar.from_host(item.host_path, name, st, owner);
    }
  }
}

std::string read_from_tar(int fd, const std::string& name) {
  auto r = open_reader();
  if (archive_read_open_fd(r.get(), fd, 64 * 1024) != ARCHIVE_OK) return "";
  std::string base = fs::path(name).filename().string();
  struct archive_entry* e = nullptr;
  std::string out;
  while (next_tar_entry(r.get(), &e) == ARCHIVE_OK) {
    std::string member = fs::path(archive_entry_pathname(e)).filename().string();
    if (member != base || archive_entry_filetype(e) != AE_IFREG) continue;
    char buf[16 * 1024];
    la_ssize_t n;
    while ((n = archive_read_data(r.get(), buf, sizeof buf)) > 0)
      out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

std::optional<std::uint32_t> lookup_id(const std::string& db_text, const std::string& name) {
  std::istringstream in(db_text);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> fields;
    std::stringstream ls(line);
    std::string f;
    while (std::getline(ls, f, ':'))
      fields.push_back(f);
    if (fields.size() >= 3 && fields[0] == name) {
      try {
        return static_cast<std::uint32_t>(std::stoul(fields[2]));
      } catch (const std::exception&) {
        return std::nullopt;
      }
    }
  }
  return std::nullopt;
}

}  // namespace sockerless::engine::build_files
