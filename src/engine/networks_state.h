// Private to the networks implementation (networks.cc, network_endpoints.cc).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/networks.h"
#include "network/dns.h"
#include "network/ipam.h"
#include "network/proxy.h"

namespace sockerless::engine::detail {

namespace net = sockerless::network;

struct Endpoint {
  std::string container_id, container_name, hostname, endpoint_id;
  std::vector<std::string> aliases;
  // Links on a user-defined network (--link name:alias): for this container's own
  // queries, the alias stands for the container name.
  std::map<std::string, std::string> links;
  net::Ipv4 ip = 0;
  std::array<std::uint8_t, 6> mac{};
};

struct Net {
  NetworkRecord rec;
  std::optional<net::NetworkAddresses> addrs;
  std::map<std::string, Endpoint> endpoints;  // by container ID (those with an address)
  std::unique_ptr<net::DnsServer> dns;
  bool user_defined() const { return rec.driver == "bridge" && rec.name != "bridge"; }
};

// Addresses the host already uses: a new network's subnet must not overlap them.
std::vector<net::Cidr> host_subnets();

// Creates the bridge (address, up), NAT and the DNS server of `n`.
// `nat`: add the network's iptables rules; `ip_forward`: turn forwarding on for it.
void bring_up(Net& n, bool nat, bool ip_forward, std::vector<std::string>& warnings,
              net::DnsResolver resolver);
// Removes them again (best effort for NAT).
void tear_down(Net& n, bool nat);
// Drops forwarding between `n` and every other bridge network in `nets`, both ways, as
// dockerd's isolation chains do (`add`), or stops doing so.
void isolate(std::map<std::string, Net>& nets, const Net& n, bool add);
// A network event (create, destroy, connect, disconnect) with dockerd's attributes.
void publish(EventBus& events, const NetworkRecord& r, const std::string& action,
             std::map<std::string, std::string> extra = {});
// NetworkSettings.Networks[name] before any address: what the request configured. A MAC
// address asked for is kept as DesiredMacAddress (not shown: MacAddress is the one in use).
nlohmann::json endpoint_settings(const nlohmann::json& given);
// EndpointSettings.Links as the alias → name map of an Endpoint.
std::map<std::string, std::string> endpoint_links(const nlohmann::json& e);
// The DNS answer for `name` asked by `client`: containers sharing a network with it.
std::optional<std::vector<in_addr>> resolve(const std::map<std::string, Net>& nets,
                                            const in_addr& client, const std::string& name);

}  // namespace sockerless::engine::detail

namespace sockerless::engine {

namespace net = sockerless::network;

struct Networks::State {
  using Net = detail::Net;
  using Endpoint = detail::Endpoint;
  mutable std::mutex mu;
  std::map<std::string, Net> nets;  // by ID
  std::vector<std::string> warnings;
  bool nat = false;         // iptables rules for bridge networks
  bool ip_forward = false;  // net.ipv4.ip_forward turned on for them
  std::unique_ptr<net::ProxyEventLoop> loop;
  std::map<std::string, std::vector<std::unique_ptr<net::PortProxy>>> proxies;  // by container

  // For the DNS servers: looks names up under `mu`.
  net::DnsResolver resolver();

  Net* find(const std::string& ref) {
    if (auto it = nets.find(ref); it != nets.end()) return &it->second;
    for (auto& [id, n] : nets)
      if (n.rec.name == ref) return &n;
    Net* match = nullptr;
    for (auto& [id, n] : nets)
      if (!ref.empty() && id.rfind(ref, 0) == 0) {
        if (match) throw InvalidArgument("network " + ref + " is ambiguous");
        match = &n;
      }
    return match;
  }
  std::vector<net::Cidr> subnets_in_use(const std::string& except = "") const {
    std::vector<net::Cidr> out = detail::host_subnets();
    for (const auto& [id, n] : nets)
      if (id != except && !n.rec.subnet.empty()) out.push_back(net::parse_cidr(n.rec.subnet));
    return out;
  }
};

}  // namespace sockerless::engine
