#include "monitor/roles.h"

#include <unistd.h>

#include <filesystem>

#include "monitor/archive_relay.h"
#include "monitor/exec_relay.h"
#include "monitor/monitor.h"

namespace sockerless::monitor {

std::optional<int> run_role(const std::vector<std::string>& args) {
  if (args.size() != 3) return std::nullopt;
  const std::string& role = args[1];
  if (role != "monitor" && role != "archive" && role != "exec-relay") return std::nullopt;
  // Every role detaches from the daemon first: the daemon reaps this first process.
  pid_t child = ::fork();
  if (child < 0) return 1;
  if (child > 0) ::_exit(0);
  if (role == "monitor") return run(args[2], 3);
  if (role == "archive") return run_archive_relay(3);
  ::setsid();
  return run_exec_relay(args[2], 3);
}

std::string role_binary(const std::string& daemon_exe) {
  std::filesystem::path sibling =
      std::filesystem::path(daemon_exe).parent_path() / "sockerless-monitor";
  if (::access(sibling.c_str(), X_OK) == 0) return sibling.string();
  return daemon_exe;
}

}  // namespace sockerless::monitor
