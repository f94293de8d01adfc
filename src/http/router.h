// Maps (method, path) to a route. Patterns are paths with "{name}" segments; "{name*}"
// takes one or more segments (image names contain slashes: "/images/{name*}/json").
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "http/handler.h"

namespace sockerless::http {

struct Route {
  std::string method;
  std::string pattern;
  RouteTarget target;
};

struct RouteMatch {
  const Route* route = nullptr;
  std::map<std::string, std::string> params;
  bool path_known = false;  // some route has this path, with another method
};

class Router {
 public:
  void add(std::string method, std::string pattern, RouteTarget target);
  RouteMatch match(std::string_view method, std::string_view path) const;
  const std::vector<Route>& routes() const { return routes_; }

 private:
  struct Compiled {
    Route route;
    std::vector<std::string> segments;
  };
  std::vector<Route> routes_;
  std::vector<Compiled> compiled_;
};

// Splits a path into its segments ("/a/b/" -> ["a", "b", ""]).
std::vector<std::string_view> split_path(std::string_view path);

}  // namespace sockerless::http
