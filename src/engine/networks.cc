#include "engine/networks.h"

#include "engine/networks_state.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "common/digest.h"
#include "common/errors.h"
#include "common/ids.h"
#include "common/time.h"
#include "common/unique_fd.h"
#include "engine/links.h"
#include "network/dns.h"
#include "network/ipam.h"
#include "network/nat.h"
#include "network/netlink.h"
#include "network/netns.h"
#include "network/proxy.h"
#include "store/database.h"

namespace sockerless::engine {

using detail::Net;
using nlohmann::json;
namespace net = sockerless::network;
namespace fs = std::filesystem;

namespace {

json to_doc(const NetworkRecord& r) {
  return {{"id", r.id},           {"name", r.name},         {"driver", r.driver},
          {"created", r.created}, {"internal", r.internal}, {"attachable", r.attachable},
          {"labels", r.labels},   {"options", r.options},   {"subnet", r.subnet},
          {"gateway", r.gateway}, {"ip_range", r.ip_range}, {"ipam_given", r.ipam_given},
          {"bridge", r.bridge}};
}

NetworkRecord from_doc(const json& d) {
  NetworkRecord r;
  r.id = d.at("id");
  r.name = d.at("name");
  r.driver = d.value("driver", "bridge");
  r.created = d.value("created", std::int64_t{0});
  r.internal = d.value("internal", false);
  r.attachable = d.value("attachable", false);
  r.labels = d.value("labels", json::object());
  r.options = d.value("options", json::object());
  r.subnet = d.value("subnet", "");
  r.gateway = d.value("gateway", "");
  r.ip_range = d.value("ip_range", "");
  r.ipam_given = d.value("ipam_given", false);
  r.bridge = d.value("bridge", "");
  return r;
}

std::string short_hash(const std::string& text, std::size_t n) {
  return sha256_digest(text).substr(7, n);
}

// A create's endpoint configuration: the addresses asked for must be addresses of their
// family (dockerd's 400s); whether the network takes them is checked at start.
void check_address_syntax(const json& endpoint) {
  if (!endpoint.is_object() || !endpoint.contains("IPAMConfig") ||
      !endpoint["IPAMConfig"].is_object())
    return;
  const json& ipam = endpoint["IPAMConfig"];
  auto text = [&](const char* key) {
    const json& v = ipam.value(key, json(nullptr));
    return v.is_string() ? v.get<std::string>() : std::string();
  };
  std::string v4 = text("IPv4Address"), v6 = text("IPv6Address");
  if (!v4.empty() && !net::parse_ipv4(v4)) throw InvalidArgument("invalid IPv4 address: " + v4);
  in6_addr a6{};
  if (!v6.empty() && ::inet_pton(AF_INET6, v6.c_str(), &a6) != 1)
    throw InvalidArgument("invalid IPv6 address: " + v6);
}

}  // namespace

namespace detail {

std::vector<net::Cidr> host_subnets() {
  std::vector<net::Cidr> out;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return out;
  for (ifaddrs* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !i->ifa_netmask) continue;
    auto addr = net::from_in_addr(reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr);
    auto mask = ntohl(reinterpret_cast<sockaddr_in*>(i->ifa_netmask)->sin_addr.s_addr);
    int prefix = __builtin_popcount(mask);
    if ((addr >> 24) == 127) continue;
    out.push_back(net::Cidr{addr, prefix}.canonical());
  }
  ::freeifaddrs(list);
  return out;
}

std::optional<std::vector<in_addr>> resolve(const std::map<std::string, Net>& nets,
                                            const in_addr& client, const std::string& name) {
  net::Ipv4 from = net::from_in_addr(client);
  // The asking container (by its address on any network), then every user-defined
  // network it is on: it reaches names on all of them through one nameserver.
  std::string asking;
  for (const auto& [id, n] : nets)
    for (const auto& [cid, e] : n.endpoints)
      if (e.ip == from) asking = cid;
  std::vector<const Net*> shared;
  for (const auto& [id, n] : nets)
    if (n.user_defined() && !asking.empty() && n.endpoints.count(asking)) shared.push_back(&n);
  std::vector<in_addr> out;
  for (const Net* n : shared) {
    const auto& links = n->endpoints.at(asking).links;
    auto link = links.find(name);
    const std::string& want = link == links.end() ? name : link->second;
    for (const auto& [cid, e] : n->endpoints) {
      bool hit = e.container_name == want || e.hostname == want ||
                 (want.size() >= 12 && cid.rfind(want, 0) == 0) ||
                 std::find(e.aliases.begin(), e.aliases.end(), want) != e.aliases.end();
      if (hit && e.ip) out.push_back(net::to_in_addr(e.ip));
    }
  }
  if (out.empty()) return std::nullopt;
  return out;
}

std::map<std::string, std::string> endpoint_links(const json& e) {
  std::map<std::string, std::string> out;
  if (e.contains("Links") && e["Links"].is_array())
    for (const auto& l : e["Links"])
      if (l.is_string()) {
        auto [name, alias] = parse_link(l.get<std::string>());
        out[alias] = name;
      }
  return out;
}

void bring_up(Net& n, bool nat, bool ip_forward, std::vector<std::string>& warnings,
              net::DnsResolver resolver) {
  net::Netlink nl;
  net::Cidr subnet = net::parse_cidr(n.rec.subnet);
  if (!nl.link_exists(n.rec.bridge)) {
    nl.create_bridge(n.rec.bridge);
    nl.add_address(n.rec.bridge, net::to_in_addr(n.addrs->gateway()), subnet.prefix);
  }
  nl.set_up(n.rec.bridge);
  // As dockerd: forwarding follows --ip-forward whatever --iptables says.
  if (ip_forward && !n.rec.internal) net::enable_ip_forward();
  if (nat && !n.rec.internal) {
    net::add_nat_rules(net::format_cidr(subnet.canonical()), n.rec.bridge);
  } else if (nat) {
    net::add_internal_rules(n.rec.bridge);
  }
  if (n.user_defined() && !n.dns) {
    net::DnsServerConfig cfg;
    cfg.address = net::to_in_addr(n.addrs->gateway());
    cfg.port = 53;
    cfg.resolver = std::move(resolver);
    try {
      n.dns = std::make_unique<net::DnsServer>(cfg);
    } catch (const std::exception& e) {
      warnings.push_back("WARNING: no DNS on network " + n.rec.name + ": " + e.what());
    }
  }
}

void tear_down(Net& n, bool nat) {
  if (n.rec.bridge.empty()) return;
  try {
    if (nat && !n.rec.internal)
      net::remove_nat_rules(net::format_cidr(net::parse_cidr(n.rec.subnet).canonical()),
                            n.rec.bridge);
    else if (nat)
      net::remove_internal_rules(n.rec.bridge);
  } catch (const std::exception& e) {
    spdlog::warn("network {}: removing iptables rules: {}", n.rec.name, e.what());
  }
  net::Netlink nl;
  if (nl.link_exists(n.rec.bridge)) nl.delete_link(n.rec.bridge);
}

void isolate(std::map<std::string, Net>& nets, const Net& n, bool add) {
  for (const auto& [id, other] : nets) {
    if (&other == &n || other.rec.driver != "bridge" || other.rec.bridge.empty() ||
        other.rec.bridge == n.rec.bridge)
      continue;
    try {
      if (add)
        net::add_isolation_rules(n.rec.bridge, other.rec.bridge);
      else
        net::remove_isolation_rules(n.rec.bridge, other.rec.bridge);
    } catch (const std::exception& e) {
      spdlog::warn("network {}: isolation from {}: {}", n.rec.name, other.rec.name, e.what());
    }
  }
}

void publish(EventBus& events, const NetworkRecord& r, const std::string& action,
             std::map<std::string, std::string> extra) {
  Event e;
  e.type = "network";
  e.action = action;
  e.actor_id = r.id;
  e.attributes = std::move(extra);
  e.attributes["name"] = r.name;
  e.attributes["type"] = r.driver;
  events.publish(std::move(e));
}

json endpoint_settings(const json& given) {
  json e = {{"IPAMConfig", nullptr},   {"Links", nullptr},         {"Aliases", nullptr},
            {"NetworkID", ""},         {"EndpointID", ""},         {"Gateway", ""},
            {"IPAddress", ""},         {"IPPrefixLen", 0},         {"IPv6Gateway", ""},
            {"GlobalIPv6Address", ""}, {"GlobalIPv6PrefixLen", 0}, {"MacAddress", ""},
            {"DriverOpts", nullptr}};
  if (given.is_object())
    for (const char* k : {"IPAMConfig", "Links", "Aliases", "DriverOpts"})
      if (given.contains(k) && !given[k].is_null()) e[k] = given[k];
  if (given.is_object() && given.value("MacAddress", json("")).is_string() &&
      !given.value("MacAddress", "").empty())
    e["DesiredMacAddress"] = given["MacAddress"];
  return e;
}

}  // namespace detail

