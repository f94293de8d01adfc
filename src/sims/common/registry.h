// An OCI distribution registry (the /v2/ API docker, containerd and sockerless push and
// pull with), generic over the cloud service that fronts it: ECR for the AWS simulator,
// Artifact Registry and ACR later. Blobs are content-addressed files under
// <root>/blobs/sha256, written while their digest is computed and published only when it
// matches; manifests, tags and which repository holds which blob are rows of the
// simulator's state. A repository sees only the blobs pushed or mounted into it, as on
// the clouds' registries. The cloud supplies the policy: who may call, which repositories
// exist, whether tags may move.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "http/handler.h"

namespace sockerless::sims {

class State;

// What a registry operation refused, in the distribution spec's terms: the HTTP status,
// the error code ("MANIFEST_BLOB_UNKNOWN", "DIGEST_INVALID", …) and its detail.
class RegistryError : public std::runtime_error {
 public:
  RegistryError(int status, std::string code, const std::string& message,
                nlohmann::json detail = nullptr)
      : std::runtime_error(message),
        status_(status),
        code_(std::move(code)),
        detail_(std::move(detail)) {}
  int status() const { return status_; }
  const std::string& code() const { return code_; }
  const nlohmann::json& detail() const { return detail_; }

 private:
  int status_;
  std::string code_;
  nlohmann::json detail_;
};

struct RegistryPolicy {
  // The `service` of the Basic challenge ("ecr.amazonaws.com"); the realm is the address
  // the client used.
  std::string service;
  // Whether these Basic credentials may use the registry.
  std::function<bool(const std::string& user, const std::string& password)> authenticate;
  // Whether a repository exists; elsewhere every call answers NAME_UNKNOWN with
  // name_unknown(name) as its message.
  std::function<bool(const std::string& repo)> repository_exists;
  std::function<std::string(const std::string& repo)> name_unknown;
  // MANIFEST_UNKNOWN's message ("" : the spec's "manifest unknown").
  std::string manifest_unknown;
  // The refusal when a tag that exists may not point elsewhere ("" or unset: tags move).
  std::function<std::string(const std::string& repo, const std::string& tag)> tag_immutable;
};

struct ManifestRecord {
  std::string repository, digest, media_type, body;
  std::vector<std::string> tags;  // sorted
  // The image's size: its layers' (compressed) sizes summed; for an index, its largest
  // image's.
  std::int64_t image_size = 0;
  std::string artifact_media_type;  // the config's media type
  std::int64_t pushed_at_ms = 0;    // when the manifest was first pushed
};

class Registry {
 public:
  // root: the registry's folder (<data root>/registry).
  Registry(State& state, std::string root, RegistryPolicy policy);
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // The handler of a request under /v2/ (for Simulator::add_prefix): blob uploads get
  // their bodies streamed, everything else buffered.
  http::RouteTarget route(http::Request& request);

  // ---- what the cloud's control plane (ECR's API) sees and does
  // A repository's manifests, in push order, with their tags.
  std::vector<ManifestRecord> manifests(const std::string& repo) const;
  // By tag or digest.
  std::optional<ManifestRecord> find(const std::string& repo,
                                     const std::string& tag_or_digest) const;
  // Stores a manifest and, when `tag` is not empty, points the tag at it. Throws
  // RegistryError: MANIFEST_INVALID (not a schema 2 manifest or index), TAG_INVALID (a bad
  // tag, or one that may not move), DIGEST_INVALID (not `expected_digest`),
  // MANIFEST_BLOB_UNKNOWN (a blob or manifest it references is not in the repository;
  // detail {"digest": …}). Returns the digest.
  std::string put_manifest(const std::string& repo, std::string media_type, const std::string& body,
                           const std::string& tag, const std::string& expected_digest = "");
  // Removes a tag (the manifest stays); false when there is no such tag.
  bool untag(const std::string& repo, const std::string& tag);
  // Removes a manifest and its tags; false when there is no such manifest.
  bool delete_manifest(const std::string& repo, const std::string& digest);
  // The repository's indexes that list this manifest.
  std::vector<std::string> indexes_listing(const std::string& repo,
                                           const std::string& digest) const;
  // Forgets a repository's manifests, tags and blobs; blob files that no repository holds
  // any more are removed.
  void delete_repository(const std::string& repo);
  bool has_blob(const std::string& repo, const std::string& digest) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// ---- the protocol's pure parts (unit tested)

// The distribution spec's repository name grammar (lowercase components separated by
// '/', each [a-z0-9]+ joined by '.', '_', '__' or '-'s), of 2 to 251 characters (ECR
// takes 256, but docker refers to no more than 255 with the registry's host).
// (Tags and digests: image::valid_tag, image::valid_digest.)
bool valid_repository_name(std::string_view name);

// A request's Content-Range for a chunk: "first-last", also "bytes first-last/total".
struct ByteRange {
  std::uint64_t first = 0, last = 0;
};
std::optional<ByteRange> parse_content_range(std::string_view value);

// What a /v2/ path names.
struct RegistryPath {
  enum Kind { Base, Tags, Manifest, Blob, UploadStart, Upload, Unknown } kind = Unknown;
  std::string repo;
  std::string reference;  // the tag or digest, the blob's digest, the upload's id
};
RegistryPath parse_registry_path(std::string_view path);

// Registry passwords that carry their expiry, signed with a secret only the simulator
// holds, so it can check them without storing them:
// "<expiry, epoch seconds>.<hex HMAC-SHA256 of the expiry>".
std::string sign_password(std::string_view secret, std::int64_t expires_at);
// The password's expiry when the secret signed it; nullopt when it did not.
std::optional<std::int64_t> password_expiry(std::string_view secret, std::string_view password);

}  // namespace sockerless::sims
