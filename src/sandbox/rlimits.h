// Ulimits by docker's names ("nofile", "nproc", …), checked in the caller and applied in
// the child before it gives up root.
#pragma once

#include <sys/resource.h>

#include <vector>

#include "sandbox/sandbox.h"

namespace sockerless::sandbox {

struct Rlimit {
  int resource;
  rlimit limit;
};

// Throws SandboxError("rlimits", "invalid ulimit type: foo") and for soft > hard.
std::vector<Rlimit> parse_rlimits(const std::vector<Ulimit>& ulimits);

// Child side: setrlimit for each; returns 0 or an errno.
int apply_rlimits(const std::vector<Rlimit>& limits);

}  // namespace sockerless::sandbox
