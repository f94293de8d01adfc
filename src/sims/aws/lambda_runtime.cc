#include "sims/aws/lambda_runtime.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <deque>
#include <fstream>
#include <list>
#include <map>
#include <mutex>
#include <thread>

#include "api/log_line.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/time.h"
#include "engine/backend.h"
#include "engine/engine.h"
#include "http/handler.h"
#include "image/credentials.h"
#include "image/image_service.h"
#include "image/reference.h"
#include "sims/aws/logs_store.h"
#include "sims/common/simulator.h"
#include "sims/common/workloads.h"

namespace sockerless::sims::aws {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// Lambda's limits and habits.
constexpr std::size_t kMaxResponseBytes = 6291556;     // a synchronous invocation's response
constexpr std::size_t kTailBytes = 4096;               // LogType Tail: the log's last 4 KB
constexpr std::size_t kAccountConcurrency = 1000;      // AWS's default concurrency quota
constexpr auto kInitLimit = std::chrono::seconds(10);  // the init phase, before the timeout
constexpr auto kIdleLifetime = std::chrono::minutes(10);
constexpr const char* kFunctionLabel = "sockerless.sim.lambda.function";
constexpr const char* kKindLabel = "sockerless.sim.lambda";
constexpr const char* kRuntimePrefix = "/2018-06-01/runtime";

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

std::int64_t epoch_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "2024-05-01T12:00:00.123Z", as Lambda's timeout messages date themselves.
std::string utc_millis() {
  return iso8601_now();
}

// A log stream's name as Lambda makes them: "2024/05/01/[$LATEST]<32 hex>".
std::string new_stream_name() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y/%m/%d/", &tm);
  return std::string(buf) + "[$LATEST]" + random_hex(16);
}

// X-Ray's trace header for an invocation.
std::string new_trace_id() {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08llx", static_cast<unsigned long long>(std::time(nullptr)));
  return "Root=1-" + std::string(buf) + "-" + random_hex(12) + ";Parent=" + random_hex(8) +
         ";Sampled=0";
}

std::string fixed2(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

// How Go's os/exec words a process's end, as Lambda's Runtime.ExitError does.
std::string exit_words(int code) {
  if (code > 128 && code < 128 + 65) {
    switch (code - 128) {
      case 2:
        return "signal: interrupt";
      case 6:
        return "signal: aborted";
      case 9:
        return "signal: killed";
      case 11:
        return "signal: segmentation fault";
      case 15:
        return "signal: terminated";
      default:
        return "signal: " + std::to_string(code - 128);
    }
  }
  return "exit status " + std::to_string(code);
}

std::string error_document(const std::string& type, const std::string& message) {
  return json{{"errorMessage", message}, {"errorType", type}}.dump();
}

http::Response runtime_answer(int status, const std::string& body) {
  auto r = http::Response::json(status, body);
  r.headers.set("Content-Type", "application/json");
  return r;
}

http::Response runtime_error(int status, const std::string& type, const std::string& message) {
  return runtime_answer(status, error_document(type, message));
}

}  // namespace

json FunctionSetup::to_json() const {
  return {{"name", name},
          {"arn", arn},
          {"generation", generation},
          {"image", image},
          {"entrypoint", entrypoint},
          {"cmd", cmd},
          {"workingDir", working_dir},
          {"handler", handler},
          {"variables", variables},
          {"memory", memory_mb},
          {"timeout", timeout_s},
          {"logGroup", log_group}};
}

FunctionSetup FunctionSetup::from_json(const json& j) {
  FunctionSetup s;
  s.name = j.value("name", "");
  s.arn = j.value("arn", "");
  s.generation = j.value("generation", std::int64_t{0});
  s.image = j.value("image", "");
  s.entrypoint = j.value("entrypoint", json());
  s.cmd = j.value("cmd", json());
  s.working_dir = j.value("workingDir", "");
  s.handler = j.value("handler", "");
  s.variables = j.value("variables", json::object());
  s.memory_mb = j.value("memory", 128);
  s.timeout_s = j.value("timeout", 3);
  s.log_group = j.value("logGroup", "/aws/lambda/" + s.name);
  return s;
}

struct Environment;

