// The one place backends are registered by name.
#include "backends/memory/memory_backend.h"
#include "engine/backend_registry.h"

namespace sockerless::engine {

BackendRegistry builtin_backends() {
  BackendRegistry r;
  r.add("memory", "containers as Linux namespace sandboxes on this host",
        backends::make_memory_backend);
  return r;
}

}  // namespace sockerless::engine
