// Legacy container links (docker run --link name:alias) as dockerd gives them on the
// default bridge: the link specification's parsing and the environment a linking
// container gets for each linked one. Pure functions; the engine keeps the links.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace sockerless::engine {

// "name:alias", "name" (the alias is the name), or inspect's own "/name:/parent/alias".
// Returns {name, alias}; throws Internal (dockerd's 500) for an empty or malformed one.
std::pair<std::string, std::string> parse_link(const std::string& spec);

// The variables for the link `link_name` ("/web/db"): <ALIAS>_PORT for the lowest exposed
// port, <ALIAS>_PORT_<port>_<PROTO> with _ADDR, _PORT and _PROTO for every exposed port
// (and _START/_END for runs of three or more consecutive ports), <ALIAS>_NAME, and
// <ALIAS>_ENV_<var> for the linked container's environment but HOME and PATH. ALIAS is
// the link name's last part, upper case, '-' as '_'. `exposed` is its Config.ExposedPorts.
std::vector<std::string> link_environment(const std::string& link_name, const std::string& ip,
                                          const nlohmann::json& env, const nlohmann::json& exposed);

// `base` with `overrides` applied as dockerd does for a container's own environment:
// a variable that is already there is replaced in place, a new one is appended.
std::vector<std::string> replace_or_append_env(std::vector<std::string> base,
                                               const std::vector<std::string>& overrides);

}  // namespace sockerless::engine
