// Engine API operations sockerless does not serve yet, each answering 501 with its name,
// and the swarm-mode ones, which answer as dockerd does on a node that is not in a swarm.
#include <string>

#include "common/errors.h"
#include "routes/docker_api.h"

namespace sockerless::routes {
namespace {

struct Operation {
  const char* method;
  const char* pattern;
  const char* id;
};

constexpr Operation kNotYet[] = {
    {"GET", "/images/search", "ImageSearch"},
    {"PUT", "/volumes/{name}", "VolumeUpdate"},
    {"GET", "/plugins/privileges", "GetPluginPrivileges"},
    {"POST", "/plugins/pull", "PluginPull"},
    {"POST", "/plugins/create", "PluginCreate"},
    {"GET", "/plugins/{name*}/json", "PluginInspect"},
    {"DELETE", "/plugins/{name*}", "PluginDelete"},
    {"POST", "/plugins/{name*}/enable", "PluginEnable"},
    {"POST", "/plugins/{name*}/disable", "PluginDisable"},
    {"POST", "/plugins/{name*}/upgrade", "PluginUpgrade"},
    {"POST", "/plugins/{name*}/push", "PluginPush"},
    {"POST", "/plugins/{name*}/set", "PluginSet"},
    {"POST", "/session", "Session"},
    {"POST", "/swarm/init", "SwarmInit"},
    {"POST", "/swarm/join", "SwarmJoin"},
};

// What dockerd answers, with 503, on a node that is not part of a swarm.
constexpr const char* kNotManager =
    "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to "
    "connect this node to swarm and try again.";
constexpr const char* kNotInSwarm = "This node is not part of a swarm";

constexpr Operation kSwarmManagerOnly[] = {
    {"GET", "/swarm", "SwarmInspect"},
    {"POST", "/swarm/update", "SwarmUpdate"},
    {"GET", "/swarm/unlockkey", "SwarmUnlockkey"},
    {"GET", "/nodes", "NodeList"},
    {"GET", "/nodes/{id}", "NodeInspect"},
    {"DELETE", "/nodes/{id}", "NodeDelete"},
    {"POST", "/nodes/{id}/update", "NodeUpdate"},
    {"GET", "/services", "ServiceList"},
    {"POST", "/services/create", "ServiceCreate"},
    {"GET", "/services/{id}", "ServiceInspect"},
    {"DELETE", "/services/{id}", "ServiceDelete"},
    {"POST", "/services/{id}/update", "ServiceUpdate"},
    {"GET", "/services/{id}/logs", "ServiceLogs"},
    {"GET", "/tasks", "TaskList"},
    {"GET", "/tasks/{id}", "TaskInspect"},
    {"GET", "/tasks/{id}/logs", "TaskLogs"},
    {"GET", "/secrets", "SecretList"},
    {"POST", "/secrets/create", "SecretCreate"},
    {"GET", "/secrets/{id}", "SecretInspect"},
    {"DELETE", "/secrets/{id}", "SecretDelete"},
    {"POST", "/secrets/{id}/update", "SecretUpdate"},
    {"GET", "/configs", "ConfigList"},
    {"POST", "/configs/create", "ConfigCreate"},
    {"GET", "/configs/{id}", "ConfigInspect"},
    {"DELETE", "/configs/{id}", "ConfigDelete"},
    {"POST", "/configs/{id}/update", "ConfigUpdate"},
};

http::RouteTarget throwing(std::function<void()> thrower) {
  http::RouteTarget t;
  t.execution = http::Execution::Inline;
  t.handler = [thrower = std::move(thrower)](http::Request&, http::Responder&) { thrower(); };
  return t;
}

}  // namespace

void add_not_implemented_routes(http::Router& router) {
  for (const auto& op : kNotYet) {
    std::string shown = op.pattern;
    std::erase(shown, '*');
    std::string message = std::string(op.id) + " (" + op.method + " " + shown +
                          ") is not implemented by sockerless yet";
    router.add(op.method, op.pattern, throwing([message] { throw NotImplemented(message); }));
  }
  for (const auto& op : kSwarmManagerOnly)
    router.add(op.method, op.pattern, throwing([] { throw Unavailable(kNotManager); }));
  router.add("POST", "/swarm/leave", throwing([] { throw Unavailable(kNotInSwarm); }));
  router.add("POST", "/swarm/unlock", throwing([] { throw Unavailable(kNotInSwarm); }));
}

}  // namespace sockerless::routes
