// The per-container monitor: the daemon's own binary in a second role ("sockerlessd
// monitor <state-dir>"), like Podman's conmon. It starts the container through the
// sandbox, owns the container's stdio from the first byte, writes its log, serves
// attach on a unix socket, and records the exit status — so the container does not
// depend on the daemon process that asked for it.
//
// Files in the state directory:
//   monitor.json   what to run (written by the daemon before launching the monitor)
//   attach.sock    attach and control connections (see below)
//   container.log  the output, json-file format
//   pid            the container's main pid
//   exit.json      {"ExitCode":…,"FinishedAt":<unix nanos>,"OOMKilled":…} once it has
//                  exited (OOMKilled: the kernel's OOM killer killed one of its processes)
//
// An attach connection starts with one JSON line from the client:
//   {"stdin":true,"stdout":true,"stderr":true}   then raw stdin in, output out (Docker's
//                                                multiplexed frames, or raw with a TTY);
//                                                the socket closes when the output ends
//   {"resize":[height,width]}                    resizes the TTY, then closes
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/unique_fd.h"
#include "sandbox/sandbox.h"

namespace sockerless::monitor {

struct MonitorConfig {
  sandbox::ContainerSpec spec;
  bool open_stdin = false;
  bool stdin_once = false;
  // Attach connections to accept before the process starts, so that clients attached to
  // a created container (docker run) see its output from the first byte.
  int initial_clients = 0;
};

nlohmann::json to_json(const MonitorConfig& config);
MonitorConfig config_from_json(const nlohmann::json& doc);

// The monitor's main: runs until the container has exited and everything is recorded.
// Reports "ok <pid>" or "error <exit code> <message>" on `report_fd`, then closes it.
int run(const std::string& state_dir, int report_fd);

// --- The daemon's side ---

struct Launched {
  int pid = 0;  // the container's main pid
};

// Writes monitor.json and starts a detached monitor for it (`self_exe monitor <dir>`);
// returns once the container runs. Throws engine::StartFailure-compatible errors as
// std::runtime_error with the exit code in `code_out`.
// `on_listening` runs once the monitor accepts attach connections and before the process
// starts: the place to connect the `initial_clients`.
Launched launch(const std::string& self_exe, const std::string& state_dir,
                const MonitorConfig& config, int& code_out,
                const std::function<void()>& on_listening);

// An attach connection to a running monitor, or an invalid fd when it is gone.
UniqueFd connect_attach(const std::string& state_dir, bool in, bool out, bool err);
void resize(const std::string& state_dir, int height, int width);

// The recorded exit, when there is one.
struct Exit {
  int code = 0;
  long long finished_at = 0;
  bool oom_killed = false;
};
bool read_exit(const std::string& state_dir, Exit& out);

// Blocks until the monitor of `state_dir` has finished (its attach socket closes or is
// gone). Never throws.
void wait_finished(const std::string& state_dir);

}  // namespace sockerless::monitor
