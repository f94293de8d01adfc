// Image references in Docker's grammar: [domain[:port]/]path[:tag][@digest], normalised the
// way dockerd does it ("busybox" -> "docker.io/library/busybox:latest").
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sockerless::image {

inline constexpr std::string_view kDefaultDomain = "docker.io";
inline constexpr std::string_view kLegacyDefaultDomain = "index.docker.io";
inline constexpr std::string_view kDefaultTag = "latest";

struct Reference {
  std::string domain;  // "docker.io", "localhost:5000", "registry.example.com"
  std::string path;    // "library/busybox", "team/app"
  std::string tag;     // may be empty (then digest is usually set)
  std::string digest;  // "sha256:<64 hex>", may be empty

  // "docker.io/library/busybox"
  std::string name() const;
  // The fully qualified form: "docker.io/library/busybox:latest", with "@digest" when set.
  std::string str() const;
  // The short form users type and dockerd shows in RepoTags: "busybox:latest",
  // "localhost:5000/app:1" (docker.io and library/ dropped).
  std::string familiar() const;
  // familiar() without tag or digest: "busybox".
  std::string familiar_name() const;
  // "name:tag" in familiar form (tag required), as RepoTags shows it.
  std::string familiar_tagged() const;
  // "name@digest" in familiar form (digest required), as RepoDigests shows it.
  std::string familiar_digested() const;
};

// Parses and normalises a reference. Adds docker.io and library/ where dockerd would.
// Does NOT add a default tag: callers that want one use with_default_tag().
// Throws InvalidArgument with dockerd's messages:
//   "invalid reference format"
//   "invalid reference format: repository name (library/Busybox) must be lowercase"
Reference parse_reference(std::string_view text);

// The reference with tag "latest" when it has neither tag nor digest.
Reference with_default_tag(Reference ref);

// True for a full image ID or "sha256:<hex>" form, or a hex prefix of at least one char
// that is not also a valid reference by another reading (dockerd resolves IDs first).
bool looks_like_id(std::string_view text);

// Validates a tag on its own ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}).
bool valid_tag(std::string_view tag);

// Validates "algorithm:hex" digests: sha256 with 64 lowercase hex characters (and sha512
// with 128); returns false otherwise.
bool valid_digest(std::string_view digest);

// The registry host to contact for a domain: "docker.io" is served by
// "registry-1.docker.io"; others as they are.
std::string registry_host(std::string_view domain);

}  // namespace sockerless::image
