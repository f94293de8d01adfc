#include "build/cache_key.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/digest.h"

namespace sockerless::build {

namespace {

void field(Sha256& h, std::string_view value) {
  h.update(std::to_string(value.size()));
  h.update(":");
  h.update(value);
}

void common_fields(Sha256& h, const std::string& parent_id,
                   const std::vector<std::string>& container_cmd, const std::string& content_hash) {
  field(h, "sockerless-build-cache-v1");
  field(h, parent_id);
  field(h, std::to_string(container_cmd.size()));
  for (const auto& arg : container_cmd)
    field(h, arg);
  field(h, content_hash);
}

}  // namespace

std::string hash_sources(std::vector<SourceEntry> entries) {
  std::sort(entries.begin(), entries.end(),
            [](const SourceEntry& a, const SourceEntry& b) { return a.path < b.path; });
  Sha256 h;
  for (const auto& e : entries) {
    field(h, e.path);
    field(h, std::to_string(e.mode));
    field(h, std::to_string(e.uid));
    field(h, std::to_string(e.gid));
    field(h, std::to_string(e.size));
    field(h, e.digest);
  }
  return h.hex();
}

std::string source_label(SourceShape shape, const std::string& hex) {
  switch (shape) {
    case SourceShape::File:
      return "file:" + hex;
    case SourceShape::Dir:
      return "dir:" + hex;
    case SourceShape::Multi:
      break;
  }
  return "multi:" + hex;
}

std::string step_cache_key(const std::string& parent_id,
                           const std::vector<std::string>& container_cmd,
                           const std::string& content_hash) {
  Sha256 h;
  common_fields(h, parent_id, container_cmd, content_hash);
  return h.digest();
}

std::string step_cache_key(const std::string& parent_id,
                           const std::vector<std::string>& container_cmd,
                           const std::string& content_hash, const nlohmann::json& config) {
  Sha256 h;
  common_fields(h, parent_id, container_cmd, content_hash);
  field(h, config.dump());
  return h.digest();
}

}  // namespace sockerless::build
