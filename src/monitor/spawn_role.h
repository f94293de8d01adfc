// Starting the daemon's own binary in one of its helper roles (monitor, exec relay,
// archive relay), and writing to the sockets between them.
#pragma once

#include <string>
#include <string_view>

namespace sockerless::monitor {

// Runs `self_exe <role> <dir>` with `fd3` as its descriptor 3, stdin/stdout on /dev/null
// and stderr appended to `log_path`. The role detaches at once (forks, its first process
// exits); that first process is reaped here. Throws std::runtime_error naming `what`.
void spawn_role(const std::string& self_exe, const std::string& role, const std::string& dir,
                int fd3, const std::string& log_path, const std::string& what);

// Writes all of `data` to a socket (waiting out EAGAIN); false once the peer is gone.
bool send_all(int fd, std::string_view data);

}  // namespace sockerless::monitor
