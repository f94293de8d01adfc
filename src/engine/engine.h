// The Engine: Docker semantics, once, for every backend. Routes call it; it calls the
// backend through the narrow contract in backend.h.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/events.h"
#include "engine/system_info.h"

namespace sockerless::store {
class Database;
}
namespace sockerless::image {
class ImageService;
}
namespace sockerless::engine {
class Builder;
class Containers;
class Execs;
class HealthChecker;
class Networks;
class Volumes;
}  // namespace sockerless::engine

namespace sockerless::engine {

struct EngineOptions {
  std::string data_root;
  std::string backend_name;
  bool debug = false;
  std::vector<std::string> labels;  // "key=value", shown in /info
  bool live_restore = false;
  bool iptables = true;    // bridge networks' NAT, forwarding and isolation rules
  bool ip_forward = true;  // net.ipv4.ip_forward turned on for bridge networks
  std::vector<std::string> insecure_registries;
  std::vector<std::string> registry_mirrors;
};

// Credentials from POST /auth, by registry server address.
struct RegistryLogin {
  std::string username, password, server_address, identity_token;
};

class Engine {
 public:
  Engine(EngineOptions options, std::unique_ptr<Backend> backend);
  ~Engine();

  EngineOptions options() const {
    std::lock_guard lock(mu_);
    return options_;
  }
  const HostFacts& host() const { return host_; }
  const std::string& id() const { return id_; }  // stable across restarts (data root)
  Backend& backend() { return *backend_; }
  EventBus& events() { return events_; }
  image::ImageService& images() { return *images_; }
  Containers& containers() { return *containers_; }
  Execs& execs() { return *execs_; }
  HealthChecker& health() { return *health_; }
  Volumes& volumes() { return *volumes_; }
  Networks& networks() { return *networks_; }
  Builder& builder() { return *builder_; }

  // Checks a registry login against the registry, stores it (for pulls and pushes that
  // come without credentials) and returns the status line for the client.
  std::string login(RegistryLogin login);

  // Applies reloadable settings (log level, labels, debug) and emits dockerd's
  // "daemon reload" event with the resulting configuration as attributes.
  void reload(const EngineOptions& updated);

  // Containers by state, for metrics.
  std::map<std::string, std::int64_t> container_states() const;

  // Throws NotImplemented "<op> is not supported by the <backend> backend" unless the
  // backend has the capability.
  void require(Capability capability, const std::string& operation) const;

 private:
  std::map<std::string, std::string> config_attributes() const;

  mutable std::mutex mu_;
  EngineOptions options_;
  std::unique_ptr<Backend> backend_;
  HostFacts host_;
  std::string id_;
  EventBus events_;
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<image::ImageService> images_;
  std::unique_ptr<Containers> containers_;
  std::unique_ptr<Execs> execs_;
  std::unique_ptr<HealthChecker> health_;
  std::unique_ptr<Volumes> volumes_;
  std::unique_ptr<Networks> networks_;
  std::unique_ptr<Builder> builder_;
};

}  // namespace sockerless::engine
