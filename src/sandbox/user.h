// Who the container's process runs as: docker's (runc's) reading of "user", "uid",
// "user:group", "uid:gid" against the image's /etc/passwd and /etc/group, and the
// switch to that identity.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace sockerless::sandbox {

struct ExecUser {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary
  std::string home = "/";
};

// `passwd`/`group`: the files' contents, nullopt when the image has none. Returns docker's
// error message ("unable to find user app: no matching entries in passwd file") instead
// of throwing, because it runs in the child.
std::variant<ExecUser, std::string> resolve_user(std::string_view spec,
                                                 const std::vector<std::string>& additional_groups,
                                                 const std::optional<std::string>& passwd,
                                                 const std::optional<std::string>& group);

// The same against /etc/passwd and /etc/group of the current root (after pivot_root).
std::variant<ExecUser, std::string> resolve_user_in_root(
    std::string_view spec, const std::vector<std::string>& additional_groups);

// Child side: setgroups, setgid, setuid. Returns 0 or an errno.
int switch_user(const ExecUser& user);

}  // namespace sockerless::sandbox
