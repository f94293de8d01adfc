// /proc and /sys in the container, and docker's hiding of the parts of them that describe
// or control the host (masked and read-only paths) for unprivileged containers.
#pragma once

#include "sandbox/launch.h"

namespace sockerless::sandbox {

// A procfs of the container's pid namespace.
void mount_proc(const ErrorChannel& errors, int root_fd);

// sysfs (read-only unless privileged); where sysfs can't be mounted, the host's /sys
// bound instead.
void mount_sys(const ErrorChannel& errors, int root_fd, bool readonly);

// Masks /proc/kcore, /proc/keys, /sys/firmware, … (an empty file or directory over them)
// and makes /proc/sys, /proc/sysrq-trigger, … read-only. After /dev exists.
void restrict_proc_and_sys(const ErrorChannel& errors, int root_fd);

}  // namespace sockerless::sandbox
