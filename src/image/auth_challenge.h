// WWW-Authenticate challenges from registries (RFC 7235 syntax), e.g.
//   Bearer
//   realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"
//   Basic realm="Registry Realm"
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace sockerless::image {

struct Challenge {
  std::string scheme;                         // lower-cased: "bearer", "basic"
  std::map<std::string, std::string> params;  // keys lower-cased, values unquoted/unescaped
  std::string token68;                        // the "Scheme <token68>" form instead of params
};

// Parses one header value; a value may hold several challenges separated by commas.
// Malformed parts are skipped rather than thrown on (registries vary).
std::vector<Challenge> parse_challenges(std::string_view header);

}  // namespace sockerless::image