struct Invocation {
  std::string id;
  FunctionSetup setup;
  std::string payload, client_context, trace_id;
  bool wait = true;
  std::shared_ptr<Environment> env;
  Clock::time_point bound_at, delivered_at, deadline;
  bool delivered = false;
  bool timed_out = false;   // the deadline passed: its environment is being ended
  bool completing = false;  // an answer is being recorded
  bool done = false;
  InvokeResult result;
  std::vector<std::string> lines;  // its log's messages (under the environment's log_mu)
};

struct Environment {
  FunctionSetup setup;
  std::string workload;      // its workload id ("" until created)
  std::string address;       // on the VPC, once running
  std::string stream;        // its log stream
  bool started = false;      // its thread runs (start asked for)
  bool initialized = false;  // it has called /next
  // false once its container ended; written under the runtime's lock, also read while
  // shipping logs under the environment's log lock
  std::atomic<bool> alive{true};
  bool retired = false;    // to end when idle
  bool deleted = false;    // its function is gone: it runs nothing more
  bool finishing = false;  // an invocation's END/REPORT being written
  std::shared_ptr<Invocation> current;
  std::uint64_t poll = 0;                    // which /next call is the live one
  Clock::time_point started_at, idle_since;  // started_at: when its container runs
  double init_ms = -1;                       // shown on its first REPORT
  bool init_reported = false;
  std::string init_error;  // what POST /init/error said
  std::uint64_t max_memory = 0;
  std::thread thread;
  // Log shipping (under log_mu): the json-file log read up to log_offset, and the events
  // not yet in CloudWatch Logs.
  std::mutex log_mu;
  std::string log_path;
  std::size_t log_offset = 0;
  std::vector<LogEvent> pending;
  std::shared_ptr<Invocation> collecting;
};

struct LambdaRuntime::Impl {
  Simulator& sim;
  std::shared_ptr<LogsStore> logs;
  std::mutex mu;
  std::condition_variable cv;
  std::list<std::shared_ptr<Environment>> envs;
  std::map<std::string, std::shared_ptr<Environment>> by_address;
  std::deque<std::shared_ptr<Invocation>> queue;
  std::vector<std::thread> finished;  // environments' threads to join
  std::atomic<bool> closing{false};
  std::thread reaper;

  Impl(Simulator& s, std::shared_ptr<LogsStore> l) : sim(s), logs(std::move(l)) {}

  // ------------------------------------------------------------------ environments

