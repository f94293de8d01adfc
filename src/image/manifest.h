// Image manifests and indexes (Docker schema 2 and OCI), image configs' platform fields,
// and platform selection from a manifest list.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sockerless::image {

struct Descriptor {
  std::string media_type;
  std::string digest;
  std::int64_t size = 0;
};

struct Manifest {
  std::string media_type;
  Descriptor config;
  std::vector<Descriptor> layers;
};

struct Platform {
  std::string os = "linux";
  std::string architecture;
  std::string variant;
  std::string str() const;  // "linux/arm64/v8"
};

struct IndexEntry {
  Descriptor descriptor;
  Platform platform;
};

bool is_index(std::string_view media_type);
bool is_manifest(std::string_view media_type);

// Throw InvalidArgument when the document is not the kind they parse.
Manifest parse_manifest(std::string_view body);
std::vector<IndexEntry> parse_index(std::string_view body);

// "linux/amd64", "linux/arm64/v8", "amd64"; empty text is the host's platform.
// Throws InvalidArgument for anything else.
Platform parse_platform(std::string_view text);
Platform host_platform();

// The entry for `want`, matching the way containerd's default matcher does (os and
// architecture must match; variant must match when both name one, with arm64 treating
// an empty variant as v8). Throws NotFound with dockerd's message otherwise.
const IndexEntry& select_platform(const std::vector<IndexEntry>& entries, const Platform& want);

// Builds a Docker schema 2 manifest for a config and its (gzip) layers.
std::string make_manifest(const Descriptor& config, const std::vector<Descriptor>& layers);

}  // namespace sockerless::image
