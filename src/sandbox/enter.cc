// enter(): a process joining a running container (docker exec).
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/unique_fd.h"
#include "sandbox/caps.h"
#include "sandbox/cgroups.h"
#include "sandbox/launch.h"
#include "sandbox/process.h"
#include "sandbox/rlimits.h"
#include "sandbox/sandbox.h"
#include "sandbox/user.h"

namespace sockerless::sandbox {
namespace {

// Joined in this order. The pid namespace applies to children only, so the ones up to it
// are joined before the clone; cgroup after joining the cgroups (a delegating cgroupfs
// refuses moves from inside a namespace), mount last because it moves root and cwd.
constexpr struct {
  const char* name;
  int type;
} kNamespaces[] = {
    {"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS},       {"net", CLONE_NEWNET},
    {"pid", CLONE_NEWPID}, {"cgroup", CLONE_NEWCGROUP}, {"mnt", CLONE_NEWNS},
};
constexpr std::size_t kBeforeClone = 4;
constexpr std::size_t kStdio = 3;
constexpr std::size_t kRootFd = kStdio + std::size(kNamespaces);

UniqueFd open_proc(pid_t pid, const std::string& what, int flags) {
  std::string path = "/proc/" + std::to_string(pid) + "/" + what;
  UniqueFd fd(::open(path.c_str(), flags | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT || errno == ESRCH)
      throw SandboxError("exec", "container process " + std::to_string(pid) + " is not running");
    throw SandboxError("exec", path + ": " + std::strerror(errno));
  }
  return fd;
}

void join(const ErrorChannel& errors, const std::vector<int>& fds, std::size_t i) {
  if (::setns(fds[kStdio + i], kNamespaces[i].type) != 0)
    errors.fail_errno(std::string("join ") + kNamespaces[i].name + " namespace", errno);
}

}  // namespace

pid_t enter(pid_t container_pid, const ContainerSpec& container, const ExecSpec& exec,
            const Stdio& stdio) {
  if (exec.argv.empty() || exec.argv.front().empty())
    throw SandboxError("exec", "no command specified");
  ProcessSpec process;
  process.argv = exec.argv;
  process.env = exec.env;
  process.working_dir = !exec.working_dir.empty()        ? exec.working_dir
                        : !container.working_dir.empty() ? container.working_dir
                                                         : "/";
  process.caps = exec.privileged ? all_capabilities()
                                 : container_capabilities(container.privileged, container.cap_add,
                                                          container.cap_drop);
  process.rlimits = parse_rlimits(container.ulimits);
  process.tty = exec.tty;
  const std::string user_spec = exec.user.empty() ? container.user : exec.user;

  // Opened here, in the caller's /proc: once in the container's mount namespace its own
  // procfs would number the processes differently.
  std::vector<UniqueFd> held;
  LaunchSpec launch_spec;
  launch_spec.inherit = {stdio.in, stdio.out, stdio.err};
  for (const auto& ns : kNamespaces) {
    held.push_back(open_proc(container_pid, std::string("ns/") + ns.name, O_RDONLY));
    launch_spec.inherit.push_back(held.back().get());
  }
  held.push_back(open_proc(container_pid, "root", O_RDONLY | O_DIRECTORY));
  launch_spec.inherit.push_back(held.back().get());
  const std::vector<std::string> cgroup_procs = procs_files(existing_cgroups(container), container);

  launch_spec.before_clone = [&](const ErrorChannel& errors, const std::vector<int>& fds) {
    for (std::size_t i = 0; i < kBeforeClone; ++i)
      join(errors, fds, i);
  };
  launch_spec.child = [&](ErrorChannel& errors, const std::vector<int>& fds) {
    // The cgroups through the host's cgroupfs, still visible before the mount namespace.
    if (int err = join_cgroups(cgroup_procs)) errors.fail_errno("join cgroups", err);
    for (std::size_t i = kBeforeClone; i < std::size(kNamespaces); ++i)
      join(errors, fds, i);
    if (::fchdir(fds[kRootFd]) != 0 || ::chroot(".") != 0 || ::chdir("/") != 0)
      errors.fail_errno("enter container root", errno);
    auto user = resolve_user_in_root(user_spec, container.additional_groups);
    if (auto* message = std::get_if<std::string>(&user)) errors.fail("user", *message);
    ProcessSpec p = process;
    p.user = std::get<ExecUser>(user);
    exec_process(errors, p, fds[0], fds[1], fds[2]);
  };
  return launch(launch_spec);
}

}  // namespace sockerless::sandbox
