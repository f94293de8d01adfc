#include "engine/links.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "common/errors.h"

namespace sockerless::engine {

using nlohmann::json;

namespace {

struct Port {
  int number = 0;
  std::string proto;  // lower case, as given ("tcp" when none was)
};

std::string upper(std::string s) {
  for (auto& ch : s)
    ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return s;
}

// Ascending by number, tcp before the other protocols of the same number.
std::vector<Port> sorted_ports(const json& exposed) {
  std::vector<Port> ports;
  if (exposed.is_object())
    for (const auto& [key, _] : exposed.items()) {
      auto slash = key.find('/');
      Port p;
      p.number = std::atoi(key.substr(0, slash).c_str());
      p.proto = slash == std::string::npos ? "tcp" : key.substr(slash + 1);
      ports.push_back(p);
    }
  std::sort(ports.begin(), ports.end(), [](const Port& a, const Port& b) {
    if (a.number != b.number) return a.number < b.number;
    if ((a.proto == "tcp") != (b.proto == "tcp")) return a.proto == "tcp";
    return a.proto < b.proto;
  });
  return ports;
}

// The last index of the run of consecutive numbers that starts at `from` (counting every
// entry as one step, as dockerd does).
std::size_t run_end(const std::vector<Port>& ports, std::size_t from) {
  int value = ports[from].number;
  for (std::size_t i = from + 1; i < ports.size(); ++i) {
    if (ports[i].number > value + 1) return i - 1;
    ++value;
  }
  return ports.size() - 1;
}

}  // namespace

std::pair<std::string, std::string> parse_link(const std::string& spec) {
  // dockerd answers both malformed forms with a 500.
  if (spec.empty()) throw Internal("empty string specified for links");
  auto colon = spec.find(':');
  if (colon == std::string::npos) return {spec, spec};
  if (spec.find(':', colon + 1) != std::string::npos)
    throw Internal("bad format for links: " + spec);
  std::string name = spec.substr(0, colon), alias = spec.substr(colon + 1);
  if (!name.empty() && name.front() == '/') {
    // The form inspect shows ("/db:/web/db"): the alias is the last part.
    auto slash = alias.rfind('/');
    return {name.substr(1), slash == std::string::npos ? alias : alias.substr(slash + 1)};
  }
  return {name, alias};
}

std::vector<std::string> link_environment(const std::string& link_name, const std::string& ip,
                                          const json& env, const json& exposed) {
  std::vector<std::string> out;
  auto slash = link_name.rfind('/');
  std::string alias = upper(slash == std::string::npos ? link_name : link_name.substr(slash + 1));
  std::replace(alias.begin(), alias.end(), '-', '_');
  auto ports = sorted_ports(exposed);
  auto url = [&](const Port& p) { return p.proto + "://" + ip + ":" + std::to_string(p.number); };
  auto key = [&](const Port& p, const std::string& proto) {
    return alias + "_PORT_" + std::to_string(p.number) + "_" + upper(proto);
  };
  if (!ports.empty()) out.push_back(alias + "_PORT=" + url(ports.front()));
  for (std::size_t i = 0; i < ports.size();) {
    std::size_t j = run_end(ports, i);
    if (j > i + 1) {
      const Port &p = ports[i], &q = ports[j];
      out.push_back(key(p, p.proto) + "_START=" + url(p));
      out.push_back(key(p, p.proto) + "_ADDR=" + ip);
      out.push_back(key(p, p.proto) + "_PROTO=" + p.proto);
      out.push_back(key(p, p.proto) + "_PORT_START=" + std::to_string(p.number));
      // dockerd names the end after the first port, with the last one's protocol.
      out.push_back(key(p, q.proto) + "_END=" + url(q));
      out.push_back(key(p, q.proto) + "_PORT_END=" + std::to_string(q.number));
      i = j + 1;
    } else {
      ++i;
    }
  }
  for (const auto& p : ports) {
    out.push_back(key(p, p.proto) + "=" + url(p));
    out.push_back(key(p, p.proto) + "_ADDR=" + ip);
    out.push_back(key(p, p.proto) + "_PORT=" + std::to_string(p.number));
    out.push_back(key(p, p.proto) + "_PROTO=" + p.proto);
  }
  out.push_back(alias + "_NAME=" + link_name);
  if (env.is_array())
    for (const auto& v : env) {
      if (!v.is_string()) continue;
      std::string s = v.get<std::string>();
      auto eq = s.find('=');
      if (eq == std::string::npos) continue;
      std::string name = s.substr(0, eq);
      if (name == "HOME" || name == "PATH") continue;  // as dockerd: not the linked service's
      out.push_back(alias + "_ENV_" + name + "=" + s.substr(eq + 1));
    }
  return out;
}

std::vector<std::string> replace_or_append_env(std::vector<std::string> base,
                                               const std::vector<std::string>& overrides) {
  auto name_of = [](const std::string& v) { return v.substr(0, v.find('=')); };
  for (const auto& o : overrides) {
    auto it = std::find_if(base.begin(), base.end(),
                           [&](const std::string& b) { return name_of(b) == name_of(o); });
    if (it != base.end())
      *it = o;
    else
      base.push_back(o);
  }
  return base;
}

}  // namespace sockerless::engine
