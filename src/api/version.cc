#include "api/version.h"

#include <charconv>

#include "common/errors.h"

namespace sockerless::api {

std::optional<ApiVersion> parse_version(std::string_view text) {
  auto dot = text.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  ApiVersion v;
  auto parse = [](std::string_view s, int& out) {
    if (s.empty() || s.size() > 4) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size();
  };
  if (!parse(text.substr(0, dot), v.major) || !parse(text.substr(dot + 1), v.minor))
    return std::nullopt;
  return v;
}

VersionedPath split_version_prefix(std::string_view path) {
  VersionedPath out;
  if (path.size() > 2 && path[0] == '/' && path[1] == 'v') {
    std::size_t end = 2;
    while (end < path.size() && ((path[end] >= '0' && path[end] <= '9') || path[end] == '.'))
      ++end;
    if (end > 2 && (end == path.size() || path[end] == '/')) {
      out.version = std::string(path.substr(2, end - 2));
      out.rest = end == path.size() ? "/" : std::string(path.substr(end));
      return out;
    }
  }
  out.rest = std::string(path);
  return out;
}

ApiVersion check_version(const std::string& requested) {
  return check_version(requested, kMinVersion, kMaxVersion, kMaxVersion);
}

ApiVersion check_version(const std::string& requested, const ApiVersion& min, const ApiVersion& max,
                         const ApiVersion& advertised_max) {
  auto v = parse_version(requested);
  // dockerd compares version strings numerically segment by segment; an unparsable one
  // (e.g. "1.2.3" or "1.") is rejected the same way as one that is out of range.
  if (!v) throw InvalidArgument("client version " + requested + " is not a valid API version");
  if (*v > max)
    throw InvalidArgument("client version " + requested +
                          " is too new. Maximum supported API version is " + advertised_max.str());
  if (*v < min)
    throw InvalidArgument("client version " + requested +
                          " is too old. Minimum supported API version is " + min.str() +
                          ", please upgrade your client to a newer version");
  return *v;
}

}  // namespace sockerless::api
