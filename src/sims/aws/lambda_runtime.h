// Lambda's execution side: the function's containers (execution environments), the
// invocations they run, and the Runtime API they call (GET …/invocation/next, POST
// …/{id}/response and …/{id}/error, POST …/init/error), served unsigned on the simulator's
// address as AWS_LAMBDA_RUNTIME_API. The control plane (lambda.cc) owns the functions; this
// runs them.
//
// An environment is one workload of the function's image, on the VPC: cold (created, not
// started) after the function became Active, then started for an invocation. It stays warm
// between invocations and takes the next one when idle; a new one starts when every warm
// one is busy. The Runtime API tells environments apart by the address they call from, as
// each has its own on the VPC. An invocation past the function's Timeout ends its
// environment (SIGKILL). Each environment's output, with START/END/REPORT lines per
// invocation, goes to a stream of the function's log group.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace sockerless::sims {
class Simulator;
}

namespace sockerless::sims::aws {

class LogsStore;

// What the environments of one function configuration run: the function's image resolved
// and its settings (the control plane keeps it in the function's record as "sim:active").
struct FunctionSetup {
  std::string name, arn;
  std::int64_t generation = 0;     // environments of older generations are retired
  std::string image;               // what to pull: the resolved reference (repo@sha256:…)
  nlohmann::json entrypoint, cmd;  // arrays, or null for the image's
  std::string working_dir;
  std::string handler;       // _HANDLER
  nlohmann::json variables;  // Environment.Variables
  int memory_mb = 128;
  int timeout_s = 3;
  std::string log_group;

  nlohmann::json to_json() const;
  static FunctionSetup from_json(const nlohmann::json& j);
};

// The image a function names, as pulled: its digest and what its config says to run.
struct ResolvedImage {
  std::string digest;    // "sha256:…" of the manifest (or index) the reference names
  std::string resolved;  // "repo@sha256:…"
  nlohmann::json entrypoint, cmd;
  std::string working_dir;
};

struct InvokeResult {
  std::string payload;         // the function's answer, or the error document
  std::string function_error;  // "" or "Unhandled"
  std::string log_tail;        // the invocation's log (START … REPORT)
};

// Every environment is busy and the account's concurrency is used up.
class ConcurrencyExceeded : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class LambdaRuntime {
 public:
  LambdaRuntime(Simulator& sim, std::shared_ptr<LogsStore> logs);
  ~LambdaRuntime();
  LambdaRuntime(const LambdaRuntime&) = delete;
  LambdaRuntime& operator=(const LambdaRuntime&) = delete;

  // Pulls the image (PullError when it cannot be had) and reads its config.
  ResolvedImage resolve(const std::string& image_uri);
  // Creates a cold environment of the setup (the image pulled, the container ready to
  // start); throws PullError or std::runtime_error.
  void prepare(const FunctionSetup& setup);

  // Runs an invocation (request id `id`). With `wait`, blocks until it is answered;
  // otherwise queues it (Event) and returns at once. Throws ConcurrencyExceeded when a
  // waiting invocation has no environment to run in.
  InvokeResult invoke(const FunctionSetup& setup, const std::string& id, std::string payload,
                      std::string client_context, bool wait);

  // Ends the function's environments of generations before `generation` (now, when idle;
  // otherwise when their invocation ends).
  void retire(const std::string& function, std::int64_t generation);
  // Ends every environment of the function and fails its queued invocations (DeleteFunction).
  void remove(const std::string& function);

  // Ends background work (simulator shutdown): waiting callers and runtimes are let go.
  void shutdown();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sockerless::sims::aws
