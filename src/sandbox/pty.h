// Terminals the way runc makes them: the pty is opened inside the container, from the
// container's own devpts instance, so the process sees /dev/pts/N as under docker; the
// master side travels back to the caller over a unix socket (SCM_RIGHTS), and the caller
// (the monitor, the exec relay) relays it.
#pragma once

#include "common/unique_fd.h"
#include "sandbox/launch.h"
#include "sandbox/sandbox.h"

namespace sockerless::sandbox {

// The socket pair the master travels over: `child` goes to the sandboxed process.
struct PtyChannel {
  UniqueFd parent, child;
};
// Throws SandboxError("open pty", …).
PtyChannel make_pty_channel();

// Child side, once the process's root is the container's: opens /dev/ptmx there, sets
// `size` (when given), sends the master over `socket` and returns the slave, close-on-
// exec, for stdio. `console`: the slave is also bind-mounted over /dev/console, as runc
// does for a container's first process.
int open_container_pty(const ErrorChannel& errors, int socket, const WindowSize& size,
                       bool console);

// Caller side, after the child `pid` has exec'd: the master it sent. Without one the
// child is killed and reaped, and SandboxError("open pty", …) thrown.
UniqueFd receive_pty_master(int socket, pid_t pid);

}  // namespace sockerless::sandbox
