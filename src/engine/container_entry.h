// Private to the containers implementation (containers.cc and its companion files): the
// in-memory entry behind each container record.
#pragma once

#include <vector>

#include "engine/containers.h"

namespace sockerless::engine {

struct Containers::Entry {
  Container c;
  bool starting = false;
  bool removed = false;
  std::vector<ContainerLaunch::EarlyAttach> early_attach;
};

}  // namespace sockerless::engine