Networks::Networks(store::Database& db, EventBus& events, std::string data_root, bool plumbing,
                   NetworkHostOptions host)
    : s_(std::make_unique<State>()),
      db_(db),
      events_(events),
      data_root_(std::move(data_root)),
      plumbing_(plumbing),
      host_(host) {}

Networks::~Networks() {
  // DNS servers stop outside the lock: their workers may be waiting for it.
  std::vector<std::unique_ptr<net::DnsServer>> dns;
  {
    std::lock_guard lock(s_->mu);
    s_->proxies.clear();
    for (auto& [id, n] : s_->nets)
      if (n.dns) dns.push_back(std::move(n.dns));
  }
}

net::DnsResolver Networks::State::resolver() {
  return [this](const in_addr& client, const std::string& name) {
    std::lock_guard lock(mu);
    return detail::resolve(nets, client, name);
  };
}

std::vector<std::string> Networks::warnings() const {
  std::lock_guard lock(s_->mu);
  return s_->warnings;
}

namespace {

void persist(store::Database& db, const NetworkRecord& r) {
  db.transaction([&] {
    auto s = db.prepare("INSERT OR REPLACE INTO networks (id, name, doc) VALUES (?, ?, ?)");
    s.bind(1, r.id).bind(2, r.name).bind(3, to_doc(r).dump());
    s.run();
  });
}

void unpersist(store::Database& db, const std::string& id) {
  db.transaction([&] {
    auto s = db.prepare("DELETE FROM networks WHERE id = ?");
    s.bind(1, id);
    s.run();
  });
}

}  // namespace

