// Running a helper program (iptables, git) to completion and collecting what it printed.
#pragma once

#include <string>
#include <vector>

namespace sockerless {

struct CommandResult {
  int exit_code = -1;  // -1: could not be run, or ended by a signal
  std::string output;  // stdout and stderr together; the reason when it could not run
};

struct CommandOptions {
  std::string cwd;               // "" : the daemon's
  std::vector<std::string> env;  // "K=V" entries; empty: the daemon's environment
};

// Runs argv[0] (looked up on PATH) with stdin from /dev/null and waits for it.
CommandResult run_command(const std::vector<std::string>& argv, const CommandOptions& options = {});

}  // namespace sockerless
