// /dev as docker makes it: a small tmpfs with null, zero, full, random, urandom and tty,
// a private devpts instance (ptmx → pts/ptmx), shm of the requested size, mqueue, the
// fd/stdin/stdout/stderr links. (/dev/console for a TTY comes with the terminal: pty.h.)
#pragma once

#include <cstdint>

#include "sandbox/launch.h"

namespace sockerless::sandbox {

void setup_dev(const ErrorChannel& errors, int root_fd, std::int64_t shm_size);

}  // namespace sockerless::sandbox
