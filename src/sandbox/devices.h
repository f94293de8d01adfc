// /dev as docker makes it: a small tmpfs with null, zero, full, random, urandom and tty,
// a private devpts instance (ptmx → pts/ptmx), shm of the requested size, mqueue, the
// fd/stdin/stdout/stderr links, and /dev/console for a TTY.
#pragma once

#include <cstdint>

#include "sandbox/launch.h"

namespace sockerless::sandbox {

// `console_fd`: the pty slave to bind over /dev/console, or -1.
void setup_dev(const ErrorChannel& errors, int root_fd, std::int64_t shm_size, int console_fd);

}  // namespace sockerless::sandbox
