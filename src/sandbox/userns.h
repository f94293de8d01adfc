// The user namespace of a daemon that is not root (rootless containers): the container's
// root is the daemon's own user, and where /etc/subuid and /etc/subgid give that user a
// subordinate range and the newuidmap/newgidmap helpers are installed, container ids
// 1..N map onto the range (as rootless Podman and Docker do). Without a range the
// namespace maps root only: the container cannot switch to another user.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/unique_fd.h"

namespace sockerless::sandbox {

struct IdRange {
  unsigned long inside = 0, outside = 0, count = 0;
};

struct IdMapping {
  std::vector<IdRange> uids, gids;
  std::string newuidmap, newgidmap;  // the helpers' paths, when the ranges need them
};

// Whether containers started by this process need a user namespace of their own.
bool needs_user_namespace();

// The mapping for the calling user. `subuid`/`subgid`: the files' contents; `path`: where
// to look for the helpers ($PATH's syntax).
IdMapping plan_id_mapping(uid_t uid, gid_t gid, const std::string& user_name,
                          const std::string& subuid, const std::string& subgid,
                          const std::string& path);
// The same for the calling process, from /etc/subuid, /etc/subgid and $PATH.
IdMapping own_id_mapping();

// From the parent user namespace: writes `pid`'s uid and gid maps (through the helpers
// for a range). Returns "" or what failed. Safe after fork (no allocation by the helpers'
// arguments beyond the caller's strings).
std::string write_id_mapping(pid_t pid, const IdMapping& mapping);

// The user namespace of `pid` when it is not the caller's (a rootless container's), else
// an invalid fd. An unprivileged process joins it first (setns CLONE_NEWUSER): its
// capabilities there are what let it join the container's other namespaces.
UniqueFd foreign_user_namespace(pid_t pid);

// One line for the start-up log and /info: what a rootless container can and cannot do.
std::string describe_rootless(const IdMapping& mapping);

}  // namespace sockerless::sandbox
