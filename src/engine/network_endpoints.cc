// A container's side of its networks: addresses, the network namespace with one veth per
// network, published ports, and what inspect shows of them.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "common/digest.h"
#include "common/errors.h"
#include "common/ids.h"
#include "common/time.h"
#include "engine/networks.h"
#include "engine/networks_state.h"
#include "network/netlink.h"
#include "network/netns.h"

namespace sockerless::engine {

using detail::Endpoint;
using detail::Net;
using nlohmann::json;
namespace net = sockerless::network;
namespace fs = std::filesystem;

namespace {

std::string hashed(const std::string& text, std::size_t n) {
  return sha256_digest(text).substr(7, n);
}

std::string host_veth(const std::string& container_id, const std::string& network_id) {
  return "veth" + hashed(container_id + network_id, 7);
}

// Wires `ip` into the namespace at ns_path as the lowest free ethN, the host end on the
// bridge. The first interface gets the default route.
void plug(const Net& n, const std::string& container_id, net::Ipv4 ip,
          const std::array<std::uint8_t, 6>& mac, const std::string& ns_path) {
  net::Netlink nl;
  std::string host = host_veth(container_id, n.rec.id);
  // A previous run's veth may still be going away with its namespace (see detach).
  if (nl.link_exists(host)) {
    try {
      nl.delete_link(host);
    } catch (const std::exception&) {
      if (nl.link_exists(host)) throw;  // not gone by itself meanwhile
    }
  }
  UniqueFd ns = net::open_netns(ns_path);
  auto inside = net::Netlink::in_netns(ns.get());
  int index = 0;
  while (inside.link_exists("eth" + std::to_string(index)))
    ++index;
  std::string ifname = "eth" + std::to_string(index);
  // The container's end is born inside, under its final name.
  nl.create_veth(host, ifname, 0, ns.get());
  try {
    inside.set_mac(ifname, mac);
    inside.add_address(ifname, net::to_in_addr(ip), n.addrs->subnet().prefix);
    inside.set_up(ifname);
    if (index == 0) inside.add_default_route(net::to_in_addr(n.addrs->gateway()), ifname);
    nl.set_master(host, n.rec.bridge);
    nl.set_up(host);
  } catch (...) {
    if (nl.link_exists(host)) nl.delete_link(host);
    throw;
  }
}

void unplug(const Net& n, const std::string& container_id) {
  try {
    net::Netlink nl;
    std::string host = host_veth(container_id, n.rec.id);
    if (nl.link_exists(host)) nl.delete_link(host);  // its peer goes with it
  } catch (const std::exception& e) {
    spdlog::warn("container {}: removing its interface on {}: {}", container_id, n.rec.name,
                 e.what());
  }
}

void clear_addresses(json& e) {
  e["EndpointID"] = "";
  e["Gateway"] = "";
  e["IPAddress"] = "";
  e["IPPrefixLen"] = 0;
  e["MacAddress"] = "";
}

std::vector<std::string> strings(const json& j) {
  std::vector<std::string> out;
  if (j.is_array())
    for (const auto& v : j)
      if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}

// IPAMConfig's address of one family ("" when none was asked for or it is not a string).
std::string requested(const json& e, const char* key) {
  if (!e.is_object() || !e.contains("IPAMConfig") || !e["IPAMConfig"].is_object()) return "";
  const json& v = e["IPAMConfig"].value(key, json(nullptr));
  return v.is_string() ? v.get<std::string>() : "";
}

// dockerd's checks of the addresses an endpoint asks for against its network, at start and
// at connect: user-defined networks only, and only those with a configured subnet of the
// address's family (sockerless networks have no IPv6 subnet: see Networks::create).
void check_requested_addresses(const Net& n, const json& e) {
  std::string v4 = requested(e, "IPv4Address"), v6 = requested(e, "IPv6Address");
  if (v4.empty() && v6.empty()) return;
  if (!n.user_defined())
    throw InvalidArgument("user specified IP address is supported on user defined networks only");
  if ((!v4.empty() && !n.rec.ipam_given) || !v6.empty())
    throw InvalidArgument(
        "user specified IP address is supported only when connecting to networks with user "
        "configured subnets");
}

}  // namespace

// Takes an address on `n` for the container and wires it (with plumbing); fills `e`.
static void join(Net& n, bool plumbing, const std::string& container_id, const std::string& name,
                 const std::string& hostname, json& e, const std::string& ns_path) {
  auto links = detail::endpoint_links(e);  // before anything is taken: it may throw
  check_requested_addresses(n, e);
  std::string want = requested(e, "IPv4Address");
  std::optional<std::array<std::uint8_t, 6>> mac;
  if (std::string m = e.value("DesiredMacAddress", ""); !m.empty()) {
    mac = net::parse_mac(m);
    if (!mac) throw Internal("address " + m + ": invalid MAC address");  // dockerd's words
  }
  net::Ipv4 ip;
  if (!want.empty()) {
    auto parsed = net::parse_ipv4(want);
    // dockerd 20.10's words (with its stray parenthesis) for one a connect recorded.
    if (!parsed) throw Internal("Invalid IPv4 address: " + want + ")");
    n.addrs->allocate_static(*parsed);
    ip = *parsed;
  } else {
    try {
      ip = n.addrs->allocate();
    } catch (const Error& err) {
      throw Error(err.kind(), std::string(err.what()) + ": " + n.rec.name + " (" +
                                  n.rec.id.substr(0, 12) + ")");
    }
  }
  try {
    if (!mac) mac = net::mac_from_ipv4(ip);
    if (plumbing) plug(n, container_id, ip, *mac, ns_path);
  } catch (...) {
    n.addrs->release(ip);
    throw;
  }
  Endpoint ep;
  ep.container_id = container_id;
  ep.container_name = name;
  ep.hostname = hostname;
  ep.endpoint_id = generate_id();
  ep.ip = ip;
  ep.mac = *mac;
  ep.aliases = strings(e.value("Aliases", json(nullptr)));
  ep.links = std::move(links);
  if (n.user_defined() && std::find(ep.aliases.begin(), ep.aliases.end(),
                                    container_id.substr(0, 12)) == ep.aliases.end()) {
    ep.aliases.push_back(container_id.substr(0, 12));
    json aliases = e.value("Aliases", json(nullptr));
    if (!aliases.is_array()) aliases = json::array();
    aliases.push_back(container_id.substr(0, 12));
    e["Aliases"] = aliases;
  }
  e["NetworkID"] = n.rec.id;
  e["EndpointID"] = ep.endpoint_id;
  e["Gateway"] = net::format_ipv4(n.addrs->gateway());
  e["IPAddress"] = net::format_ipv4(ip);
  e["IPPrefixLen"] = n.addrs->subnet().prefix;
  e["MacAddress"] = net::format_mac(ep.mac);
  n.endpoints[container_id] = ep;
}

static void leave(Net& n, bool plumbing, const std::string& container_id) {
  auto it = n.endpoints.find(container_id);
  if (it == n.endpoints.end()) return;
  if (plumbing) unplug(n, container_id);
  n.addrs->release(it->second.ip);
  n.endpoints.erase(it);
}

NetworkAttachment Networks::attach(const std::string& container_id, const std::string& name,
                                   const std::string& hostname, json& endpoints,
                                   const json& host_config, const json& exposed, json& ports) {
  NetworkAttachment out;
  ports = json::object();
  if (!endpoints.is_object() || endpoints.empty()) return out;
  std::string mode = host_config.value("NetworkMode", "default");
  std::string primary = mode == "default" ? "bridge" : mode;
  std::lock_guard lock(s_->mu);
  std::vector<std::string> order;
  if (Net* p = s_->find(primary); p && endpoints.contains(p->rec.name))
    order.push_back(p->rec.name);
  for (const auto& [k, v] : endpoints.items())
    if (std::find(order.begin(), order.end(), k) == order.end()) order.push_back(k);
  for (const auto& k : order) {
    Net* n = s_->find(k);
    if (!n) throw NotFound("network " + k + " not found");
    if (n->rec.driver != "bridge") return out;    // host, none: nothing to wire
    check_requested_addresses(*n, endpoints[k]);  // with or without plumbing
  }
  if (!plumbing_) return out;  // records only: no addresses to give

  std::string ns_path = data_root_ + "/netns/" + container_id;
  fs::create_directories(data_root_ + "/netns");
  if (!fs::exists(ns_path)) net::create_netns(ns_path);
  std::vector<Net*> joined;
  try {
    for (const auto& k : order) {
      Net* n = s_->find(k);
      join(*n, plumbing_, container_id, name, hostname, endpoints[k], ns_path);
      joined.push_back(n);
    }
    Net* first = joined.front();
    out.netns_path = ns_path;
    out.ip_address = endpoints[first->rec.name].value("IPAddress", "");
    if (first->user_defined() && first->dns)
      out.dns.push_back(net::format_ipv4(first->addrs->gateway()));
    publish_ports(container_id, name, endpoints[first->rec.name], host_config, exposed, ports);
  } catch (...) {
    s_->proxies.erase(container_id);
    for (Net* n : joined) {
      leave(*n, plumbing_, container_id);
      clear_addresses(endpoints[n->rec.name]);
    }
    net::remove_netns(ns_path);
    throw;
  }
  return out;
}

void Networks::discard_namespace(const std::string& container_id) {
  if (!plumbing_) return;
  // Without the namespace file there is nothing to discard (start-up stays cheap for the
  // many containers that never ran).
  std::string ns_path = data_root_ + "/netns/" + container_id;
  if (!fs::exists(ns_path)) return;
  // Its veths go with it: each is created with its container end already inside (see
  // plug), so none is ever on the host alone.
  net::remove_netns(ns_path);
}

void Networks::discard_namespaces_except(const std::set<std::string>& container_ids) {
  std::error_code ec;
  std::vector<std::string> gone;
  for (const auto& e : fs::directory_iterator(data_root_ + "/netns", ec))
    if (!container_ids.count(e.path().filename().string()))
      gone.push_back(e.path().filename().string());
  for (const auto& id : gone)
    discard_namespace(id);
}

std::vector<std::string> Networks::resolvers(const json& endpoints,
                                             const std::string& network_mode) const {
  std::vector<std::string> out;
  if (!endpoints.is_object() || endpoints.empty()) return out;
  std::lock_guard lock(s_->mu);
  Net* first = s_->find(network_mode == "default" ? "bridge" : network_mode);
  if (!first || !endpoints.contains(first->rec.name)) first = s_->find(endpoints.begin().key());
  if (first && first->user_defined() && first->dns && first->addrs)
    out.push_back(net::format_ipv4(first->addrs->gateway()));
  return out;
}

void Networks::publish_ports(const std::string& container_id, const std::string& name,
                             const json& endpoint, const json& host_config, const json& exposed,
                             json& ports) {
  // Exposed ports are listed (null when not published), as dockerd's inspect does.
  if (exposed.is_object())
    for (const auto& [port, _] : exposed.items())
      ports[port] = nullptr;
  json bindings = host_config.value("PortBindings", json::object());
  if (!bindings.is_object()) bindings = json::object();
  if (host_config.value("PublishAllPorts", false) && exposed.is_object())
    for (const auto& [port, _] : exposed.items())
      if (!bindings.contains(port)) bindings[port] = json::array({json::object()});
  auto target = net::parse_ipv4(endpoint.value("IPAddress", ""));
  if (!target) return;
  auto& proxies = s_->proxies[container_id];
  for (const auto& [port, list] : bindings.items()) {
    auto slash = port.find('/');
    std::string proto = slash == std::string::npos ? "tcp" : port.substr(slash + 1);
    int container_port = std::atoi(port.substr(0, slash).c_str());
    if (container_port <= 0 || container_port > 65535 || (proto != "tcp" && proto != "udp"))
      throw InvalidArgument("invalid port specification: \"" + port + "\"");
    std::string key = std::to_string(container_port) + "/" + proto;
    json published = json::array();
    for (const auto& b : list.is_array() ? list : json::array({json::object()})) {
      std::string host_ip = b.is_object() ? b.value("HostIp", "") : "";
      std::string host_port = b.is_object() ? b.value("HostPort", "") : "";
      net::PortMapping m;
      m.protocol = proto == "udp" ? net::Protocol::Udp : net::Protocol::Tcp;
      auto hip = net::parse_ipv4(host_ip.empty() ? "0.0.0.0" : host_ip);
      if (!hip) throw InvalidArgument("invalid host IP for port " + key + ": " + host_ip);
      m.host_ip = net::to_in_addr(*hip);
      m.host_port = static_cast<std::uint16_t>(std::atoi(host_port.c_str()));
      m.target_ip = net::to_in_addr(*target);
      m.target_port = static_cast<std::uint16_t>(container_port);
      try {
        proxies.push_back(std::make_unique<net::PortProxy>(*s_->loop, m));
      } catch (const net::PortBindError& e) {
        throw Internal("driver failed programming external connectivity on endpoint " + name +
                       " (" + endpoint.value("EndpointID", "") + "): " + e.what());
      }
      published.push_back(json{{"HostIp", net::format_ipv4(*hip)},
                               {"HostPort", std::to_string(proxies.back()->host_port())}});
    }
    ports[key] = published;
  }
}

void Networks::detach(const std::string& container_id, json& endpoints, json& ports) {
  std::lock_guard lock(s_->mu);
  s_->proxies.erase(container_id);
  // The veths are not deleted one by one (each deletion waits for an RCU grace period,
  // 10-20 ms that a `docker wait` would see): they go with the namespace, which the
  // kernel tears down in the background once its last reference, the file below, is gone.
  for (auto& [id, n] : s_->nets)
    if (n.endpoints.count(container_id)) leave(n, false, container_id);
  if (plumbing_) {
    std::string ns_path = data_root_ + "/netns/" + container_id;
    try {
      net::remove_netns(ns_path);
    } catch (const std::exception& e) {
      spdlog::warn("container {}: removing its network namespace: {}", container_id, e.what());
    }
  }
  if (endpoints.is_object())
    for (auto& [k, e] : endpoints.items())
      clear_addresses(e);
  ports = json::object();
}

void Networks::connect(const std::string& container_id, const std::string& name,
                       const std::string& hostname, const std::string& network, bool running,
                       const json& endpoint_config, json& endpoints) {
  std::lock_guard lock(s_->mu);
  Net* n = s_->find(network);
  if (!n) throw NotFound("network " + network + " not found");
  if (n->rec.driver != "bridge")
    throw Forbidden(
        "container cannot be disconnected from host network or connected to host network");
  if (!endpoints.is_object()) endpoints = json::object();
  for (const auto& [k, e] : endpoints.items()) {
    Net* other = s_->find(k);
    if (other && other->rec.driver != "bridge")
      throw Forbidden(
          "container sharing network namespace with another container or host cannot be connected "
          "to any other network");
  }
  json e = detail::endpoint_settings(endpoint_config);
  e["NetworkID"] = n->rec.id;
  check_requested_addresses(*n, e);  // before the duplicate check, as dockerd
  if (endpoints.contains(n->rec.name)) {
    // dockerd keeps a stopped container's existing endpoint as it is and says nothing.
    if (!running) return;
    throw Forbidden("endpoint with name " + name + " already exists in network " + n->rec.name);
  }
  // As dockerd: on a user-defined network the short ID is an alias from the connect on.
  if (n->user_defined()) {
    json aliases = e.value("Aliases", json(nullptr));
    if (!aliases.is_array()) aliases = json::array();
    if (std::find(aliases.begin(), aliases.end(), json(container_id.substr(0, 12))) ==
        aliases.end())
      aliases.push_back(container_id.substr(0, 12));
    e["Aliases"] = aliases;
  }
  if (running && plumbing_) {
    std::string ns_path = data_root_ + "/netns/" + container_id;
    if (!fs::exists(ns_path))
      throw Conflict("container " + container_id + " has no network namespace to connect");
    join(*n, plumbing_, container_id, name, hostname, e, ns_path);
  }
  endpoints[n->rec.name] = e;
  detail::publish(events_, n->rec, "connect", {{"container", container_id}});
}

void Networks::disconnect(const std::string& container_id, const std::string& network, bool running,
                          json& endpoints) {
  std::lock_guard lock(s_->mu);
  Net* n = s_->find(network);
  if (!n) throw NotFound("network " + network + " not found");
  if (!endpoints.is_object() || !endpoints.contains(n->rec.name))
    throw Forbidden("container " + container_id + " is not connected to network " + network);
  if (running) leave(*n, plumbing_, container_id);
  endpoints.erase(n->rec.name);
  detail::publish(events_, n->rec, "disconnect", {{"container", container_id}});
}

void Networks::restore(const std::string& container_id, const std::string& name,
                       const std::string& hostname, const json& endpoints, const json& ports) {
  std::lock_guard lock(s_->mu);
  if (!endpoints.is_object()) return;
  for (const auto& [k, e] : endpoints.items()) {
    Net* n = s_->find(k);
    auto ip = net::parse_ipv4(e.value("IPAddress", ""));
    if (!n || !ip || !n->addrs) continue;
    try {
      if (!n->addrs->is_allocated(*ip)) n->addrs->allocate_static(*ip);
    } catch (const std::exception& err) {
      spdlog::warn("container {}: address {} on {}: {}", container_id, e.value("IPAddress", ""), k,
                   err.what());
      continue;
    }
    Endpoint ep;
    ep.container_id = container_id;
    ep.container_name = name;
    ep.hostname = hostname;
    ep.endpoint_id = e.value("EndpointID", "");
    ep.ip = *ip;
    ep.mac = net::parse_mac(e.value("MacAddress", "")).value_or(net::mac_from_ipv4(*ip));
    ep.aliases = strings(e.value("Aliases", json(nullptr)));
    ep.links = detail::endpoint_links(e);
    n->endpoints[container_id] = ep;
  }
  if (!plumbing_ || !ports.is_object()) return;
  auto& proxies = s_->proxies[container_id];
  for (const auto& [key, list] : ports.items()) {
    if (!list.is_array()) continue;
    auto slash = key.find('/');
    for (const auto& [k, e] : endpoints.items()) {
      auto target = net::parse_ipv4(e.value("IPAddress", ""));
      if (!target) continue;
      for (const auto& b : list) {
        net::PortMapping m;
        m.protocol = key.substr(slash + 1) == "udp" ? net::Protocol::Udp : net::Protocol::Tcp;
        m.host_ip = net::to_in_addr(net::parse_ipv4(b.value("HostIp", "0.0.0.0")).value_or(0));
        m.host_port = static_cast<std::uint16_t>(std::atoi(b.value("HostPort", "0").c_str()));
        m.target_ip = net::to_in_addr(*target);
        m.target_port = static_cast<std::uint16_t>(std::atoi(key.substr(0, slash).c_str()));
        try {
          proxies.push_back(std::make_unique<net::PortProxy>(*s_->loop, m));
        } catch (const std::exception& err) {
          spdlog::warn("container {}: republishing {}: {}", container_id, key, err.what());
        }
      }
      break;
    }
  }
}

json Networks::containers_on(const std::string& network_id) const {
  std::lock_guard lock(s_->mu);
  json out = json::object();
  auto it = s_->nets.find(network_id);
  if (it == s_->nets.end()) return out;
  const Net& n = it->second;
  for (const auto& [cid, e] : n.endpoints)
    out[cid] = {
        {"Name", e.container_name},
        {"EndpointID", e.endpoint_id},
        {"MacAddress", net::format_mac(e.mac)},
        {"IPv4Address", net::format_ipv4(e.ip) + "/" + std::to_string(n.addrs->subnet().prefix)},
        {"IPv6Address", ""}};
  return out;
}

json network_json(const NetworkRecord& n, const json& containers) {
  json config = json::array();
  if (!n.subnet.empty()) {
    json c = {{"Subnet", n.subnet}, {"Gateway", n.gateway}};
    if (!n.ip_range.empty()) c["IPRange"] = n.ip_range;
    config.push_back(c);
  }
  return {{"Name", n.name},
          {"Id", n.id},
          {"Created", format_rfc3339_nano(from_unix_nanos(n.created))},
          {"Scope", n.scope},
          {"Driver", n.driver},
          {"EnableIPv6", n.enable_ipv6},
          {"IPAM", {{"Driver", "default"}, {"Options", json::object()}, {"Config", config}}},
          {"Internal", n.internal},
          {"Attachable", n.attachable},
          {"Ingress", false},
          {"ConfigFrom", {{"Network", ""}}},
          {"ConfigOnly", false},
          {"Containers", containers},
          {"Options", n.options},
          {"Labels", n.labels}};
}

}  // namespace sockerless::engine
