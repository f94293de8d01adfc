// probe_host(): what this host offers the sandbox, for start-up checks and /info.
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "sandbox/cgroups.h"
#include "sandbox/sandbox.h"
#include "sandbox/userns.h"

namespace sockerless::sandbox {
namespace {

bool filesystem_known(const std::string& name) {
  std::ifstream in("/proc/filesystems");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string a, b;
    words >> a >> b;
    if ((b.empty() ? a : b) == name) return true;
  }
  return false;
}

// cgroup.freeze arrived with Linux 5.2.
bool kernel_at_least(int major, int minor) {
  utsname u{};
  if (::uname(&u) != 0) return false;
  int ma = 0, mi = 0;
  std::sscanf(u.release, "%d.%d", &ma, &mi);
  return ma > major || (ma == major && mi >= minor);
}

}  // namespace

HostSupport probe_host() {
  HostSupport host;
  // overlay is often a module: listed once loaded, and mount(2) loads it on demand.
  utsname u{};
  ::uname(&u);
  host.overlayfs =
      filesystem_known("overlay") ||
      ::access((std::string("/lib/modules/") + u.release + "/kernel/fs/overlayfs").c_str(), F_OK) ==
          0;
  auto hierarchies = find_hierarchies();
  bool any_v1 = false, any_v2 = false;
  for (const auto& h : hierarchies) {
    (h.unified ? any_v2 : any_v1) = true;
    host.memory_cgroup |= h.has("memory");
    host.cpu_cgroup |= h.has("cpu");
    host.pids_cgroup |= h.has("pids");
    host.freezer_cgroup |= h.has("freezer") || (h.unified && kernel_at_least(5, 2));
  }
  host.cgroups_v2 = any_v2 && !any_v1;

  if (needs_user_namespace()) {
    host.rootless = describe_rootless(own_id_mapping());
    host.warnings.push_back("WARNING: " + host.rootless);
  }
  if (!host.overlayfs)
    host.warnings.push_back(
        "WARNING: overlayfs is not available: containers get a copy of their image's layers");
  if (hierarchies.empty())
    host.warnings.push_back(
        "WARNING: no cgroup filesystem is mounted: no resource limits, stats or freezer");
  if (!host.memory_cgroup) host.warnings.push_back("WARNING: No memory limit support");
  if (!host.cpu_cgroup) host.warnings.push_back("WARNING: No cpu shares support");
  if (!host.pids_cgroup) host.warnings.push_back("WARNING: No pids limit support");
  if (!host.freezer_cgroup)
    host.warnings.push_back("WARNING: No freezer support: pause uses SIGSTOP/SIGCONT");
  return host;
}

}  // namespace sockerless::sandbox
