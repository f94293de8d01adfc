#include "engine/system_info.h"

#include <sys/statfs.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <linux/magic.h>
#include <fstream>

namespace sockerless::engine {
namespace {

std::string os_release_field(const std::string& key) {
  for (const char* path : {"/etc/os-release", "/usr/lib/os-release"}) {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind(key + "=", 0) != 0) continue;
      std::string v = line.substr(key.size() + 1);
      if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'')) v = v.substr(1, v.size() - 2);
      return v;
    }
  }
  return "";
}

std::string go_arch(const std::string& machine) {
  if (machine == "x86_64") return "amd64";
  if (machine == "aarch64") return "arm64";
  if (machine == "i686" || machine == "i386") return "386";
  if (machine.rfind("armv", 0) == 0) return "arm";
  return machine;
}

}  // namespace

HostFacts read_host_facts() {
  HostFacts f;
  utsname u{};
  if (::uname(&u) == 0) {
    f.hostname = u.nodename;
    f.kernel_version = u.release;
    f.architecture = u.machine;
    f.go_arch = go_arch(u.machine);
  }
  f.operating_system = os_release_field("PRETTY_NAME");
  if (f.operating_system.empty()) f.operating_system = "Linux";
  f.os_version = os_release_field("VERSION_ID");
  long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  f.ncpu = n > 0 ? static_cast<int>(n) : 1;
  struct sysinfo si {};
  if (::sysinfo(&si) == 0) f.mem_total = static_cast<std::int64_t>(si.totalram) * si.mem_unit;
  struct statfs sf {};
  f.cgroup_version =
      (::statfs("/sys/fs/cgroup", &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC) ? "2" : "1";
  std::ifstream fwd("/proc/sys/net/ipv4/ip_forward");
  int v = 0;
  f.ipv4_forwarding = (fwd >> v) && v == 1;
  return f;
}

}  // namespace sockerless::engine
