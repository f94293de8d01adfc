// HTTP requests and responses as the API layer sees them: plain values, no Beast.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/unique_fd.h"

namespace sockerless::http {

struct CaseInsensitiveLess {
  bool operator()(std::string_view a, std::string_view b) const;
};

// Header fields by name, case-insensitively; a name may repeat.
class Headers {
 public:
  void add(std::string name, std::string value);
  void set(std::string name, std::string value);  // replaces every field of that name
  std::optional<std::string> get(std::string_view name) const;
  bool has(std::string_view name) const { return get(name).has_value(); }
  const std::multimap<std::string, std::string, CaseInsensitiveLess>& fields() const {
    return fields_;
  }

 private:
  std::multimap<std::string, std::string, CaseInsensitiveLess> fields_;
};

// Query parameters, decoded; a key may repeat (`?filters=..&filters=..`).
class Query {
 public:
  static Query parse(std::string_view raw);
  std::optional<std::string> get(std::string_view key) const;
  std::vector<std::string> all(std::string_view key) const;
  bool has(std::string_view key) const { return get(key).has_value(); }
  // Go's strconv.ParseBool rules plus dockerd's "empty or absent is false" convention.
  bool get_bool(std::string_view key, bool fallback = false) const;
  const std::vector<std::pair<std::string, std::string>>& items() const { return items_; }

 private:
  std::vector<std::pair<std::string, std::string>> items_;
};

std::string percent_decode(std::string_view s, bool plus_is_space);

struct Request {
  std::string method;
  std::string target;  // as received, with query
  std::string path;    // decoded path, version prefix removed by the API layer
  Query query;
  Headers headers;
  std::string body;  // for routes with a buffered body
  // For routes with a streamed body: read the (de-chunked) body from here until EOF.
  UniqueFd body_fd;
  std::map<std::string, std::string> params;  // path parameters of the matched route
  int api_major = 1, api_minor = 44;          // negotiated API version
  std::string route;                          // the matched route's pattern, for logs/metrics
  // The client's IP address for TCP connections ("10.231.0.5"); empty on unix sockets.
  std::string peer;

  bool api_before(int major, int minor) const {
    return api_major < major || (api_major == major && api_minor < minor);
  }
  const std::string& param(const std::string& name) const;
};

struct Response {
  int status = 200;
  std::string reason;  // empty: the standard one
  Headers headers;
  std::string body;

  static Response json(int status, std::string body);
  static Response text(int status, std::string body, std::string content_type = "text/plain");
  static Response empty(int status);
};

}  // namespace sockerless::http
