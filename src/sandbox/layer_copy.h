// The fallback for hosts where overlayfs can't be mounted (say, a state dir that is itself
// on overlayfs): the image's layers copied into one directory, bottom first, applying
// overlay whiteouts (0:0 character devices, trusted.overlay.opaque directories) as the
// mount would have. Ownership, modes, times, xattrs, hard links, symlinks and device
// nodes are kept.
#pragma once

#include <string>
#include <vector>

namespace sockerless::sandbox {

// Returns "" or what went wrong ("copying /l1/bin/sh: No space left on device"). Doesn't
// throw: runs in the sandbox's child.
std::string copy_layers(const std::vector<std::string>& lower_bottom_first,
                        const std::string& dest);

// Removes everything inside `dir` (not `dir` itself). Returns 0 or an errno.
int clear_directory(const std::string& dir);

}  // namespace sockerless::sandbox
