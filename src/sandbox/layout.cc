#include "sandbox/layout.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "sandbox/sandbox.h"

namespace sockerless::sandbox {

StateLayout::StateLayout(const std::string& dir)
    : state_dir(dir),
      upper(dir + "/upper"),
      work(dir + "/work"),
      rootfs(dir + "/rootfs"),
      empty_lower(dir + "/empty"),
      copied(dir + "/rootfs.copied"),
      hosts(dir + "/hosts"),
      hostname(dir + "/hostname"),
      resolv_conf(dir + "/resolv.conf") {}

namespace {

void make_dir(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST)
    throw SandboxError("prepare state dir", path + ": " + std::strerror(errno));
  // mkdir is subject to the umask; the upper dir's mode becomes the mode of the
  // container's "/", which must be 0755 like an image's root.
  if (::chmod(path.c_str(), mode) != 0)
    throw SandboxError("prepare state dir", path + ": " + std::strerror(errno));
}

}  // namespace

void prepare_state_dir(const StateLayout& layout) {
  if (layout.state_dir.empty() || layout.state_dir.front() != '/')
    throw SandboxError("prepare state dir", "not an absolute path: \"" + layout.state_dir + "\"");
  std::error_code ec;
  std::filesystem::create_directories(layout.state_dir, ec);
  if (ec) throw SandboxError("prepare state dir", layout.state_dir + ": " + ec.message());
  make_dir(layout.state_dir, 0711);
  make_dir(layout.upper, 0755);
  make_dir(layout.work, 0700);
  make_dir(layout.rootfs, 0755);
  make_dir(layout.empty_lower, 0755);
}

}  // namespace sockerless::sandbox
