// The Docker Engine API as served by sockerlessd: every route, the version prefix, the
// headers dockerd sends, and the error mapping, assembled into hooks for http::Server.
#pragma once

#include <string>

#include "engine/engine.h"
#include "http/router.h"
#include "http/server.h"

namespace sockerless::routes {

// Identity shown by /version and the Server header.
struct DaemonIdentity {
  std::string version = SOCKERLESS_VERSION;
  std::string git_commit;
};

// Registers every route of the Engine API (the ones not built yet answer 501).
void add_docker_routes(http::Router& router, engine::Engine& engine, const DaemonIdentity& who);

// Hooks for http::Server around a router: version prefix and range, dockerd's headers,
// JSON 404 for unknown routes, typed errors to status codes.
http::ServerHooks docker_api_hooks(const http::Router& router, const DaemonIdentity& who);

// Per-group registration (one file each).
void add_system_routes(http::Router& router, engine::Engine& engine, const DaemonIdentity& who);
void add_container_routes(http::Router& router, engine::Engine& engine);
void add_exec_routes(http::Router& router, engine::Engine& engine);
void add_volume_routes(http::Router& router, engine::Engine& engine);
void add_agent_routes(http::Router& router, engine::Engine& engine);
void add_network_routes(http::Router& router, engine::Engine& engine);
void add_stats_routes(http::Router& router, engine::Engine& engine);
void add_image_routes(http::Router& router, engine::Engine& engine);
void add_build_routes(http::Router& router, engine::Engine& engine);
void add_not_implemented_routes(http::Router& router);

}  // namespace sockerless::routes
