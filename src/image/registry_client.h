// An OCI distribution (registry v2) client over libcurl: manifests, blobs, uploads and
// mounts, with the WWW-Authenticate challenge flow (anonymous, Basic, Bearer tokens),
// mirrors for docker.io, and dockerd's insecure-registry rules (HTTPS without
// verification, then plain HTTP; 127.0.0.0/8 insecure by default).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "image/credentials.h"
#include "image/reference.h"

namespace sockerless::image {

struct RegistryConfig {
  std::vector<std::string> mirrors;   // URLs, tried before docker.io for docker.io images
  std::vector<std::string> insecure;  // "host[:port]" or CIDR ("10.0.0.0/8")
  std::string certs_dir = "/etc/docker/certs.d";  // <dir>/<host[:port]>/ca.crt, like dockerd
};

// The media types of manifests sockerless understands.
inline constexpr const char* kDockerManifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr const char* kDockerManifestList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr const char* kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr const char* kOciIndex = "application/vnd.oci.image.index.v1+json";

struct FetchedManifest {
  std::string media_type;
  std::string body;
  std::string digest;  // sha256 of body
};

class RegistryClient {
 public:
  explicit RegistryClient(RegistryConfig config);
  ~RegistryClient();

  // Whether dockerd's rules make this domain insecure (listed, or in a listed/loopback CIDR).
  bool is_insecure(const std::string& domain) const;

  // Fetches the manifest for a tag or digest of `repo` (tag/digest in repo are ignored).
  // Throws NotFound ("manifest unknown"), Unauthorized, BadGateway (unreachable), or
  // InvalidArgument (digest mismatch).
  FetchedManifest manifest(const Reference& repo, const std::string& tag_or_digest,
                           const AuthConfig& auth);

  // Streams a blob into `sink` (called with successive chunks); `progress` gets the byte
  // count so far and the total (0 when unknown). The caller verifies the digest.
  using Sink = std::function<void(const char*, std::size_t)>;
  using Progress = std::function<void(std::uint64_t done, std::uint64_t total)>;
  void blob(const Reference& repo, const std::string& digest, const AuthConfig& auth,
            const Sink& sink, const Progress& progress);

  // The repository's tags (GET /v2/<name>/tags/list, following Link pagination).
  std::vector<std::string> tags(const Reference& repo, const AuthConfig& auth);

  bool has_blob(const Reference& repo, const std::string& digest, const AuthConfig& auth);
  // Cross-repository mount; false when the registry did not mount it (upload instead).
  bool mount_blob(const Reference& repo, const std::string& digest, const Reference& from,
                  const AuthConfig& auth);
  // Uploads the file at `path` as `digest` (monolithic PUT after POST).
  void upload_blob(const Reference& repo, const std::string& digest, const std::string& path,
                   std::uint64_t size, const AuthConfig& auth, const Progress& progress);
  // PUTs a manifest under a tag or digest; returns the digest the registry reports.
  std::string put_manifest(const Reference& repo, const std::string& tag_or_digest,
                           const std::string& media_type, const std::string& body,
                           const AuthConfig& auth);

  // GET /v2/ with the credentials, following the challenge: for POST /auth.
  // Throws Unauthorized when the registry refuses them.
  void check_login(const std::string& domain, const AuthConfig& auth);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sockerless::image
