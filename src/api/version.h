// Engine API versions: the "/v1.NN" path prefix and the range sockerless speaks.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sockerless::api {

struct ApiVersion {
  int major = 1, minor = 44;
  std::string str() const { return std::to_string(major) + "." + std::to_string(minor); }
  friend auto operator<=>(const ApiVersion&, const ApiVersion&) = default;
};

inline constexpr ApiVersion kMinVersion{1, 24};
inline constexpr ApiVersion kMaxVersion{1, 44};

// "1.44" -> {1, 44}; nullopt for anything else.
std::optional<ApiVersion> parse_version(std::string_view text);

struct VersionedPath {
  std::optional<std::string> version;  // the text after "/v", when the path had a prefix
  std::string rest;                    // the path without it
};

// Splits "/v1.44/containers/json" into "1.44" and "/containers/json". A prefix is "/v"
// followed by digits and dots, like dockerd's router ("/vabc/x" has none).
VersionedPath split_version_prefix(std::string_view path);

// Checks a requested version against the supported range; throws InvalidArgument with
// dockerd's messages when it is outside.
ApiVersion check_version(const std::string& requested);
// The same against another range: versions up to `max` are accepted, and the message for
// a newer one names `advertised_max` (a proxy accepts more than it advertises: it lowers).
ApiVersion check_version(const std::string& requested, const ApiVersion& min, const ApiVersion& max,
                         const ApiVersion& advertised_max);

}  // namespace sockerless::api