void Networks::init() {
  std::lock_guard lock(s_->mu);
  auto lk = db_.lock();
  auto rows = db_.prepare("SELECT doc FROM networks");
  while (rows.step()) {
    NetworkRecord r = from_doc(json::parse(rows.text(0)));
    Net n;
    n.rec = r;
    s_->nets[r.id] = std::move(n);
  }
  lk.unlock();
  auto ensure = [&](const std::string& name, const std::string& driver) {
    for (auto& [id, n] : s_->nets)
      if (n.rec.name == name) return;
    NetworkRecord r;
    r.id = generate_id();
    r.name = name;
    r.driver = driver;
    r.created = unix_nanos(Clock::now());
    if (name == "bridge") {
      net::Cidr subnet = net::allocate_subnet(s_->subnets_in_use());
      r.subnet = net::format_cidr(subnet);
      r.gateway = net::format_ipv4(subnet.network() + 1);
      r.bridge = "slbr-" + short_hash(data_root_, 8);
      r.options = {{"com.docker.network.bridge.default_bridge", "true"},
                   {"com.docker.network.bridge.name", r.bridge}};
    }
    persist(db_, r);
    Net n;
    n.rec = r;
    s_->nets[r.id] = std::move(n);
  };
  ensure("bridge", "bridge");
  ensure("host", "host");
  ensure("none", "null");
  std::string why;
  s_->nat = plumbing_ && host_.iptables && net::iptables_usable(&why);
  s_->ip_forward = host_.ip_forward;
  if (plumbing_ && host_.iptables && !s_->nat)
    s_->warnings.push_back("WARNING: no outbound NAT for bridge networks: " + why);
  if (!plumbing_)
    s_->warnings.push_back(
        "WARNING: bridge networks are records only (needs root and the memory backend): "
        "containers get loopback only and no addresses");
  if (plumbing_) s_->loop = std::make_unique<net::ProxyEventLoop>();
  for (auto& [id, n] : s_->nets) {
    if (n.rec.driver != "bridge") continue;
    n.addrs.emplace(
        net::parse_cidr(n.rec.subnet),
        n.rec.gateway.empty() ? std::nullopt : net::parse_ipv4(n.rec.gateway),
        n.rec.ip_range.empty() ? std::nullopt : std::optional(net::parse_cidr(n.rec.ip_range)));
    if (!plumbing_) continue;
    try {
      detail::bring_up(n, s_->nat, s_->ip_forward, s_->warnings, s_->resolver());
    } catch (const std::exception& e) {
      s_->warnings.push_back("WARNING: network " + n.rec.name + ": " + e.what());
    }
  }
  if (plumbing_ && s_->nat)
    for (auto& [id, n] : s_->nets)
      if (n.rec.driver == "bridge") detail::isolate(s_->nets, n, true);
  for (const auto& w : s_->warnings)  // said at start-up, and in /info
    spdlog::warn("{}", w);
}

