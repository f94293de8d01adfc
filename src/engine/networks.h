// Networks: the bridge, host and none networks, user-defined bridge networks with IPAM,
// and — when the daemon may (root, a local backend) — the real thing underneath: a Linux
// bridge per network, a veth pair per endpoint in the container's network namespace, an
// embedded DNS server per user-defined network, outbound NAT, and published ports through
// a userland proxy. Without those privileges networks are records with addresses and the
// containers keep a network namespace with loopback only (said at start-up and in /info).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engine/events.h"

namespace sockerless::store {
class Database;
}

namespace sockerless::engine {

struct ContainerLaunch;

struct NetworkRecord {
  std::string id, name, driver = "bridge", scope = "local";
  std::int64_t created = 0;  // unix nanos
  bool internal = false, attachable = false, enable_ipv6 = false;
  nlohmann::json labels = nlohmann::json::object(), options = nlohmann::json::object();
  std::string subnet, gateway, ip_range;  // IPv4 CIDR / address / CIDR
  bool ipam_given = false;                // the subnet came from the request
  std::string bridge;                     // the Linux bridge's name ("" for host/none)
  bool predefined() const { return name == "bridge" || name == "host" || name == "none"; }
};

// What a container needs from its networks to start, and what it shows afterwards.
struct NetworkAttachment {
  std::string netns_path;  // "" when the container keeps a network namespace of its own
  std::string ip_address;
  std::vector<std::string> dns;  // nameservers for resolv.conf when the user gave none
};

// What the daemon may change on the host for bridge networks (dockerd's --iptables and
// --ip-forward).
struct NetworkHostOptions {
  bool iptables = true;
  bool ip_forward = true;
};

class Networks {
 public:
  // `plumbing`: build bridges, veths, DNS and NAT (root with a local backend).
  Networks(store::Database& db, EventBus& events, std::string data_root, bool plumbing,
           NetworkHostOptions host = {});
  ~Networks();

  // Loads the records, makes the predefined networks, brings their bridges up.
  void init();
  bool plumbing() const { return plumbing_; }
  // Daemon shutdown: proxies and DNS servers stop; bridges without containers go.
  void shutdown();
  std::vector<std::string> warnings() const;

  // POST /networks/create: returns the ID. dockerd's conflicts and checks.
  std::string create(const nlohmann::json& body);
  NetworkRecord get(const std::string& ref) const;  // id, name or id prefix; NotFound
  std::optional<NetworkRecord> find(const std::string& ref) const;
  std::vector<NetworkRecord> list() const;
  // DELETE: 409 while containers are connected (`endpoints` counts them), 403 predefined.
  void remove(const std::string& ref, int endpoints);
  // Removes unused user-defined networks for which `keep` says no; returns their names.
  std::vector<std::string> prune(const std::function<bool(const NetworkRecord&)>& keep,
                                 const std::function<int(const std::string&)>& endpoints);

  // The endpoint settings (NetworkSettings.Networks[name]) a container starts with, for
  // its network mode and NetworkingConfig.EndpointsConfig; validates names and --ip.
  nlohmann::json initial_endpoints(const std::string& network_mode,
                                   const nlohmann::json& endpoints_config) const;

  // Container start: addresses for each endpoint in `endpoints` (filled in place), the
  // namespace with its interfaces, and published ports (`ports` gets
  // NetworkSettings.Ports). On failure nothing stays allocated.
  NetworkAttachment attach(const std::string& container_id, const std::string& name,
                           const std::string& hostname, nlohmann::json& endpoints,
                           const nlohmann::json& host_config, const nlohmann::json& exposed,
                           nlohmann::json& ports);
  // Container exit or removal: interfaces, namespace, proxies and addresses go; the
  // endpoint settings keep their configuration but lose their addresses.
  void detach(const std::string& container_id, nlohmann::json& endpoints, nlohmann::json& ports);
  // docker network connect/disconnect on a running container (`running`): its namespace
  // gets or loses an interface.
  void connect(const std::string& container_id, const std::string& name,
               const std::string& hostname, const std::string& network, bool running,
               const nlohmann::json& endpoint_config, nlohmann::json& endpoints);
  void disconnect(const std::string& container_id, const std::string& network, bool running,
                  nlohmann::json& endpoints);
  // After a daemon restart: a running container's addresses and names are in use again.
  void restore(const std::string& container_id, const std::string& name,
               const std::string& hostname, const nlohmann::json& endpoints,
               const nlohmann::json& ports);

  // Daemon start-up: the namespace of a container whose start was never recorded goes.
  void discard_namespace(const std::string& container_id);
  // ... and those of containers that have no record any more.
  void discard_namespaces_except(const std::set<std::string>& container_ids);

  // The nameservers a container attached with `endpoints` was given (the embedded DNS of
  // its first user-defined network), for a container joining its namespace.
  std::vector<std::string> resolvers(const nlohmann::json& endpoints,
                                     const std::string& network_mode) const;

  // For network inspect: the containers on a network, as dockerd lists them.
  nlohmann::json containers_on(const std::string& network_id) const;

  struct State;  // networks_state.h

 private:
  void publish_ports(const std::string& container_id, const std::string& name,
                     const nlohmann::json& endpoint, const nlohmann::json& host_config,
                     const nlohmann::json& exposed, nlohmann::json& ports);
  std::unique_ptr<State> s_;
  store::Database& db_;
  EventBus& events_;
  std::string data_root_;
  bool plumbing_;
  NetworkHostOptions host_;
};

nlohmann::json network_json(const NetworkRecord& n, const nlohmann::json& containers);

}  // namespace sockerless::engine
