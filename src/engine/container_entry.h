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

}  // namespace sockerless::engine
