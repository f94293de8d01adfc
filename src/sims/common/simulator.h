// A cloud simulator: one HTTP endpoint serving a cloud's services by protocol, its OCI
// registry, and routes its workloads call (the Lambda Runtime API), over durable state and
// the workload runner. `sockerless-sim aws` builds one with the AWS services registered
// (sims/aws/services.cc); GCP and Azure will build theirs the same way.
#pragma once

#include <signal.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "http/handler.h"
#include "http/router.h"
#include "sims/common/service.h"

namespace sockerless::sims {

class State;
class Workloads;

struct SimOptions {
  std::string listen = "127.0.0.1:4566";
  std::string data_root;
  std::string region = "us-east-1";
  std::string account_id = "123456789012";
  std::map<std::string, std::string> credentials;  // access key id → secret access key
  std::string vpc_cidr = "10.231.0.0/16";
};

class Simulator {
 public:
  // `cidr_explicit`: the VPC range was asked for (else a busy default moves on).
  Simulator(SimOptions options, bool cidr_explicit);
  ~Simulator();
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  const SimOptions& options() const { return options_; }
  State& state() { return *state_; }
  Workloads& workloads() { return *workloads_; }

  // The endpoint as clients on this host reach it ("127.0.0.1:4566"), and as workloads on
  // the VPC reach it (the gateway address, same port).
  std::string endpoint() const;
  std::string vpc_endpoint() const;

  void add(std::shared_ptr<AwsService> service);
  // A route served without a signature (the Lambda Runtime API, which function containers
  // call unsigned), matched before the signed services.
  void add_route(const std::string& method, const std::string& pattern, http::RouteTarget target);
  // Requests under a path prefix ("/v2/": the registry) handled whole, before signatures.
  void add_prefix(const std::string& prefix,
                  std::function<http::RouteTarget(http::Request&)> resolve);
  // Credentials for pulling an image from the simulator's registry ({"", ""} for others);
  // set by the service that owns the registry (ECR), used by every workload's pull.
  std::function<std::pair<std::string, std::string>(const std::string& image)> pull_credentials;

  // Called before the listeners close at shutdown (services end their background work).
  void on_shutdown(std::function<void()> fn) { shutdown_hooks_.push_back(std::move(fn)); }

  // Listens (on the configured address and on the VPC gateway, same port) and serves until
  // SIGINT/SIGTERM arrive in `signals` (blocked by the caller); then stops every workload.
  void serve(sigset_t& signals);

  // Dispatches one signed AWS request (exposed for tests).
  http::Response handle(http::Request& request);

 private:
  std::shared_ptr<AwsService> service_for_target(const std::string& prefix) const;
  std::shared_ptr<AwsService> service_for_path(const std::string& path) const;
  std::shared_ptr<AwsService> service_named(const std::string& signing_name) const;

  SimOptions options_;
  UniqueFd lock_;  // flock on the data root, held for the simulator's life
  std::unique_ptr<State> state_;
  std::unique_ptr<Workloads> workloads_;
  std::vector<std::pair<std::string, std::function<http::RouteTarget(http::Request&)>>> prefixes_;
  std::vector<std::shared_ptr<AwsService>> services_;
  http::Router unsigned_routes_;
  std::vector<std::function<void()>> shutdown_hooks_;
  int port_ = 0;
};

}  // namespace sockerless::sims
