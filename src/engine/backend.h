// The Backend contract: what differs per place of execution. The engine owns every Docker
// semantic (ids, names, states, events, logs, restart policies, filters); a backend only
// provisions, runs, signals and tears down what the engine asks for, and says up front
// which optional operations it can do. For anything it cannot, the engine answers
// 501 "<op> is not supported by the <name> backend" — never a silent fake.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace sockerless::engine {

// Optional operations. A backend that lacks one is never asked for it.
enum class Capability {
  Containers,  // prepare/start/signal/remove: running containers at all
  Exec,        // processes inside a running container
  Attach,      // the main process's stdio, live
  Pause,
  Archive,  // docker cp: stat, get, put
  Stats,
  Top,
  Commit,
  Build,
};

std::string capability_name(Capability c);

// Host facts a backend reports for GET /info.
struct BackendDescription {
  std::string name;    // as --backend takes it: "memory"
  std::string driver;  // shown as Info.Driver (storage driver)
  std::vector<std::pair<std::string, std::string>> driver_status;  // Info.DriverStatus
  std::vector<std::string> warnings;                               // Info.Warnings
};

// Everything a backend may need from the daemon's configuration.
struct BackendOptions {
  std::string data_root;  // the backend's own directory beneath the daemon's data root
  std::map<std::string, std::string> settings;  // backend-specific keys from config/flags
};

class Backend {
 public:
  virtual ~Backend() = default;

  // Whether the optional operation is available. Pure: same answer for the daemon's life.
  virtual bool supports(Capability capability) const = 0;

  // Facts for GET /info; cheap, called per request.
  virtual BackendDescription describe() const = 0;

  // Called once at start-up, before the API is served: verifies the host can run this
  // backend (privileges, kernel features, credentials) and throws std::runtime_error
  // explaining what is missing otherwise.
  virtual void check_host() = 0;

  // The container lifecycle (prepare, start, signal, exec, archive, stats, top, pause,
  // remove, reconcile after a restart) joins this contract with the containers work,
  // each operation behind its Capability.
};

}  // namespace sockerless::engine
