// /proc/<pid>/mountinfo, parsed: what cgroup discovery and cleanup look at.
#pragma once

#include <string>
#include <vector>

namespace sockerless::sandbox {

struct MountEntry {
  std::string devno;        // "0:29": the same filesystem mounted twice shares it
  std::string root;         // the mounted subtree of that filesystem
  std::string mount_point;  // unescaped ("\040" → ' ')
  std::string fstype;
  std::string source;
  std::string super_options;
};

std::vector<MountEntry> read_mountinfo(const std::string& path = "/proc/self/mountinfo");

}  // namespace sockerless::sandbox
