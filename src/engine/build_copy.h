// The builder's file work, private to src/engine/builder*.cc: the context on disk, the
// sources a COPY/ADD names (globs, .dockerignore, local archives), their content hash for
// the cache, and the tar that puts them into a container.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "build/dockerignore.h"

namespace sockerless::engine::build_files {

// A scratch directory removed (recursively) with this object.
class TempDir {
 public:
  explicit TempDir(std::string path);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Extracts a tar (any compression) read from `fd` into `dir` (created), refusing paths
// that leave it. Throws InvalidArgument for something that is not an archive.
void extract_tar(int fd, const std::string& dir);

// An uncompressed tar at `path` that stops right after its last member's data, without
// the padding and the two zero blocks that end an archive, gets them added. The docker CLI
// sends such a context when it puts a Dockerfile from outside the context into it, and
// dockerd reads it as a complete archive. Anything else is left as it is.
void complete_tar_end(const std::string& path);

// Downloads an http(s) URL into `file`; returns the file name the URL names (its last
// path segment). Throws InvalidArgument/BadGateway with the reason.
std::string download(const std::string& url, const std::string& file);

// One source of a COPY/ADD after glob expansion.
struct CopyItem {
  std::string host_path;  // on this machine
  std::string name;       // base name, what a file is called under a directory dest
  bool dir = false;
  bool archive = false;     // ADD of a local tar: its entries are extracted into dest
  std::string context_rel;  // for context sources: its path in the context (.dockerignore)
  std::optional<std::string> file_name;  // inline file / URL: the name under dest
};

// The sources `patterns` name in the context at `root` (clean, relative, globs allowed),
// .dockerignore applied. Throws InvalidArgument with dockerd's COPY failed: messages.
std::vector<CopyItem> context_items(const std::string& root, const build::Dockerignore& ignore,
                                    const std::vector<std::string>& patterns,
                                    const std::string& instruction);

// Whether the file is a tar archive (any compression) ADD would extract.
bool is_archive(const std::string& host_path);

// The classic builder's label for the sources: "file:<hex>", "dir:<hex>", "multi:<hex>".
std::string source_label(const std::vector<CopyItem>& items, const build::Dockerignore* ignore);

struct Ownership {
  std::optional<std::uint32_t> uid, gid;  // unset: 0 for copies, kept for archives
  std::optional<std::uint32_t> mode;      // --chmod
};

// Where the copy lands, decided against the container's filesystem.
struct CopyDest {
  std::string dir;                  // relative to "/" ("" for the root), no slashes at the ends
  std::optional<std::string> file;  // a single file copied to this exact path (relative)
  std::vector<std::string> missing_dirs;  // relative, parent first: created 0755
};

// Writes the tar (names relative to "/") putting `items` at `dest` into `tar_path`.
void write_copy_tar(const std::vector<CopyItem>& items, const CopyDest& dest,
                    const Ownership& owner, const build::Dockerignore* ignore,
                    const std::string& tar_path);

// Reads the regular file `path` from a tar stream (docker cp output); "" when absent.
std::string read_from_tar(int fd, const std::string& name);

// uid (or gid) of `name` in an /etc/passwd (or /etc/group) text; nullopt when absent.
std::optional<std::uint32_t> lookup_id(const std::string& db_text, const std::string& name);

}  // namespace sockerless::engine::build_files
