// Build cache keys, in the spirit of the classic builder: a step is a cache hit when a
// child of the same parent image was committed with the same ContainerConfig.Cmd (which,
// for COPY/ADD, names a hash of the copied content) and the same resulting config.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace sockerless::build {

// One file (or directory, symlink) copied by COPY/ADD, as the caller saw it.
struct SourceEntry {
  std::string path;  // relative to the copy's destination, slash-separated
  std::uint32_t mode = 0;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::uint64_t size = 0;
  std::string digest;  // content digest ("sha256:…"); link target for symlinks; "" for dirs
};

// sha256 (64 hex, no prefix) over the entries sorted by path; independent of input order.
std::string hash_sources(std::vector<SourceEntry> entries);

// The classic builder's label for a copy's sources: "file:<hex>" for one regular file,
// "dir:<hex>" for one directory, "multi:<hex>" for several sources.
enum class SourceShape { File, Dir, Multi };
std::string source_label(SourceShape shape, const std::string& hex);

// "sha256:<hex>" over the parent image id, the step's ContainerConfig.Cmd and, when given,
// the content hash and the config the step leaves (a JSON object; keys sort themselves).
// Every field is length-prefixed so no two different inputs collide by concatenation.
std::string step_cache_key(const std::string& parent_id,
                           const std::vector<std::string>& container_cmd,
                           const std::string& content_hash = "");
std::string step_cache_key(const std::string& parent_id,
                           const std::vector<std::string>& container_cmd,
                           const std::string& content_hash, const nlohmann::json& config);

}  // namespace sockerless::build
