// Registry credentials, from where Docker clients keep them: the X-Registry-Auth header,
// and ~/.docker/config.json ("auths", "credsStore", "credHelpers" through the
// docker-credential-* helper protocol).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace sockerless::image {

struct AuthConfig {
  std::string username;
  std::string password;
  std::string identity_token;  // "identitytoken": an OAuth refresh token
  std::string registry_token;  // "registrytoken": a bearer token to use as is
  std::string server_address;
  bool empty() const {
    return username.empty() && password.empty() && identity_token.empty() && registry_token.empty();
  }
};

// Decodes X-Registry-Auth: base64url (padding optional; standard base64 accepted too) of
// a JSON AuthConfig ({"username","password","auth","identitytoken","registrytoken",
// "serveraddress"}; "auth" is base64 "user:pass"). An empty header gives an empty config.
// Throws InvalidArgument for a value that is not base64 of a JSON object.
AuthConfig decode_registry_auth(std::string_view header);

// Encodes the same (base64url JSON) — for tests and for clients of other engines.
std::string encode_registry_auth(const AuthConfig& auth);

// The keys dockerd and the CLI use in config.json for a registry domain: docker.io is
// "https://index.docker.io/v1/"; others are the bare host[:port] (entries written as
// "https://host/", "http://host" or "host/v2/" also match).
std::string config_key_for(std::string_view domain);

// Looks up credentials for `domain` in a Docker config.json at `path`. Runs the
// credential helper ("docker-credential-<name> get", server URL on stdin, JSON
// {"Username","Secret"} on stdout; Username "<token>" means Secret is an identity token)
// for credHelpers[domain], else credsStore, else decodes auths[key].auth.
// Returns nullopt when nothing is stored; throws std::runtime_error when a helper fails
// for another reason than "credentials not found in native keychain".
std::optional<AuthConfig> lookup_docker_config(const std::string& path, std::string_view domain);

// Base64 (standard alphabet, with padding) and a decoder accepting both alphabets and
// missing padding. Throws InvalidArgument on bad input.
std::string base64_encode(std::string_view data);
std::string base64_decode(std::string_view text);

}  // namespace sockerless::image
