// What docker cp sees of a container, as dockerd's archive API does: the root filesystem
// with the container's volumes and bind mounts on it and, once it has run, the generated
// /etc/hosts, /etc/hostname and /etc/resolv.conf; never what only the running container
// mounts for itself (/proc, /sys, /dev, tmpfs mounts), whose contents dockerd cannot see.
#pragma once

#include <sys/types.h>

#include "sandbox/sandbox.h"

namespace sockerless::sandbox {

// What the view holds besides the root filesystem.
enum class ArchiveMounts {
  kWithVolumes,  // docker cp: volumes, bind mounts and the generated /etc files
  kNone,         // docker export: the root filesystem alone
};

// Makes "/" that view for the calling process, which must be single-threaded and never
// go back to the host's files: a private copy of the running container's mount namespace
// (`running_pid` > 0) without its runtime mounts, or a new mount namespace with the
// stopped (or never started) container's root and mounts set up as start would. Throws
// SandboxError.
void enter_archive_view(const ContainerSpec& spec, pid_t running_pid, ArchiveMounts mounts);

}  // namespace sockerless::sandbox
