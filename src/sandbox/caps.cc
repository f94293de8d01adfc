#include "sandbox/caps.h"

#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <fstream>

#include "sandbox/sandbox.h"

namespace sockerless::sandbox {
namespace {

constexpr std::array<std::string_view, 41> kNames = {
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
};

constexpr std::array<std::string_view, 14> kDockerDefaults = {
    "CHOWN",  "DAC_OVERRIDE", "FSETID",  "FOWNER",           "MKNOD",      "NET_RAW", "SETGID",
    "SETUID", "SETFCAP",      "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL",    "AUDIT_WRITE",
};

std::string normalize(std::string_view name) {
  std::string up;
  for (char c : name)
    up += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (up == "ALL" || up.rfind("CAP_", 0) == 0) return up;
  return "CAP_" + up;
}

CapabilitySet bit(int n) {
  return CapabilitySet{1} << n;
}

}  // namespace

int last_capability() {
  static const int last = [] {
    std::ifstream in("/proc/sys/kernel/cap_last_cap");
    int n = 0;
    if (in >> n && n > 0 && n < 64) return n;
    return CAP_LAST_CAP;
  }();
  return last;
}

CapabilitySet all_capabilities() {
  int last = last_capability();
  return last >= 63 ? ~CapabilitySet{0} : (bit(last + 1) - 1);
}

CapabilitySet default_capabilities() {
  CapabilitySet set = 0;
  for (auto name : kDockerDefaults)
    set |= bit(*capability_number(name));
  return set;
}

std::optional<int> capability_number(std::string_view name) {
  std::string n = normalize(name);
  if (n.rfind("CAP_", 0) != 0) return std::nullopt;
  std::string_view bare = std::string_view(n).substr(4);
  for (std::size_t i = 0; i < kNames.size(); ++i)
    if (kNames[i] == bare) return static_cast<int>(i);
  return std::nullopt;
}

std::string capability_name(int number) {
  if (number >= 0 && static_cast<std::size_t>(number) < kNames.size())
    return "CAP_" + std::string(kNames[static_cast<std::size_t>(number)]);
  return "CAP_" + std::to_string(number);
}

CapabilitySet container_capabilities(bool privileged, const std::vector<std::string>& add,
                                     const std::vector<std::string>& drop) {
  if (privileged) return all_capabilities();
  auto parse = [](const std::vector<std::string>& names, bool& all) {
    CapabilitySet set = 0;
    for (const auto& name : names) {
      std::string n = normalize(name);
      if (n == "ALL") {
        all = true;
        continue;
      }
      auto number = capability_number(n);
      if (!number) throw SandboxError("capabilities", "unknown capability: \"" + n + "\"");
      set |= bit(*number);
    }
    return set;
  };
  bool add_all = false, drop_all = false;
  CapabilitySet added = parse(add, add_all);
  CapabilitySet dropped = parse(drop, drop_all);
  if (add_all) return all_capabilities() & ~dropped;
  if (drop_all) return added & all_capabilities();
  return ((default_capabilities() & ~dropped) | added) & all_capabilities();
}

int restrict_bounding_set(CapabilitySet caps) {
  for (int cap = 0; cap <= last_capability(); ++cap) {
    if (caps & bit(cap)) continue;
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) return errno;
  }
  if (::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) return errno;
  return 0;
}

int set_process_capabilities(CapabilitySet caps, bool root) {
  __user_cap_header_struct header{};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  header.pid = 0;
  __user_cap_data_struct data[2]{};
  // Nobody can grant what they don't hold: a daemon that is itself confined (root in a
  // container without every capability) gives "privileged" containers what it has.
  if (::syscall(SYS_capget, &header, data) != 0) return errno;
  CapabilitySet held = data[0].permitted | (CapabilitySet{data[1].permitted} << 32);
  CapabilitySet granted = root ? (caps & held) : 0;
  for (int i = 0; i < 2; ++i) {
    auto word = static_cast<std::uint32_t>(granted >> (32 * i));
    data[i].effective = word;
    data[i].permitted = word;
    data[i].inheritable = 0;
  }
  if (::syscall(SYS_capset, &header, data) != 0) return errno;
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
    return errno;
  if (::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) return errno;
  return 0;
}

}  // namespace sockerless::sandbox
