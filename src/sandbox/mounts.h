// The spec's bind and tmpfs mounts and the generated /etc files, mounted into the root
// before pivot_root. Targets resolve inside the root and are created when missing
// (safe_path.h); sources are host paths.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "sandbox/launch.h"
#include "sandbox/sandbox.h"

namespace sockerless::sandbox {

// Caller side: type, target, bind source and propagation make sense. Throws
// SandboxError("mounts", …) with docker's wording where it has one.
void validate_mounts(const std::vector<Mount>& mounts);

// MS_* for "rprivate", "shared", …; "" is docker's default for binds, rprivate. The
// container's mounts are slaves of the host's (isolate_mounts), so "shared" and "rshared"
// receive the host's mount events but, unlike docker, never send theirs back.
unsigned long propagation_flags(std::string_view propagation);

// Mounts them in order of depth, so that /a/b lands on /a. Fails as "mount <target>".
void mount_user_mounts(const ErrorChannel& errors, int root_fd, const std::vector<Mount>& mounts);

// Bind-mounts the host file `source` onto `target` in the root, creating it.
void bind_file(const ErrorChannel& errors, int root_fd, const std::string& source,
               const std::string& target);

// Remounts what is mounted at `path` read-only (all of it with `recursive`), keeping its
// nosuid/nodev/noexec. Returns 0 or an errno.
int remount_readonly(const std::string& path, bool recursive);

}  // namespace sockerless::sandbox
