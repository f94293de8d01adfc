// The helper roles a daemon spawns (`<binary> monitor|archive|exec-relay <dir>`, fd 3 the
// daemon's end): served by the small sockerless-monitor binary, and by sockerlessd itself
// when that binary is not beside it.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace sockerless::monitor {

// Runs the role args name and returns its exit code; nullopt when args name no role.
std::optional<int> run_role(const std::vector<std::string>& args);

// The binary to spawn for roles: sockerless-monitor beside `daemon_exe` when it is there
// (it loads far fewer libraries, so every container start and exec is quicker), else the
// daemon's own binary.
std::string role_binary(const std::string& daemon_exe);

}  // namespace sockerless::monitor
