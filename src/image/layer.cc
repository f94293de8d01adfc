#include "image/layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

#include "common/digest.h"
#include "common/errors.h"
#include "common/tar_entries.h"

namespace sockerless::image {

namespace {

struct ArchiveReader {
  archive* a = archive_read_new();
  ~ArchiveReader() { archive_read_free(a); }
};
struct ArchiveWriter {
  archive* a = archive_write_disk_new();
  ~ArchiveWriter() { archive_write_free(a); }
};

}  // namespace

LayerInfo scan_layer(const std::string& blob_path) {
  LayerInfo info;
  Sha256 hash;
  {
    // Pass 1: the uncompressed byte stream, for the diff ID.
    ArchiveReader r;
    archive_read_support_filter_all(r.a);
    archive_read_support_format_raw(r.a);
    if (archive_read_open_filename(r.a, blob_path.c_str(), 1 << 16) != ARCHIVE_OK)
      throw InvalidArgument("cannot read layer " + blob_path + ": " + archive_error_string(r.a));
    archive_entry* e = nullptr;
    if (archive_read_next_header(r.a, &e) != ARCHIVE_OK)
      throw InvalidArgument("cannot read layer " + blob_path + ": " + archive_error_string(r.a));
    std::vector<char> buf(1 << 16);
    for (;;) {
      la_ssize_t n = archive_read_data(r.a, buf.data(), buf.size());
      if (n < 0)
        throw InvalidArgument("corrupt layer " + blob_path + ": " + archive_error_string(r.a));
      if (n == 0) break;
      hash.update(buf.data(), static_cast<std::size_t>(n));
      info.tar_size += static_cast<std::uint64_t>(n);
    }
  }
  info.diff_id = hash.digest();
  {
    // Pass 2: the tar's entries, for the content size.
    ArchiveReader r;
    archive_read_support_filter_all(r.a);
    archive_read_support_format_tar(r.a);
    archive_read_support_format_empty(r.a);
    if (archive_read_open_filename(r.a, blob_path.c_str(), 1 << 16) != ARCHIVE_OK)
      throw InvalidArgument("cannot read layer " + blob_path + ": " + archive_error_string(r.a));
    archive_entry* e = nullptr;
    int rc;
    while ((rc = next_tar_entry(r.a, &e)) == ARCHIVE_OK) {
      if (archive_entry_filetype(e) == AE_IFREG)
        info.size += static_cast<std::uint64_t>(archive_entry_size(e));
      archive_read_data_skip(r.a);
    }
    if (rc != ARCHIVE_EOF)
      throw InvalidArgument("corrupt layer " + blob_path + ": " + archive_error_string(r.a));
  }
  return info;
}

namespace {

// Normalises an entry name: strips "./" and leading "/", rejects "..".
std::string clean_name(const char* raw) {
  std::string name = raw ? raw : "";
  std::string out;
  std::size_t i = 0;
  while (i <= name.size()) {
    std::size_t j = name.find('/', i);
    if (j == std::string::npos) j = name.size();
    std::string part = name.substr(i, j - i);
    if (part == "..") throw InvalidArgument("layer entry escapes the root: " + name);
    if (!part.empty() && part != ".") out += (out.empty() ? "" : "/") + part;
    i = j + 1;
  }
  return out;
}

}  // namespace

void unpack_layer(const std::string& blob_path, const std::string& dest_path) {
  namespace fs = std::filesystem;
  fs::create_directory(dest_path);
  // Entry names are made relative by clean_name() and prefixed with this canonical
  // root, so the symlink check only ever sees links the layer itself created.
  const std::string dest = fs::canonical(dest_path).string();
  ArchiveReader r;
  archive_read_support_filter_all(r.a);
  archive_read_support_format_tar(r.a);
  archive_read_support_format_empty(r.a);
  if (archive_read_open_filename(r.a, blob_path.c_str(), 1 << 16) != ARCHIVE_OK)
    throw InvalidArgument("cannot read layer " + blob_path + ": " + archive_error_string(r.a));
  ArchiveWriter w;
  int flags = ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_XATTR |
              ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
              ARCHIVE_EXTRACT_UNLINK;
  if (::geteuid() == 0) flags |= ARCHIVE_EXTRACT_OWNER;
  archive_write_disk_set_options(w.a, flags);
  archive_write_disk_set_standard_lookup(w.a);
  archive_entry* e = nullptr;
  int rc;
  while ((rc = next_tar_entry(r.a, &e)) == ARCHIVE_OK) {
    std::string name = clean_name(archive_entry_pathname(e));
    if (name.empty()) continue;  // the root itself
    fs::path rel(name);
    std::string base = rel.filename().string();
    fs::path parent = fs::path(dest) / rel.parent_path();
    if (base == ".wh..wh..opq") {
      fs::create_directories(parent);
      if (::setxattr(parent.c_str(), "trusted.overlay.opaque", "y", 1, 0) != 0)
        throw std::runtime_error("marking " + parent.string() + " opaque: " + std::strerror(errno));
      continue;
    }
    if (base.rfind(".wh.", 0) == 0) {
      fs::create_directories(parent);
      fs::path target = parent / base.substr(4);
      if (::mknod(target.c_str(), S_IFCHR | 0, makedev(0, 0)) != 0 && errno != EEXIST)
        throw std::runtime_error("whiteout " + target.string() + ": " + std::strerror(errno));
      continue;
    }
    std::string full = dest + "/" + name;
    archive_entry_set_pathname(e, full.c_str());
    if (const char* link = archive_entry_hardlink(e)) {
      std::string target = dest + "/" + clean_name(link);
      archive_entry_set_hardlink(e, target.c_str());
    }
    if (archive_write_header(w.a, e) < ARCHIVE_WARN)
      throw InvalidArgument("unpacking " + name + ": " + archive_error_string(w.a));
    if (archive_entry_size(e) > 0) {
      const void* buf;
      size_t size;
      la_int64_t offset;
      int drc;
      while ((drc = archive_read_data_block(r.a, &buf, &size, &offset)) == ARCHIVE_OK)
        if (archive_write_data_block(w.a, buf, size, offset) < ARCHIVE_OK)
          throw std::runtime_error("writing " + name + ": " + archive_error_string(w.a));
      if (drc != ARCHIVE_EOF)
        throw InvalidArgument("corrupt layer entry " + name + ": " + archive_error_string(r.a));
    }
    if (archive_write_finish_entry(w.a) < ARCHIVE_WARN)
      throw std::runtime_error("finishing " + name + ": " + archive_error_string(w.a));
  }
  if (rc != ARCHIVE_EOF)
    throw InvalidArgument("corrupt layer " + blob_path + ": " + archive_error_string(r.a));
}

}  // namespace sockerless::image
