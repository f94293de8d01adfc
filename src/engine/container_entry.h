// Private to the containers implementation (containers.cc and its companion files): the
// in-memory entry behind each container record.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/containers.h"

namespace sockerless::engine {

struct Containers::Entry {
  Container c;
  bool starting = false;
  bool removed = false;
  bool removing = false;  // a removal runs now (in this daemon)
  std::vector<ContainerLaunch::EarlyAttach> early_attach;
};

// The strings of an array member of a HostConfig/Config object; empty when it is absent.
inline std::vector<std::string> string_array(const nlohmann::json& object, const char* key) {
  std::vector<std::string> out;
  if (object.contains(key) && object[key].is_array())
    for (const auto& v : object[key])
      out.push_back(v.get<std::string>());
  return out;
}

// The environment a container's process (or an exec's, with its own `tty`) starts with,
// as dockerd makes it: PATH, HOSTNAME (Config.Hostname) and, on a terminal, TERM=xterm,
// with Config.Env replacing those it names and adding the rest.
std::vector<std::string> process_environment(const nlohmann::json& config, bool tty);

// dockerd's checks of a create's HostConfig: the restart policy (400) and the log driver
// (400 when unknown, 501 when dockerd has it and sockerless does not).
void validate_host_config(const nlohmann::json& host_config);
// The zero value of every Config and HostConfig field the client left out, as dockerd's
// inspect shows them (container_defaults.cc).
void fill_zero_values(nlohmann::json& config, nlohmann::json& host_config);

}  // namespace sockerless::engine
