// Legacy links between containers on the default bridge (docker run --link db:alias), with
// dockerd's rules: made at create, each link's name ("/web/db") another name of the
// linked container; at start the linking container gets the linked ones' variables and
// /etc/hosts records; docker rm --link drops one. On user-defined networks links are the
// endpoint's (aliases in the network's DNS, see networks), not these.
#include <algorithm>

#include "common/errors.h"
#include "engine/container_entry.h"
#include "engine/containers.h"
#include "engine/links.h"

namespace sockerless::engine {

using nlohmann::json;

namespace {

constexpr const char* kHostAndLinks =
    "conflicting options: host type networking can't be used with links. This would result "
    "in undefined behavior";

bool user_defined_mode(const std::string& mode) {
  return mode != "default" && mode != "bridge" && mode != "none" && mode != "host" &&
         mode.rfind("container:", 0) != 0;
}

std::string last_part(const std::string& name) {
  auto slash = name.rfind('/');
  return slash == std::string::npos ? name : name.substr(slash + 1);
}

// HostConfig.Links as dockerd's inspect shows them: "/db:/web/db", null for none.
json shown_links(const Container& c) {
  if (c.links.empty()) return nullptr;
  json out = json::array();
  for (const auto& l : c.links)
    out.push_back("/" + l.child_name + ":" + l.name);
  return out;
}

}  // namespace

void Containers::register_links(Container& c) {
  json& h = c.host_config;
  auto specs = string_array(h, "Links");
  if (specs.empty()) return;
  std::string mode = h.value("NetworkMode", "default");
  if (mode == "host") throw InvalidArgument(kHostAndLinks);
  if (user_defined_mode(mode)) {
    h["Links"] = nullptr;  // dockerd keeps none there: the endpoint's Links are the aliases
    return;
  }
  for (const auto& spec : specs) {
    auto [name, alias] = parse_link(spec);
    auto child = find(name);
    if (!child)
      throw InvalidArgument("could not get container for " + name + ": No such container: " + name);
    // A container in another's network namespace is reached through that one.
    for (int hops = 0; hops < 16; ++hops) {
      std::string m = child->c.host_config.value("NetworkMode", "default");
      if (m.rfind("container:", 0) != 0) break;
      std::string ref = m.substr(std::string("container:").size());
      auto next = find(ref);
      if (!next)
        throw InvalidArgument("Could not get container for " + ref + ": No such container: " + ref);
      child = next;
    }
    if (child->c.host_config.value("NetworkMode", "default") == "host")
      throw InvalidArgument(kHostAndLinks);
    std::string full = "/" + c.name + "/" + alias;
    // dockerd skips a link whose name is already taken (with a warning in its log).
    if (by_name_.count(full.substr(1))) continue;
    by_name_[full.substr(1)] = child->c.id;
    c.links.push_back({full, child->c.id, child->c.name});
  }
  h["Links"] = shown_links(c);
}

void Containers::apply_links(const std::string& id, ContainerLaunch& launch) const {
  std::lock_guard lock(mu_);
  auto entry = find(id);
  if (!entry) return;
  const Container& c = entry->c;
  // Only a container on the default bridge gets its links, as with dockerd.
  if (c.links.empty() || !c.networks.is_object() || !c.networks.contains("bridge")) return;
  auto child_of = [&](const Container::Link& l) -> const Container* {
    auto it = by_id_.find(l.child_id);
    return it == by_id_.end() ? nullptr : &it->second->c;
  };
  // dockerd's order: the network (every linked container on the default bridge) first,
  // then the environment (every one running).
  for (const auto& l : c.links)
    if (const Container* child = child_of(l); child && !child->networks.contains("bridge"))
      throw Internal("Cannot link to /" + child->name +
                     ", as it does not belong to the default network");
  std::vector<std::string> env;
  for (const auto& l : c.links) {
    const Container* child = child_of(l);
    if (!child || !child->running())
      throw Internal("Cannot link to a non running container: /" +
                     (child ? child->name : l.child_name) + " AS " + l.name);
    std::string ip = child->networks["bridge"].value("IPAddress", "");
    auto vars = link_environment(l.name, ip, child->config.value("Env", json(nullptr)),
                                 child->config.value("ExposedPorts", json(nullptr)));
    env.insert(env.end(), vars.begin(), vars.end());
    if (ip.empty()) continue;  // no address to give (networks as records only)
    // The alias, the linked container's hostname, and its name when the alias is another.
    std::string alias = last_part(l.name);
    std::string names = alias + " " + child->config.value("Hostname", "");
    if (alias != child->name) names += " " + child->name;
    launch.extra_hosts.push_back(names + ":" + ip);
  }
  // The container's own variables win over the links', as with dockerd.
  launch.env = replace_or_append_env(std::move(env), launch.env);
}

void Containers::release_link_names(const Container& c) {
  for (const auto& l : c.links)
    if (auto it = by_name_.find(l.name.substr(1)); it != by_name_.end() && it->second == l.child_id)
      by_name_.erase(it);
  for (auto it = by_name_.begin(); it != by_name_.end();)
    if (it->second == c.id && it->first.find('/') != std::string::npos)
      it = by_name_.erase(it);
    else
      ++it;
}

void Containers::rename_links(Container& c, const std::string& old_name) {
  const std::string old_prefix = "/" + old_name + "/";
  for (auto& l : c.links) {
    if (l.name.rfind(old_prefix, 0) != 0) continue;
    std::string renamed = "/" + c.name + "/" + l.name.substr(old_prefix.size());
    if (auto it = by_name_.find(l.name.substr(1)); it != by_name_.end() && it->second == l.child_id)
      by_name_.erase(it);
    by_name_[renamed.substr(1)] = l.child_id;
    l.name = renamed;
  }
  if (!c.links.empty()) c.host_config["Links"] = shown_links(c);
  for (auto& [id, e] : by_id_) {
    if (id == c.id) continue;
    bool changed = false;
    for (auto& l : e->c.links)
      if (l.child_id == c.id) {
        l.child_name = c.name;
        changed = true;
      }
    if (!changed) continue;
    e->c.host_config["Links"] = shown_links(e->c);
    persist(e->c);
  }
}

void Containers::remove_link(const std::string& ref) {
  std::lock_guard lock(mu_);
  if (!find(ref)) throw NotFound("No such container: " + ref);
  std::string name = ref.front() == '/' ? ref : "/" + ref;
  auto slash = name.rfind('/');
  if (slash == 0) throw Internal("Conflict, cannot remove the default link name of the container");
  std::string parent_name = name.substr(0, slash);
  auto parent = find(parent_name.substr(1));
  if (!parent || parent->c.name != parent_name.substr(1))
    throw Internal("Cannot get parent " + parent_name + " for link name " + name);
  by_name_.erase(name.substr(1));
  auto& links = parent->c.links;
  links.erase(std::remove_if(links.begin(), links.end(),
                             [&](const Container::Link& l) { return l.name == name; }),
              links.end());
  parent->c.host_config["Links"] = shown_links(parent->c);
  persist(parent->c);
}

}  // namespace sockerless::engine
