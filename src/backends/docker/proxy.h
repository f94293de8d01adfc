// The docker backend: sockerless in front of a real Docker engine. A real engine already
// owns every Docker semantic, so this backend sits at the API layer instead of under
// engine::Engine: each request is forwarded as it came (bodies streamed both ways,
// hijacked attach/exec and WebSockets bridged with half-close, registry auth headers
// passed on), with the API version negotiated down to what the engine speaks. What stays
// sockerless's own is around it: listeners and TLS, the request log and metrics, and its
// identity in /version and /info.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/version.h"
#include "backends/docker/engine_connection.h"
#include "http/handler.h"
#include "http/server.h"

namespace sockerless::backends::docker {

struct ProxyOptions {
  EngineAddress engine;
  std::string version;              // sockerless's own, shown in /version's Components
  std::vector<std::string> labels;  // --label: added to the engine's in /info
  std::chrono::milliseconds connect_timeout{10000};
};

class DockerProxy {
 public:
  explicit DockerProxy(ProxyOptions options);

  // Forwards one request and relays the answer; blocking (runs on a worker).
  void handle(http::Request& request, http::Responder& out);

  // The engine's API version range, fetched once and again after the engine was
  // unreachable (it may have come back as another version). Throws BadGateway.
  struct EngineApi {
    api::ApiVersion max, min;
  };
  EngineApi engine_api();

  const EngineAddress& engine() const { return options_.engine; }

 private:
  std::unique_ptr<EngineConnection> connect();
  // A kept-alive connection from an earlier request, if one is idle and still open.
  std::unique_ptr<EngineConnection> take_idle();
  void keep_idle(std::unique_ptr<EngineConnection> conn);
  void forget_engine();

  ProxyOptions options_;
  std::mutex mu_;
  std::optional<EngineApi> api_;
  std::vector<std::unique_ptr<EngineConnection>> idle_;
};

// Hooks for http::Server: the version prefix checked against sockerless's range, every
// request forwarded, errors (an unreachable engine: 502) in Docker's shape.
http::ServerHooks docker_proxy_hooks(DockerProxy& proxy);

// A route pattern for metrics and logs from a concrete path, without a route table:
// "/containers/abc/json" -> "/containers/{id}/json", "/images/a/b:1/json" ->
// "/images/{name}/json".
std::string route_label(std::string_view path);

// The request target to send the engine: the version prefix lowered to `engine_max` when
// the client asked for more. `path_and_query` is the target as received.
std::string engine_target(std::string_view target, const api::ApiVersion& engine_max);

}  // namespace sockerless::backends::docker
