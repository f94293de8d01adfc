// Health checks (HEALTHCHECK / --health-*): probes run through the backend's exec while a
// container runs; the results become State.Health and health_status events.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "engine/backend.h"
#include "engine/events.h"

namespace sockerless::engine {

class Containers;

struct HealthProbe {
  std::int64_t start = 0, end = 0;  // unix nanos
  int exit_code = 0;
  std::string output;
};

struct Health {
  std::string status = "starting";  // starting, healthy, unhealthy
  int failing_streak = 0;
  std::deque<HealthProbe> log;  // the last five
  nlohmann::json to_json() const;
};

class HealthChecker {
 public:
  HealthChecker(Containers& containers, Backend& backend, EventBus& events);
  ~HealthChecker();

  // Starts probing the container (if its config has a healthcheck and the backend can
  // exec); probing ends by itself when the container stops.
  void started(const std::string& container_id);
  // The container's health, when it has a healthcheck and has run.
  std::optional<Health> health(const std::string& container_id) const;
  void forget(const std::string& container_id);

 private:
  void run(const std::string& id, std::uint64_t generation);
  HealthProbe probe(const std::string& id, const std::vector<std::string>& argv,
                    std::int64_t timeout_ns);

  Containers& containers_;
  Backend& backend_;
  EventBus& events_;
  mutable std::mutex mu_;
  std::map<std::string, Health> health_;
  std::map<std::string, std::uint64_t> generation_;  // a restart starts a new prober
  struct Life;
  std::shared_ptr<Life> life_;
};

}  // namespace sockerless::engine
