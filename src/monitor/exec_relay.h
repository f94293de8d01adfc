// docker exec on the memory backend: a short-lived process of the daemon's binary
// ("sockerlessd exec-relay <state-dir>", its connection to the daemon as fd 3) that
// starts the process inside the container through the sandbox and relays its stdio.
//
// On the connection the daemon sends raw stdin (shutdown of its write side closes the
// process's stdin) and reads Docker's multiplexed frames: stdout (1) and stderr (2), and
// System (3) frames carrying JSON: {"Pid":n} once the process runs, {"ExitCode":n} (with
// "Error" when it never started) at the end, after which the connection closes.
// A TTY is resized through <state-dir>/exec-<id>.sock ({"resize":[h,w]}).
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "common/unique_fd.h"

namespace sockerless::monitor {

struct ExecRequest {
  std::string id;
  std::vector<std::string> argv, env;
  std::string working_dir, user;
  bool tty = false, privileged = false;
  bool attach_stdin = false;
  int height = 0, width = 0;
};

int run_exec_relay(const std::string& state_dir, int fd);

// The daemon's side: starts a relay for `request` and returns the connection to it.
UniqueFd launch_exec(const std::string& self_exe, const std::string& state_dir,
                     const ExecRequest& request);
void resize_exec(const std::string& state_dir, const std::string& exec_id, int height, int width);

}  // namespace sockerless::monitor
