// /proc and /sys in the container, and docker's hiding of the parts of them that describe
// or control the host (masked and read-only paths) for unprivileged containers.
#pragma once

#include <vector>

#include "sandbox/cgroups.h"
#include "sandbox/launch.h"

namespace sockerless::sandbox {

// A procfs of the container's pid namespace.
void mount_proc(const ErrorChannel& errors, int root_fd);

// sysfs (read-only unless privileged); where sysfs can't be mounted, the host's /sys
// bound instead.
void mount_sys(const ErrorChannel& errors, int root_fd, bool readonly);

// /sys/fs/cgroup laid out as on the host, each hierarchy mounted afresh: in the
// container's cgroup namespace its root is the container's cgroup (read-only unless
// privileged). Best effort: a hierarchy that won't mount is left out.
void mount_cgroups(int root_fd, const std::vector<Hierarchy>& hierarchies, bool readonly);

// Masks /proc/kcore, /proc/keys, /sys/firmware, … (an empty file or directory over them)
// and makes /proc/sys, /proc/sysrq-trigger, … read-only. After /dev exists.
void restrict_proc_and_sys(const ErrorChannel& errors, int root_fd);

}  // namespace sockerless::sandbox
