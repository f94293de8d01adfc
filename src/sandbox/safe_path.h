// Paths inside a container's root, resolved as if that root were "/": "..", absolute
// symlinks and symlinks pointing upwards all stay inside (openat2 RESOLVE_IN_ROOT), so an
// image cannot steer a mount, a created directory or a device node onto the host.
// Child-side code: failures come back as an invalid fd with errno set, never as throws.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "common/unique_fd.h"

namespace sockerless::sandbox {

// openat2(root_fd, path, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS).
UniqueFd open_in_root(int root_fd, std::string_view path, int flags);

// Creates every missing directory of `path` with `mode` (owned by uid/gid unless they
// are -1) and returns an O_PATH fd of the last one.
UniqueFd mkdir_all_in_root(int root_fd, std::string_view path, mode_t mode,
                           uid_t uid = static_cast<uid_t>(-1), gid_t gid = static_cast<gid_t>(-1));

// Creates the parents and an empty file where nothing exists yet; returns an O_PATH fd
// of whatever is at `path` then.
UniqueFd ensure_file_in_root(int root_fd, std::string_view path);

// The names in the directory `dir_fd` (without "." and ".."), sorted bytewise; empty
// when it cannot be read.
std::vector<std::string> directory_names(int dir_fd);

// "/proc/self/fd/N": a name for what `fd` refers to, usable as a mount source or target.
std::string fd_path(int fd);

}  // namespace sockerless::sandbox
