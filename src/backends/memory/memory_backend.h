// The embedded default backend: containers as process trees in Linux namespaces on this
// host (DESIGN.md, "The memory backend"). The sandbox itself arrives with the containers
// work; until then it declares no container capabilities, so the engine answers 501.
#pragma once

#include <memory>

#include "engine/backend.h"

namespace sockerless::backends {

std::unique_ptr<engine::Backend> make_memory_backend(const engine::BackendOptions& options);

}  // namespace sockerless::backends
