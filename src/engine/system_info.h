// Facts about the host, read once at start-up, for /info and /version.
#pragma once

#include <cstdint>
#include <string>

namespace sockerless::engine {

struct HostFacts {
  std::string hostname;
  std::string kernel_version;    // uname release
  std::string architecture;      // uname machine: "x86_64"
  std::string go_arch;           // the same in Go's naming, as /version reports it: "amd64"
  std::string operating_system;  // PRETTY_NAME from os-release
  std::string os_version;        // VERSION_ID from os-release
  int ncpu = 1;
  std::int64_t mem_total = 0;
  std::string cgroup_version;  // "1" or "2"
  bool ipv4_forwarding = false;
};

HostFacts read_host_facts();

}  // namespace sockerless::engine