void Networks::shutdown() {
  std::vector<std::unique_ptr<net::DnsServer>> dns;  // stopped after the lock is released
  std::lock_guard lock(s_->mu);
  s_->proxies.clear();
  for (auto& [id, n] : s_->nets) {
    if (n.rec.driver != "bridge") continue;
    if (n.dns) dns.push_back(std::move(n.dns));
    // A bridge with containers still on it stays (they outlive the daemon).
    if (plumbing_ && n.endpoints.empty()) {
      try {
        if (s_->nat) detail::isolate(s_->nets, n, false);
        detail::tear_down(n, s_->nat);
      } catch (const std::exception& e) {
        spdlog::warn("network {}: {}", n.rec.name, e.what());
      }
    }
  }
}

std::string Networks::create(const json& body) {
  if (!body.is_object()) throw InvalidArgument("invalid JSON: the body must be an object");
  std::string name = body.value("Name", "");
  if (name.empty()) throw InvalidArgument("invalid name: name is required");
  std::string driver = body.value("Driver", "");
  if (driver.empty()) driver = "bridge";
  if (driver != "bridge") {
    if (driver == "host" || driver == "null")
      throw Forbidden("only one instance of \"" + driver + "\" network is allowed");
    throw NotFound("plugin \"" + driver + "\" not found");
  }
  // Bridge networks here are IPv4 only (addresses, routes, NAT, the embedded DNS): a
  // network that asks for IPv6 is refused rather than made without it.
  if (body.value("EnableIPv6", json(false)) == json(true))
    throw InvalidArgument(
        "IPv6 is not supported: sockerless bridge networks are IPv4 only (EnableIPv6)");
  std::lock_guard lock(s_->mu);
  for (const auto& [id, n] : s_->nets)
    if (n.rec.name == name) throw Conflict("network with name " + name + " already exists");
  NetworkRecord r;
  r.id = generate_id();
  r.name = name;
  r.driver = driver;
  r.created = unix_nanos(Clock::now());
  r.internal = body.value("Internal", false);
  r.attachable = body.value("Attachable", false);
  if (body.contains("Labels") && body["Labels"].is_object()) r.labels = body["Labels"];
  if (body.contains("Options") && body["Options"].is_object()) r.options = body["Options"];
  r.bridge = r.options.value("com.docker.network.bridge.name", "br-" + r.id.substr(0, 12));
  json ipam_config = json::array();
  if (body.contains("IPAM") && body["IPAM"].is_object() && body["IPAM"].contains("Config") &&
      body["IPAM"]["Config"].is_array())
    ipam_config = body["IPAM"]["Config"];
  std::optional<net::Cidr> subnet;
  std::optional<net::Ipv4> gateway;
  std::optional<net::Cidr> range;
  for (const auto& c : ipam_config) {
    std::string sn = c.value("Subnet", "");
    if (sn.find(':') != std::string::npos)
      throw InvalidArgument(
          "IPv6 is not supported: sockerless bridge networks are IPv4 only (subnet " + sn + ")");
    if (sn.empty()) continue;
    if (subnet) throw NotImplemented("more than one IPv4 subnet per network is not supported");
    subnet = net::parse_cidr(sn);
    std::string gw = c.value("Gateway", "");
    if (!gw.empty()) {
      gateway = net::parse_ipv4(gw);
      if (!gateway) throw InvalidArgument("invalid gateway address " + gw);
    }
    std::string ir = c.value("IPRange", "");
    if (!ir.empty()) range = net::parse_cidr(ir);
  }
  if (subnet) {
    net::check_subnet_free(*subnet, s_->subnets_in_use());
    r.ipam_given = true;
  } else {
    subnet = net::allocate_subnet(s_->subnets_in_use());
  }
  Net n;
  n.addrs.emplace(*subnet, gateway, range);  // validates gateway and range
  r.subnet = net::format_cidr(*subnet);
  r.gateway = net::format_ipv4(n.addrs->gateway());
  if (range) r.ip_range = net::format_cidr(*range);
  n.rec = r;
  // The record first: a crash after it leaves a network start-up brings up, never a bridge
  // nothing records. A bridge that cannot be made takes the record back out.
  persist(db_, r);
  if (plumbing_) {
    try {
      std::vector<std::string> warnings;
      detail::bring_up(n, s_->nat, s_->ip_forward, warnings, s_->resolver());
      for (const auto& w : warnings)
        spdlog::warn("{}", w);
    } catch (...) {
      try {
        detail::tear_down(n, s_->nat);
      } catch (const std::exception& e) {
        spdlog::warn("network {}: {}", r.name, e.what());
      }
      unpersist(db_, r.id);
      throw;
    }
  }
  Net& added = s_->nets[r.id] = std::move(n);
  if (plumbing_ && s_->nat) detail::isolate(s_->nets, added, true);
  detail::publish(events_, r, "create");
  return r.id;
}

