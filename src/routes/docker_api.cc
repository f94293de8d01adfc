#include "routes/docker_api.h"

#include "api/errors.h"
#include "api/respond.h"
#include "api/version.h"
#include "common/errors.h"

namespace sockerless::routes {

void add_docker_routes(http::Router& router, engine::Engine& engine, const DaemonIdentity& who) {
  add_system_routes(router, engine, who);
  add_container_routes(router, engine);
  add_exec_routes(router, engine);
  add_image_routes(router, engine);
  add_build_routes(router, engine);
  add_stats_routes(router, engine);
  add_volume_routes(router, engine);
  add_network_routes(router, engine);
  add_agent_routes(router, engine);
  // Built last: real routes registered above win over the 501 placeholders.
  add_not_implemented_routes(router);
}

namespace {

http::RouteTarget failing(std::exception_ptr error) {
  http::RouteTarget t;
  t.execution = http::Execution::Inline;
  t.handler = [error](http::Request&, http::Responder&) { std::rethrow_exception(error); };
  return t;
}

}  // namespace

http::ServerHooks docker_api_hooks(const http::Router& router, const DaemonIdentity& who) {
  http::ServerHooks hooks;
  hooks.error_response = [](std::exception_ptr e) { return api::error_response(e); };
  hooks.default_headers = api::default_headers(who.version);
  hooks.resolve = [&router](http::Request& req) -> http::RouteTarget {
    auto split = api::split_version_prefix(req.path);
    req.path = split.rest;
    if (split.version) {
      try {
        auto v = api::check_version(*split.version);
        req.api_major = v.major;
        req.api_minor = v.minor;
      } catch (...) {
        return failing(std::current_exception());
      }
    }
    auto match = router.match(req.method, req.path);
    if (!match.route) {
      req.route = "unknown";
      return failing(std::make_exception_ptr(NotFound("page not found")));
    }
    req.params = std::move(match.params);
    // Metrics and logs name the route as the API does: "{id}" for a greedy "{id*}".
    req.route = match.route->pattern;
    for (auto at = req.route.find("*}"); at != std::string::npos; at = req.route.find("*}"))
      req.route.erase(at, 1);
    return match.route->target;
  };
  return hooks;
}

}  // namespace sockerless::routes
