// --network container:<name|id>: a container that lives in another container's network
// namespace, with dockerd's rules -- what conflicts with it at create, and what it takes
// from the other container at start.
#include "common/errors.h"
#include "engine/container_entry.h"
#include "engine/containers.h"
#include "engine/networks.h"

namespace sockerless::engine {

using nlohmann::json;

namespace {

constexpr std::string_view kPrefix = "container:";

bool non_empty(const json& j, const char* key) {
  return j.contains(key) && !j[key].is_null() && !j[key].empty();
}

}  // namespace

std::string Containers::validate_container_network(const json& config,
                                                   const json& host_config) const {
  std::string mode = host_config.value("NetworkMode", "");
  std::string ref = mode.substr(kPrefix.size());
  if (ref.empty())
    throw InvalidArgument("Invalid network mode: invalid container format container:<name|id>");
  // The order and wording of dockerd's validateNetContainerMode.
  if (config.value("Hostname", "") != "")
    throw InvalidArgument("conflicting options: hostname and the network mode");
  if (non_empty(host_config, "Links"))
    throw InvalidArgument(
        "conflicting options: container type network can't be used with links. "
        "This would result in undefined behavior");
  if (non_empty(host_config, "Dns"))
    throw InvalidArgument("conflicting options: dns and the network mode");
  if (non_empty(host_config, "ExtraHosts"))
    throw InvalidArgument("conflicting options: custom host-to-IP mapping and the network mode");
  if (non_empty(host_config, "PortBindings") || host_config.value("PublishAllPorts", false))
    throw InvalidArgument(
        "conflicting options: port publishing and the container type network mode");
  if (non_empty(config, "ExposedPorts"))
    throw InvalidArgument("conflicting options: port exposing and the container type network mode");
  if (config.value("MacAddress", "") != "")
    throw InvalidArgument("conflicting options: mac-address and the network mode");
  // A container that exists now is recorded by its full ID; one that does not is kept as
  // given and fails at start, as dockerd does.
  std::lock_guard lock(mu_);
  if (auto other = find(ref)) return std::string(kPrefix) + other->c.id;
  return mode;
}

void Containers::join_container_network(const std::string& mode, ContainerLaunch& launch) const {
  std::string ref = mode.substr(kPrefix.size());
  std::lock_guard lock(mu_);
  auto other = find(ref);
  if (!other) throw NotFound("No such container: " + ref);
  const Container& o = other->c;
  if (!o.running() || o.state.pid <= 0)
    throw Conflict("cannot join network of a non running container: " + o.id);
  if (o.id == launch.id) throw InvalidArgument("cannot join own network");
  launch.network_mode = "default";
  launch.netns_path = "/proc/" + std::to_string(o.state.pid) + "/ns/net";
  // dockerd gives the joining container the other's hostname, hosts and resolv.conf.
  launch.hostname = o.config.value("Hostname", "");
  launch.domainname = o.config.value("Domainname", "");
  launch.ip_address.clear();
  if (o.networks.is_object())
    for (const auto& [name, endpoint] : o.networks.items())
      if (std::string ip = endpoint.value("IPAddress", ""); !ip.empty()) {
        launch.ip_address = ip;
        break;
      }
  auto strings = [&](const char* key) { return string_array(o.host_config, key); };
  launch.extra_hosts = strings("ExtraHosts");
  launch.dns = strings("Dns");
  launch.dns_search = strings("DnsSearch");
  launch.dns_options = strings("DnsOptions");
  std::string other_mode = o.host_config.value("NetworkMode", "default");
  if (other_mode == "host") {
    launch.network_mode = "host";
    launch.netns_path.clear();
  } else if (other_mode == "none") {
    launch.network_mode = "none";
  }
  if (launch.dns.empty() && networks_) launch.dns = networks_->resolvers(o.networks, other_mode);
}

}  // namespace sockerless::engine