std::optional<NetworkRecord> Networks::find(const std::string& ref) const {
  std::lock_guard lock(s_->mu);
  if (Net* n = s_->find(ref)) return n->rec;
  return std::nullopt;
}

NetworkRecord Networks::get(const std::string& ref) const {
  auto r = find(ref);
  if (!r) throw NotFound("network " + ref + " not found");
  return *r;
}

std::vector<NetworkRecord> Networks::list() const {
  std::lock_guard lock(s_->mu);
  std::vector<NetworkRecord> out;
  for (const auto& [id, n] : s_->nets)
    out.push_back(n.rec);
  std::sort(out.begin(), out.end(),
            [](const NetworkRecord& a, const NetworkRecord& b) { return a.name < b.name; });
  return out;
}

void Networks::remove(const std::string& ref, int endpoints) {
  std::unique_ptr<net::DnsServer> dns;  // declared first: stopped after the lock is released
  std::lock_guard lock(s_->mu);
  Net* n = s_->find(ref);
  if (!n) throw NotFound("network " + ref + " not found");
  if (n->rec.predefined())
    throw Forbidden(n->rec.name + " is a pre-defined network and cannot be removed");
  if (endpoints > 0 || !n->endpoints.empty())
    throw Forbidden("error while removing network: network " + n->rec.name + " id " + n->rec.id +
                    " has active endpoints");
  NetworkRecord r = n->rec;
  // The bridge first, the record last: a crash in between leaves a record whose bridge
  // start-up makes again, never a bridge nothing records.
  dns = std::move(n->dns);
  try {
    if (plumbing_ && s_->nat) detail::isolate(s_->nets, *n, false);
    if (plumbing_) detail::tear_down(*n, s_->nat);
  } catch (const std::exception& e) {
    spdlog::warn("network {}: {}", r.name, e.what());
  }
  unpersist(db_, r.id);
  s_->nets.erase(r.id);
  detail::publish(events_, r, "destroy");
}

