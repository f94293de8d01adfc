// The simulators' workload runner: cloud workloads (ECS tasks' containers, Lambda
// functions, Cloud Run jobs, …) run for real, as containers of an engine embedded in the
// simulator, on the memory backend's sandbox. Each workload is pulled from a registry
// (the simulator's own, or any it can reach), gets its own network namespace on the
// simulator's VPC bridge (the CIDR's first address is the host side, as a VPC's router),
// or shares another workload's (the containers of one ECS task).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sockerless::engine {
class Engine;
}

namespace sockerless::sims {

struct WorkloadSpec {
  std::string name;   // unique among the simulator's workloads
  std::string image;  // a reference to pull ("127.0.0.1:4566/repo:tag")
  std::string registry_username, registry_password;         // for the pull, when the registry asks
  std::optional<std::vector<std::string>> entrypoint, cmd;  // nullopt: the image's
  std::vector<std::string> env;                             // "K=V"
  std::string user, working_dir;
  std::string share_network_of;  // a workload id whose network namespace this one joins
  std::int64_t memory_bytes = 0;
  std::int64_t nano_cpus = 0;
  std::vector<std::string> binds;  // "host-dir:container-path[:ro]"
  std::map<std::string, std::string> labels;
  int stop_timeout = 30;                 // seconds between SIGTERM and SIGKILL
  nlohmann::json healthcheck;            // Docker's HealthConfig, or null
  std::vector<std::string> extra_hosts;  // "name:ip"
};

// A workload's image could not be had (no such image, no access, registry down).
class PullError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct WorkloadExit {
  int exit_code = 0;
  bool oom_killed = false;
  std::string error;  // the sandbox's reason when it could not run at all
};

class Workloads {
 public:
  // data_root: where the embedded engine keeps images and containers; vpc_cidr: the VPC's
  // range ("10.231.0.0/16"): its bridge exists from here on. Unless `cidr_explicit`, a
  // range the host already routes is passed over for the next free /16 of 10.231-10.250.
  Workloads(const std::string& data_root, const std::string& vpc_cidr, bool cidr_explicit);
  ~Workloads();

  engine::Engine& engine() { return *engine_; }
  const std::string& vpc_cidr() const { return vpc_cidr_; }
  // The host's address on the VPC (the CIDR's first address).
  const std::string& gateway() const { return gateway_; }
  const std::string& bridge() const { return bridge_; }

  // Pulls the image (PullError when it cannot be had) and creates the workload; returns
  // its id. Nothing runs yet.
  std::string create(const WorkloadSpec& spec);
  // Starts it; throws std::runtime_error with the reason when it cannot start.
  void start(const std::string& id);
  // Its address on the VPC ("" until it runs, or when it shares another's namespace).
  std::string address(const std::string& id) const;
  bool running(const std::string& id) const;
  // Blocks until it is not running (or `stop` says to give up: nullopt).
  std::optional<WorkloadExit> wait(const std::string& id, const std::function<bool()>& stop);
  // SIGTERM, then SIGKILL after `timeout` seconds; nothing when not running.
  void stop(const std::string& id, int timeout);
  void kill(const std::string& id, const std::string& signal);
  void remove(const std::string& id);
  bool exists(const std::string& id) const;
  // The json-file log of its stdout and stderr ({"log":…,"stream":…,"time":…} per line).
  std::string log_path(const std::string& id) const;
  // Workload ids carrying a label with this value.
  std::vector<std::string> with_label(const std::string& key, const std::string& value) const;

  // The resolvers workloads created from now on use (their resolv.conf): the VPC's DNS
  // server. Empty (the default): the embedded engine's DNS on the gateway.
  void set_dns(std::vector<std::string> servers) { dns_ = std::move(servers); }

  // Stops every workload (simulator shutdown), bounded by `limit`.
  void stop_all(std::chrono::seconds limit);

 private:
  std::unique_ptr<engine::Engine> engine_;
  std::string vpc_cidr_, gateway_, bridge_, network_id_;
  std::vector<std::string> dns_;
};

}  // namespace sockerless::sims
