// The last steps of every sandboxed process, shared by spawn and exec (enter): rlimits,
// stdio and the controlling terminal, the user and its capabilities, the working
// directory, the environment, optionally an init, then the PATH lookup and execve with
// docker's error messages. Runs inside the container's root.
#pragma once

#include <string>
#include <vector>

#include "sandbox/caps.h"
#include "sandbox/launch.h"
#include "sandbox/rlimits.h"
#include "sandbox/user.h"

namespace sockerless::sandbox {

struct ProcessSpec {
  std::vector<std::string> argv;
  std::vector<std::string> env;
  std::string working_dir = "/";
  ExecUser user;
  CapabilitySet caps = 0;
  std::vector<Rlimit> rlimits;
  bool tty = false;
  bool init = false;
};

// Go's exec.LookPath as runc uses it: `path` to execve, or docker's `error` with the exit
// code docker reports for it (127 not found, 126 not executable).
struct Executable {
  std::string path;
  std::string error;
  int exit_code = 0;
};
Executable find_executable(const std::string& argv0, const std::string& path_env);

// A process that could not be started, as docker reports it: the detail of the failed
// step ("exec: \"foo\": executable file not found in $PATH" for the exec step) and the
// exit code (127 for a missing program, 126 otherwise: a missing working directory too).
struct StartError {
  std::string detail;
  int exit_code = 126;
};
StartError start_error(const std::string& step, const std::string& what);

// The PATH of a "K=V" environment, or docker's default when it has none.
std::string search_path(const std::vector<std::string>& env);

// mkdir -p of the working directory, new directories owned by the user (docker creates
// a missing WorkingDir). Fails as "mkdir <dir>".
void create_working_dir(const ErrorChannel& errors, const std::string& dir, const ExecUser& user);

// Never returns: execs spec.argv with stdin/stdout/stderr from `in`, `out`, `err` (-1:
// /dev/null), or reports the failing step.
[[noreturn]] void exec_process(ErrorChannel& errors, const ProcessSpec& spec, int in, int out,
                               int err);

}  // namespace sockerless::sandbox