std::vector<std::string> Networks::prune(const std::function<bool(const NetworkRecord&)>& keep,
                                         const std::function<int(const std::string&)>& endpoints) {
  std::vector<std::string> out;
  for (const auto& r : list()) {
    if (r.predefined() || keep(r) || endpoints(r.id) > 0) continue;
    try {
      remove(r.id, 0);
      out.push_back(r.name);
    } catch (const Error&) {
      // in use by now
    }
  }
  return out;
}

json Networks::initial_endpoints(const std::string& mode, const json& config) const {
  json out = json::object();
  std::lock_guard lock(s_->mu);
  const bool default_mode = mode.empty() || mode == "default";
  std::string primary = default_mode ? "bridge" : mode;
  if (primary.rfind("container:", 0) == 0) return out;
  const bool given_any = config.is_object() && !config.empty();
  Net* n = s_->find(primary);
  // The CLI keys the primary endpoint by the mode as given ("default" too), others by
  // the network's name or ID.
  auto names_primary = [&](const std::string& key) {
    return key == mode || key == primary || key == "default" ||
           (n && (key == n->rec.name || key == n->rec.id));
  };
  // The default mode with endpoints given only for other networks (testcontainers-go's
  // create): as dockerd, the container joins those alone, not the default bridge too.
  bool joins_primary = !default_mode || !given_any;
  if (given_any)
    for (const auto& [name, cfg] : config.items())
      joins_primary = joins_primary || names_primary(name);
  if (joins_primary) {
    if (!n) throw NotFound("network " + primary + " not found");
    json given = config.is_object() && config.contains(mode)      ? config[mode]
                 : config.is_object() && config.contains(primary) ? config[primary]
                                                                  : json(nullptr);
    if (given.is_null() && config.is_object() && config.contains(n->rec.name))
      given = config[n->rec.name];
    if (n->rec.name == "bridge" && given.is_object() && given.contains("Aliases") &&
        given["Aliases"].is_array() && !given["Aliases"].empty())
      throw InvalidArgument(
          "network-scoped alias is supported only for containers in user defined networks");
    json e = detail::endpoint_settings(given);
    e["NetworkID"] = n->rec.id;
    out[n->rec.name] = e;
  }
  if (!config.is_object()) return out;
  // Create checks only that the addresses asked for parse; whether the network takes them
  // is the start's (and connect's) question, as with dockerd.
  for (const auto& [name, cfg] : config.items())
    check_address_syntax(cfg);
  for (const auto& [name, cfg] : config.items()) {
    if (joins_primary && (name == primary || name == n->rec.name || name == mode)) continue;
    Net* other = s_->find(name);
    if (!other) throw NotFound("network " + name + " not found");
    json oe = detail::endpoint_settings(cfg);
    oe["NetworkID"] = other->rec.id;
    out[other->rec.name] = oe;
  }
  return out;
}

}  // namespace sockerless::engine
