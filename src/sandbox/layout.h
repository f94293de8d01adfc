// Where a container's sandbox keeps its files inside ContainerSpec::state_dir. Shared by
// spawn (which creates them) and cleanup (which removes them).
#pragma once

#include <string>

namespace sockerless::sandbox {

struct StateLayout {
  explicit StateLayout(const std::string& state_dir);

  std::string state_dir;
  std::string upper;        // overlay upperdir: the container's changes
  std::string work;         // overlay workdir
  std::string rootfs;       // the root's mount point (or the copied root, see below)
  std::string empty_lower;  // lowerdir for an image without layers
  std::string copied;       // marker: rootfs holds a copy of the layers (no overlayfs)
  std::string hosts, hostname, resolv_conf;  // generated /etc files
};

// Creates the directories spawn needs; throws SandboxError("prepare state dir", …).
void prepare_state_dir(const StateLayout& layout);

}  // namespace sockerless::sandbox
