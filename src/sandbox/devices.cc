#include "sandbox/devices.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "common/unique_fd.h"
#include "sandbox/safe_path.h"

namespace sockerless::sandbox {
namespace {

struct Device {
  const char* name;
  unsigned major, minor;
};

constexpr Device kDevices[] = {
    {"null", 1, 3},   {"zero", 1, 5},    {"full", 1, 7},
    {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
};

constexpr struct {
  const char* name;
  const char* target;
} kLinks[] = {
    {"fd", "/proc/self/fd"},       {"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"},
    {"stderr", "/proc/self/fd/2"}, {"core", "/proc/kcore"},      {"ptmx", "pts/ptmx"},
};

// mknod where allowed; where not (a devices cgroup, a user namespace) the host's node is
// bind-mounted over an empty file.
void make_device(const ErrorChannel& errors, int dev_fd, const std::string& dev_path,
                 const Device& d) {
  std::string step = std::string("create /dev/") + d.name;
  if (::mknodat(dev_fd, d.name, S_IFCHR | 0666, makedev(d.major, d.minor)) == 0) {
    if (::fchmodat(dev_fd, d.name, 0666, 0) != 0) errors.fail_errno(step, errno);
    return;
  }
  if (errno != EPERM) errors.fail_errno(step, errno);
  UniqueFd f(::openat(dev_fd, d.name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0666));
  if (!f) errors.fail_errno(step, errno);
  std::string host = std::string("/dev/") + d.name;
  std::string target = dev_path + "/" + d.name;
  if (::mount(host.c_str(), target.c_str(), nullptr, MS_BIND, nullptr) != 0)
    errors.fail_errno(step, errno);
}

}  // namespace

void setup_dev(const ErrorChannel& errors, int root_fd, std::int64_t shm_size) {
  UniqueFd mount_point = mkdir_all_in_root(root_fd, "/dev", 0755);
  if (!mount_point) errors.fail_errno("mount /dev", errno);
  if (::mount("tmpfs", fd_path(mount_point.get()).c_str(), "tmpfs", MS_NOSUID | MS_STRICTATIME,
              "mode=755,size=65536k") != 0)
    errors.fail_errno("mount /dev", errno);
  // Inside our own fresh tmpfs nothing can be a symlink planted by the image: plain *at.
  UniqueFd dev = open_in_root(root_fd, "/dev", O_RDONLY | O_DIRECTORY);
  if (!dev) errors.fail_errno("mount /dev", errno);
  std::string dev_path = fd_path(dev.get());

  for (const auto& d : kDevices)
    make_device(errors, dev.get(), dev_path, d);

  if (::mkdirat(dev.get(), "pts", 0755) != 0) errors.fail_errno("mount /dev/pts", errno);
  std::string pts = dev_path + "/pts";
  // A devpts instance of its own: the container sees its ptys only, and ptmx in it works.
  unsigned long pts_flags = MS_NOSUID | MS_NOEXEC;
  if (::mount("devpts", pts.c_str(), "devpts", pts_flags,
              "newinstance,ptmxmode=0666,mode=0620,gid=5") != 0 &&
      ::mount("devpts", pts.c_str(), "devpts", pts_flags, "newinstance,ptmxmode=0666,mode=0620") !=
          0)
    errors.fail_errno("mount /dev/pts", errno);

  if (::mkdirat(dev.get(), "shm", 01777) != 0 || ::fchmodat(dev.get(), "shm", 01777, 0) != 0)
    errors.fail_errno("mount /dev/shm", errno);
  std::string shm_options = "mode=1777";
  if (shm_size > 0) shm_options += ",size=" + std::to_string(shm_size);
  if (::mount("shm", (dev_path + "/shm").c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              shm_options.c_str()) != 0)
    errors.fail_errno("mount /dev/shm", errno);

  // POSIX message queues of the container's own IPC namespace; optional in docker too.
  if (::mkdirat(dev.get(), "mqueue", 0755) == 0)
    ::mount("mqueue", (dev_path + "/mqueue").c_str(), "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC,
            nullptr);

  for (const auto& link : kLinks)
    if (::symlinkat(link.target, dev.get(), link.name) != 0)
      errors.fail_errno(std::string("create /dev/") + link.name, errno);
}

}  // namespace sockerless::sandbox
