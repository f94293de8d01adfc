// docker run --init, done in-process (tini's job): the container's first process forks
// the real one and stays as PID 1, reaping every orphan that the namespace reparents to
// it and forwarding termination, job-control and window signals to the real process; it
// exits with the real process's status, 128+N when signal N killed it.
#pragma once

#include "sandbox/launch.h"

namespace sockerless::sandbox {

// Forks. Returns in the child (its own process group, in the terminal's foreground for a
// TTY); in the parent it never returns.
void become_init(ErrorChannel& errors, bool tty);

}  // namespace sockerless::sandbox
