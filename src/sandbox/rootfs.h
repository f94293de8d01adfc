// The container's root filesystem: overlayfs over the image's layers with upper/ and work/
// in the state dir (or, where that can't be mounted, a copy of the layers), and the move
// into it with pivot_root. Child-side code: failures go through the ErrorChannel.
#pragma once

#include <string>
#include <vector>

#include "sandbox/launch.h"
#include "sandbox/layout.h"

namespace sockerless::sandbox {

// The overlay mount data: overlayfs wants the TOP layer first, the spec lists them bottom
// first. ',' ':' and '\' in paths are escaped.
std::string overlay_options(const std::vector<std::string>& lower_bottom_first,
                            const std::string& upper, const std::string& work);

// Makes this mount namespace's mounts slaves of the host's: mount events flow in, never
// out, so nothing the container mounts (its root included) appears on the host. Right
// after clone the copies are still peers of the host's shared mounts.
void isolate_mounts(const ErrorChannel& errors);

// Mounts the root at layout.rootfs: overlay, else a copy (kept across restarts: the
// marker layout.copied says rootfs/ already holds the container's files).
void mount_rootfs(const ErrorChannel& errors, const StateLayout& layout,
                  const std::vector<std::string>& lower_bottom_first);

// pivot_root into `rootfs` and detach the old root.
void enter_rootfs(const ErrorChannel& errors, const std::string& rootfs);

// After enter_rootfs: "/" read-only (the mounts on top of it keep their own flags).
void make_root_readonly(const ErrorChannel& errors);

}  // namespace sockerless::sandbox
