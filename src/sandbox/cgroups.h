// A container's cgroups: one directory per mounted hierarchy (the v1 controllers, the v2
// unified tree, or both in hybrid mode), at <mount>/<cgroup_parent>/<id> as docker's
// cgroupfs driver does. Limits go to whichever hierarchy holds the controller; a host
// without it gets no limit (probe_host reports that).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "sandbox/sandbox.h"

namespace sockerless::sandbox {

struct Hierarchy {
  std::string mount;                     // "/sys/fs/cgroup/memory", "/sys/fs/cgroup"
  bool unified = false;                  // cgroup2
  std::vector<std::string> controllers;  // v1: from the mount ("name=systemd" too);
                                         // v2: the root's cgroup.controllers
  bool has(std::string_view controller) const;
};

// The hierarchies mounted in this mount namespace (/proc/self/mountinfo), each once.
std::vector<Hierarchy> find_hierarchies();

// The container's directory in `h`.
std::string container_cgroup(const Hierarchy& h, const ContainerSpec& spec);

// Creates the directories and writes spec.resources. Returns the hierarchies the
// container has a directory in (the others are read-only or broken: it does without).
// Throws SandboxError("cgroups", …) when a requested limit can't be set.
std::vector<Hierarchy> create_cgroups(const ContainerSpec& spec);

// The hierarchies where the container's cgroup exists (for exec).
std::vector<Hierarchy> existing_cgroups(const ContainerSpec& spec);

// The container's cgroup.procs file in each.
std::vector<std::string> procs_files(const std::vector<Hierarchy>& hierarchies,
                                     const ContainerSpec& spec);

// Child side: moves the calling process into each. Returns 0 or an errno.
int join_cgroups(const std::vector<std::string>& procs_files);

// Thaws, kills whatever is still inside, removes the directories. Idempotent.
// Throws SandboxError("remove cgroups", …) if a directory stays busy.
void remove_cgroups(const ContainerSpec& spec);

// Freezes or thaws the container's cgroup (v1 freezer, else v2 cgroup.freeze) and waits
// until the kernel says it's done. Returns false when no freezer is available.
bool freeze_cgroups(const ContainerSpec& spec, bool frozen);

}  // namespace sockerless::sandbox