  WorkloadSpec spec_for(const Environment& env) {
    const FunctionSetup& f = env.setup;
    WorkloadSpec s;
    s.name = "lambda-" + f.name + "-" + random_hex(6);
    s.image = f.image;
    if (sim.pull_credentials) {
      auto [u, p] = sim.pull_credentials(f.image);
      s.registry_username = u;
      s.registry_password = p;
    }
    auto list = [](const json& v) -> std::optional<std::vector<std::string>> {
      if (!v.is_array() || v.empty()) return std::nullopt;
      return v.get<std::vector<std::string>>();
    };
    s.entrypoint = list(f.entrypoint);
    s.cmd = list(f.cmd);
    s.working_dir = f.working_dir;
    std::map<std::string, std::string> vars;
    if (f.variables.is_object())
      for (const auto& [k, v] : f.variables.items())
        vars[k] = v.is_string() ? v.get<std::string>() : v.dump();
    const std::string& region = sim.options().region;
    vars["AWS_LAMBDA_FUNCTION_NAME"] = f.name;
    vars["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = std::to_string(f.memory_mb);
    vars["AWS_LAMBDA_FUNCTION_VERSION"] = "$LATEST";
    vars["AWS_LAMBDA_LOG_GROUP_NAME"] = f.log_group;
    vars["AWS_LAMBDA_LOG_STREAM_NAME"] = env.stream;
    vars["AWS_LAMBDA_INITIALIZATION_TYPE"] = "on-demand";
    vars["AWS_LAMBDA_RUNTIME_API"] = sim.vpc_endpoint();
    vars["AWS_REGION"] = region;
    vars["AWS_DEFAULT_REGION"] = region;
    vars["LAMBDA_TASK_ROOT"] = "/var/task";
    vars["LAMBDA_RUNTIME_DIR"] = "/var/runtime";
    vars["TZ"] = ":UTC";
    if (!f.handler.empty()) vars["_HANDLER"] = f.handler;
    for (const auto& [k, v] : vars)
      s.env.push_back(k + "=" + v);
    s.memory_bytes = static_cast<std::int64_t>(f.memory_mb) << 20;
    s.stop_timeout = 0;
    s.labels = {{kFunctionLabel, f.name}, {kKindLabel, "environment"}};
    return s;
  }

  std::shared_ptr<Environment> new_environment(const FunctionSetup& setup) {
    auto env = std::make_shared<Environment>();
    env->setup = setup;
    env->stream = new_stream_name();
    return env;
  }

  // Environments that could take an invocation of this setup: warm ones first, then those
  // starting, then cold ones.
  std::shared_ptr<Environment> pick(const FunctionSetup& setup) {
    std::shared_ptr<Environment> best;
    int best_rank = 0;
    for (const auto& e : envs) {
      if (e->setup.name != setup.name || e->setup.generation != setup.generation) continue;
      if (!e->alive || e->retired || e->current || e->finishing) continue;
      int rank = e->initialized ? 3 : e->started ? 2 : e->workload.empty() ? 0 : 1;
      if (rank > best_rank) {
        best = e;
        best_rank = rank;
      }
    }
    return best;
  }

  std::size_t busy() const {
    std::size_t n = 0;
    for (const auto& e : envs)
      if (e->current) ++n;
    return n;
  }

  // Binds queued invocations to environments, starting new ones while the account's
  // concurrency allows. Under mu.
  void dispatch() {
    if (closing) return;
    for (auto it = queue.begin(); it != queue.end();) {
      auto inv = *it;
      auto env = pick(inv->setup);
      if (!env) {
        if (busy() >= kAccountConcurrency) {
          ++it;
          continue;
        }
        env = new_environment(inv->setup);
        envs.push_back(env);
      }
      env->current = inv;
      inv->env = env;
      inv->bound_at = Clock::now();
      if (!env->started) {
        env->started = true;
        env->thread = std::thread([this, env] { run(env); });
      }
      it = queue.erase(it);
    }
    cv.notify_all();
  }

  // An environment's life: created (unless cold already), started, waited for.
  void run(std::shared_ptr<Environment> env) {
    std::string failure;
    try {
      std::string id;
      {
        std::lock_guard lock(mu);
        id = env->workload;
      }
      if (id.empty()) {
        id = sim.workloads().create(spec_for(*env));
        std::lock_guard lock(mu);
        env->workload = id;
      }
      append(*env, {});  // the group and the stream, before anything is written
      {
        std::lock_guard lock(env->log_mu);
        env->log_path = sim.workloads().log_path(id);
      }
      {
        std::lock_guard lock(mu);
        if (env->deleted) throw std::runtime_error("the function was deleted");
      }
      auto t0 = Clock::now();
      sim.workloads().start(id);
      std::string address = sim.workloads().address(id);
      spdlog::debug("lambda: an environment of {} started at {} in {:.1f} ms", env->setup.name,
                    address, ms_between(t0, Clock::now()));
      {
        std::lock_guard lock(mu);
        env->started_at = Clock::now();  // its init begins
        env->address = address;
        if (!address.empty()) by_address[address] = env;
        cv.notify_all();
      }
    } catch (const PullError& e) {
      failure = std::string("Runtime.Unknown\n") + e.what();
    } catch (const std::exception& e) {
      failure = std::string("Runtime.InvalidEntrypoint\n") + e.what();
    }
    std::optional<WorkloadExit> exit;
    if (failure.empty()) {
      exit = sim.workloads().wait(env->workload, [this] { return closing.load(); });
      if (!exit) {  // shutting down: the simulator stops the workloads
        std::lock_guard lock(mu);
        env->alive = false;
        cv.notify_all();
        return;
      }
    }
    ended(env, exit, failure);
  }

  // Its container ended (or never ran): the invocation it held is answered with why.
  void ended(const std::shared_ptr<Environment>& env, const std::optional<WorkloadExit>& exit,
             const std::string& failure) {
    settle_logs(*env);
    std::shared_ptr<Invocation> inv;
    std::string init_error;
    {
      std::lock_guard lock(mu);
      env->alive = false;
      if (!env->address.empty()) by_address.erase(env->address);
      inv = env->current;
      init_error = env->init_error;
      cv.notify_all();
    }
    if (inv) {
      std::string payload, status;
      if (inv->timed_out) {
        payload = json{{"errorMessage", utc_millis() + " " + inv->id + " Task timed out after " +
                                            fixed2(inv->setup.timeout_s) + " seconds"}}
                      .dump();
        status = "timeout";
      } else if (!init_error.empty()) {
        payload = init_error;
        status = "error";
      } else if (!failure.empty()) {
        auto nl = failure.find('\n');
        payload = error_document(failure.substr(0, nl),
                                 "RequestId: " + inv->id + " Error: " + failure.substr(nl + 1));
        status = "error";
      } else {
        std::string words = exit ? exit_words(exit->exit_code) : "exit status 1";
        if (exit && exit->oom_killed) words = "signal: killed";
        payload =
            error_document("Runtime.ExitError",
                           "RequestId: " + inv->id + " Error: Runtime exited with error: " + words);
        status = "error";
      }
      complete(env, inv, payload, "Unhandled", status);
    }
    if (!closing && !env->workload.empty()) sim.workloads().remove(env->workload);
    std::lock_guard lock(mu);
    envs.remove(env);
    if (env->thread.joinable()) finished.push_back(std::move(env->thread));
    dispatch();
  }

  void kill(const std::shared_ptr<Environment>& env) {
    std::string id;
    {
      std::lock_guard lock(mu);
      id = env->workload;
    }
    sample_memory(*env);
    if (!id.empty()) sim.workloads().kill(id, "SIGKILL");
  }

  void sample_memory(Environment& env) {
    std::string id;
    {
      std::lock_guard lock(mu);
      if (!env.alive || env.workload.empty()) return;
      id = env.workload;
    }
    try {
      auto u = sim.workloads().engine().backend().stats(id);
      std::uint64_t m = std::max(u.memory_max_usage, u.memory_usage);
      std::lock_guard lock(mu);
      env.max_memory = std::max(env.max_memory, m);
    } catch (const std::exception&) {
    }
  }

  // ------------------------------------------------------------------ logs

  // Appends to the environment's stream (creating the group and the stream when absent).
  void append(Environment& env, std::vector<LogEvent> events) {
    try {
      if (!logs->group_exists(env.setup.log_group)) logs->create_group(env.setup.log_group);
      logs->append(env.setup.log_group, env.stream, events);
    } catch (const std::exception& e) {
      spdlog::warn("lambda: logs of {}: {}", env.setup.name, e.what());
    }
  }

  // Reads what the container wrote since last time into env.pending; under env.log_mu.
  // Returns the bytes read.
  std::size_t ship(Environment& env) {
    if (env.log_path.empty()) return 0;
    std::ifstream in(env.log_path, std::ios::binary);
    if (!in) return 0;
    in.seekg(static_cast<std::streamoff>(env.log_offset));
    std::string line;
    std::size_t read = 0;
    while (std::getline(in, line)) {
      if (in.eof()) break;  // a partial line: next time
      env.log_offset += line.size() + 1;
      read += line.size() + 1;
      auto entry = api::parse_log_entry(line);
      if (!entry) continue;
      LogEvent e;
      auto t = parse_api_timestamp(entry->time);
      e.timestamp = t ? unix_nanos(*t) / 1000000 : epoch_ms();
      e.message = entry->text;
      if (env.collecting) env.collecting->lines.push_back(e.message);
      env.pending.push_back(std::move(e));
    }
    return read;
  }

  // Writes env.pending to the stream, in one transaction; under env.log_mu.
  void flush(Environment& env) {
    if (env.pending.empty()) return;
    append(env, std::move(env.pending));
    env.pending.clear();
  }

  // Ships until the container's output stops arriving for a moment (its monitor writes
  // the log a little after the process does).
  void settle_logs(Environment& env) {
    std::lock_guard lock(env.log_mu);
    ship(env);
    for (int i = 0; i < 10; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      if (ship(env) == 0) break;
    }
    flush(env);
  }

  // A platform line (START, END, REPORT, …) for the stream and the invocation's log; under
  // env.log_mu.
  void platform_line(Environment& env, Invocation& inv, const std::string& message) {
    inv.lines.push_back(message);
    env.pending.push_back(LogEvent{epoch_ms(), message});
  }

  // ------------------------------------------------------------------ invocations

  // Takes the invocation's answer to record (only one is); under mu.
  static bool claim(Environment& env, Invocation& inv) {
    if (inv.completing) return false;
    inv.completing = true;
    env.finishing = true;
    return true;
  }

  // Records an invocation's answer: its END and REPORT lines, the result for the caller,
  // and the environment free again. Without mu. False when it was answered already. The
  // caller may have claimed it already (`claimed`).
  bool complete(const std::shared_ptr<Environment>& env, const std::shared_ptr<Invocation>& inv,
                const std::string& payload, const std::string& function_error,
                const std::string& status, bool claimed = false) {
    if (!claimed) {
      std::lock_guard lock(mu);
      if (!claim(*env, *inv)) return false;
    }
    auto now = Clock::now();
    sample_memory(*env);
    double init_ms = -1;
    std::uint64_t max_memory = 0;
    bool delivered = false;
    {
      std::lock_guard lock(mu);
      delivered = inv->delivered;
      if (!delivered) inv->delivered_at = now;
      if (!env->init_reported && env->init_ms >= 0) {
        init_ms = env->init_ms;
        env->init_reported = true;
      }
      max_memory = env->max_memory;
    }
    std::string tail;
    {
      std::lock_guard lock(env->log_mu);
      if (!delivered) {
        ship(*env);
        env->collecting = inv;
        platform_line(*env, *inv, "START RequestId: " + inv->id + " Version: $LATEST\n");
      }
      ship(*env);
      for (int i = 0; i < 10 && env->alive; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        if (ship(*env) == 0) break;
      }
      env->collecting = nullptr;
      double duration = ms_between(inv->delivered_at, now);
      auto billed = static_cast<long long>(std::ceil(duration + std::max(init_ms, 0.0)));
      std::string report = "REPORT RequestId: " + inv->id + "\tDuration: " + fixed2(duration) +
                           " ms\tBilled Duration: " + std::to_string(std::max(billed, 1LL)) +
                           " ms\tMemory Size: " + std::to_string(inv->setup.memory_mb) +
                           " MB\tMax Memory Used: " + std::to_string((max_memory + 1048575) >> 20) +
                           " MB\t";
      if (init_ms >= 0) report += "Init Duration: " + fixed2(init_ms) + " ms\t";
      if (!status.empty()) report += "Status: " + status + "\t";
      platform_line(*env, *inv, "END RequestId: " + inv->id + "\n");
      platform_line(*env, *inv, report + "\n");
      if (status == "timeout")
        platform_line(*env, *inv,
                      utc_millis() + " " + inv->id + " Task timed out after " +
                          fixed2(inv->setup.timeout_s) + " seconds\n");
      flush(*env);
      for (const auto& l : inv->lines)
        tail += l;
    }
    if (tail.size() > kTailBytes) tail.erase(0, tail.size() - kTailBytes);
    bool stop = false;
    {
      std::lock_guard lock(mu);
      inv->result = InvokeResult{payload, function_error, tail};
      inv->done = true;
      env->current = nullptr;
      env->finishing = false;
      env->idle_since = Clock::now();
      stop = env->retired && env->alive;
      dispatch();
    }
    if (stop) kill(env);
    return true;
  }

  // ------------------------------------------------------------------ the Runtime API

  // The environment calling from `peer`; a runtime may call before its start has been
  // recorded, so wait a little for it.
  std::shared_ptr<Environment> caller(const std::string& peer) {
    std::unique_lock lock(mu);
    std::shared_ptr<Environment> env;
    cv.wait_for(lock, std::chrono::seconds(2), [&] {
      auto it = by_address.find(peer);
      if (it != by_address.end()) env = it->second;
      return env || closing;
    });
    return env;
  }

  http::Response not_a_function(const std::string& peer) {
    return runtime_error(403, "Runtime.Unknown",
                         "sockerless-sim: " + (peer.empty() ? std::string("this caller") : peer) +
                             " is not a Lambda function's execution environment");
  }

  void next(http::Request& req, http::Responder& out) {
    auto env = caller(req.peer);
    if (!env) return out.send(not_a_function(req.peer));
    std::shared_ptr<Invocation> inv;
    {
      std::unique_lock lock(mu);
      if (!env->initialized) {
        env->initialized = true;
        env->init_ms = ms_between(env->started_at, Clock::now());
      }
      if (env->current && env->current->delivered && !env->current->completing)
        return out.send(
            runtime_error(403, "InvalidStateTransition",
                          "invocation " + env->current->id + " has no response or error yet"));
      std::uint64_t mine = ++env->poll;
      cv.wait(lock, [&] {
        return closing || !env->alive || env->deleted || env->poll != mine ||
               (env->current && !env->current->delivered && !env->finishing);
      });
      if (closing || !env->alive || env->deleted)
        return out.send(runtime_error(500, "Runtime.Shutdown", "the environment is ending"));
      if (env->poll != mine)
        return out.send(
            runtime_error(409, "Runtime.Superseded", "a later /next call from here took over"));
      inv = env->current;
      inv->delivered = true;
      inv->delivered_at = Clock::now();
      inv->deadline = inv->delivered_at + std::chrono::seconds(inv->setup.timeout_s);
    }
    {
      std::lock_guard lock(env->log_mu);
      ship(*env);  // what it wrote before belongs to no invocation
      env->collecting = inv;
      platform_line(*env, *inv, "START RequestId: " + inv->id + " Version: $LATEST\n");
    }
    http::Response r = runtime_answer(200, inv->payload);
    r.headers.set("Lambda-Runtime-Aws-Request-Id", inv->id);
    r.headers.set("Lambda-Runtime-Deadline-Ms",
                  std::to_string(epoch_ms() + inv->setup.timeout_s * 1000LL));
    r.headers.set("Lambda-Runtime-Invoked-Function-Arn", inv->setup.arn);
    r.headers.set("Lambda-Runtime-Trace-Id", inv->trace_id);
    if (!inv->client_context.empty())
      r.headers.set("Lambda-Runtime-Client-Context", inv->client_context);
    out.send(std::move(r));
  }

  // The invocation the caller is answering, claimed, if it is the one it runs (before the
  // runtime hears back, so that its next /next finds it answered).
  std::shared_ptr<Invocation> answering(const std::shared_ptr<Environment>& env,
                                        const std::string& id) {
    std::lock_guard lock(mu);
    auto inv = env->current;
    if (!inv || inv->id != id || !inv->delivered || inv->timed_out || !claim(*env, *inv))
      return nullptr;
    return inv;
  }

  void response(http::Request& req, http::Responder& out) {
    auto env = caller(req.peer);
    if (!env) return out.send(not_a_function(req.peer));
    auto inv = answering(env, req.param("id"));
    if (!inv) return out.send(runtime_error(400, "InvalidRequestID", "Invalid request ID"));
    if (req.body.size() > kMaxResponseBytes) {
      out.send(runtime_error(413, "RequestEntityTooLarge",
                             "Exceeded maximum allowed payload size (" +
                                 std::to_string(kMaxResponseBytes) + " bytes)."));
      complete(env, inv,
               error_document("Function.ResponseSizeTooLarge",
                              "Response payload size exceeded maximum allowed payload size (" +
                                  std::to_string(kMaxResponseBytes) + " bytes)."),
               "Unhandled", "", true);
      return;
    }
    out.send(runtime_answer(202, R"({"status":"OK"})"));
    complete(env, inv, req.body, "", "", true);
  }

  // The error document a runtime posted: its body when that is a JSON object, else one
  // made of the header's type and the body's text.
  static std::string posted_error(const http::Request& req) {
    auto doc = json::parse(req.body, nullptr, false);
    if (doc.is_object()) return req.body;
    std::string type = req.headers.get("Lambda-Runtime-Function-Error-Type").value_or("");
    return error_document(type.empty() ? "Runtime.Unknown" : type, req.body);
  }

  void error(http::Request& req, http::Responder& out) {
    auto env = caller(req.peer);
    if (!env) return out.send(not_a_function(req.peer));
    auto inv = answering(env, req.param("id"));
    if (!inv) return out.send(runtime_error(400, "InvalidRequestID", "Invalid request ID"));
    out.send(runtime_answer(202, R"({"status":"OK"})"));
    complete(env, inv, posted_error(req), "Unhandled", "", true);
  }

  void init_error(http::Request& req, http::Responder& out) {
    auto env = caller(req.peer);
    if (!env) return out.send(not_a_function(req.peer));
    {
      std::lock_guard lock(mu);
      if (env->initialized)
        return out.send(runtime_error(403, "InvalidStateTransition",
                                      "the runtime has initialized: init/error is too late"));
      env->init_error = posted_error(req);
      env->retired = true;
    }
    out.send(runtime_answer(202, R"({"status":"OK"})"));
    // Lambda resets the environment: the invocation it was started for fails with the error.
    kill(env);
  }

  // ------------------------------------------------------------------ housekeeping

  // Every 200 ms: ships the environments' output, ends invocations past their deadline,
  // environments idle too long or retired, and joins the threads of ended ones.
  void housekeep() {
    while (!closing) {
      std::vector<std::shared_ptr<Environment>> live, to_kill, cold_gone;
      {
        std::unique_lock lock(mu);
        cv.wait_for(lock, std::chrono::milliseconds(200), [this] { return closing.load(); });
        if (closing) break;
        auto now = Clock::now();
        for (auto it = envs.begin(); it != envs.end();) {
          auto& e = *it;
          if (!e->started) {  // cold: never ran
            if (e->retired) {
              cold_gone.push_back(e);
              it = envs.erase(it);
              continue;
            }
            ++it;
            continue;
          }
          if (e->alive) live.push_back(e);
          auto& inv = e->current;
          if (e->alive && inv && !inv->completing && !inv->timed_out &&
              (inv->delivered || !e->address.empty())) {
            // Undelivered: the runtime has the init phase's 10 s and then the timeout to ask.
            bool late = inv->delivered ? now > inv->deadline
                                       : now > std::max(inv->bound_at, e->started_at) + kInitLimit +
                                                   std::chrono::seconds(inv->setup.timeout_s);
            if (late) {
              inv->timed_out = true;
              to_kill.push_back(e);
            }
          } else if (e->alive && !inv && !e->finishing && e->initialized &&
                     (e->retired || now - e->idle_since > kIdleLifetime)) {
            e->retired = true;
            to_kill.push_back(e);
          }
          ++it;
        }
      }
      for (auto& e : to_kill)
        kill(e);
      for (auto& e : cold_gone)
        if (!e->workload.empty()) sim.workloads().remove(e->workload);
      for (auto& e : live) {
        std::lock_guard lock(e->log_mu);
        ship(*e);
        flush(*e);
      }
      for (auto& e : live)
        sample_memory(*e);
      collect_threads();
    }
  }

  void collect_threads() {
    std::vector<std::thread> joins;
    {
      std::lock_guard lock(mu);
      joins.swap(finished);
    }
    for (auto& t : joins)
      if (t.joinable()) t.join();
  }
};

LambdaRuntime::LambdaRuntime(Simulator& sim, std::shared_ptr<LogsStore> logs)
    : impl_(std::make_unique<Impl>(sim, std::move(logs))) {
  Impl* impl = impl_.get();
  // What a previous run left: environments do not outlive the simulator.
  for (const auto& id : sim.workloads().with_label(kKindLabel, "environment"))
    sim.workloads().remove(id);
  auto route = [impl](void (Impl::*fn)(http::Request&, http::Responder&)) {
    return http::RouteTarget{
        [impl, fn](http::Request& r, http::Responder& out) { (impl->*fn)(r, out); },
        http::Execution::Blocking, http::BodyMode::Buffered};
  };
  std::string base = kRuntimePrefix;
  sim.add_route("GET", base + "/invocation/next", route(&Impl::next));
  sim.add_route("POST", base + "/invocation/{id}/response", route(&Impl::response));
  sim.add_route("POST", base + "/invocation/{id}/error", route(&Impl::error));
  sim.add_route("POST", base + "/init/error", route(&Impl::init_error));
  impl_->reaper = std::thread([impl] { impl->housekeep(); });
}

LambdaRuntime::~LambdaRuntime() {
  shutdown();
}

ResolvedImage LambdaRuntime::resolve(const std::string& image_uri) {
  image::Reference ref;
  try {
    ref = image::parse_reference(image_uri);
  } catch (const std::exception& e) {
    throw PullError("invalid image reference " + image_uri + ": " + e.what());
  }
  image::AuthConfig auth;
  auth.server_address = ref.domain;
  if (impl_->sim.pull_credentials) {
    auto [u, p] = impl_->sim.pull_credentials(image_uri);
    auth.username = u;
    auth.password = p;
  }
  auto& images = impl_->sim.workloads().engine().images();
  std::string id;
  try {
    id = images.pull(image_uri, "", auth, [](const json&) {});
  } catch (const std::exception& e) {
    throw PullError(e.what());
  }
  auto record = images.store().get(id);
  if (!record) throw PullError("image " + image_uri + " vanished after its pull");
  ResolvedImage out;
  std::string prefix = ref.name() + "@";
  for (const auto& d : record->digests)
    if (d.rfind(prefix, 0) == 0) out.digest = d.substr(prefix.size());
  if (!ref.digest.empty()) out.digest = ref.digest;
  if (out.digest.empty()) out.digest = record->manifest_digest;
  out.resolved = ref.domain + "/" + ref.path + "@" + out.digest;
  auto config = json::parse(record->config, nullptr, false);
  json c = config.is_object() ? config.value("config", json::object()) : json::object();
  if (!c.is_object()) c = json::object();
  out.entrypoint = c.value("Entrypoint", json());
  out.cmd = c.value("Cmd", json());
  out.working_dir = c.value("WorkingDir", "");
  return out;
}

void LambdaRuntime::prepare(const FunctionSetup& setup) {
  {
    std::lock_guard lock(impl_->mu);
    for (const auto& e : impl_->envs)
      if (e->setup.name == setup.name && e->setup.generation == setup.generation && e->alive &&
          !e->retired)
        return;  // one is there already
  }
  auto env = impl_->new_environment(setup);
  std::string id = impl_->sim.workloads().create(impl_->spec_for(*env));
  std::lock_guard lock(impl_->mu);
  env->workload = id;
  impl_->envs.push_back(env);
}

InvokeResult LambdaRuntime::invoke(const FunctionSetup& setup, const std::string& id,
                                   std::string payload, std::string client_context, bool wait) {
  auto inv = std::make_shared<Invocation>();
  inv->id = id;
  inv->setup = setup;
  inv->payload = std::move(payload);
  inv->client_context = std::move(client_context);
  inv->trace_id = new_trace_id();
  inv->wait = wait;
  std::unique_lock lock(impl_->mu);
  if (impl_->closing) throw std::runtime_error("the simulator is shutting down");
  if (wait && !impl_->pick(setup) && impl_->busy() + impl_->queue.size() >= kAccountConcurrency)
    throw ConcurrencyExceeded("Rate Exceeded.");
  impl_->queue.push_back(inv);
  impl_->dispatch();
  if (!wait) return {};
  impl_->cv.wait(lock, [&] { return inv->done || impl_->closing; });
  if (!inv->done) throw std::runtime_error("the simulator is shutting down");
  return inv->result;
}

void LambdaRuntime::retire(const std::string& function, std::int64_t generation) {
  std::lock_guard lock(impl_->mu);
  for (auto& e : impl_->envs)
    if (e->setup.name == function && e->setup.generation < generation) e->retired = true;
  impl_->cv.notify_all();
}

void LambdaRuntime::remove(const std::string& function) {
  std::vector<std::shared_ptr<Environment>> busy;
  {
    std::lock_guard lock(impl_->mu);
    for (auto& e : impl_->envs)
      if (e->setup.name == function) {
        e->retired = true;
        e->deleted = true;
        if (e->current && e->alive) busy.push_back(e);
      }
    for (auto it = impl_->queue.begin(); it != impl_->queue.end();) {
      if ((*it)->setup.name != function) {
        ++it;
        continue;
      }
      (*it)->result = InvokeResult{
          error_document("Runtime.Unknown", "RequestId: " + (*it)->id +
                                                " Error: the function was deleted before it ran"),
          "Unhandled", ""};
      (*it)->done = true;
      it = impl_->queue.erase(it);
    }
    impl_->cv.notify_all();
  }
  for (auto& e : busy)
    impl_->kill(e);
}

void LambdaRuntime::shutdown() {
  if (impl_->closing.exchange(true)) return;
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(impl_->mu);
    impl_->cv.notify_all();
    for (auto& e : impl_->envs)
      if (e->thread.joinable()) threads.push_back(std::move(e->thread));
  }
  if (impl_->reaper.joinable()) impl_->reaper.join();
  for (auto& t : threads)
    t.join();
  impl_->collect_threads();
}

}  // namespace sockerless::sims::aws
