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
#include "sandbox/pty.h"
#include "sandbox/rlimits.h"
#include "sandbox/sandbox.h"
#include "sandbox/user.h"
#include "sandbox/userns.h"

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
constexpr std::size_t kPtySocket = kRootFd + 1;
constexpr std::size_t kUserNs = kPtySocket + 1;

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

Started enter(pid_t container_pid, const ContainerSpec& container, const ExecSpec& exec,
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
  PtyChannel pty;
  if (exec.tty) pty = make_pty_channel();
  launch_spec.inherit.push_back(pty.child.get());
  held.push_back(foreign_user_namespace(container_pid));
  launch_spec.inherit.push_back(held.back().get());
  const std::vector<std::string> cgroup_procs = procs_files(existing_cgroups(container), container);

  launch_spec.before_clone = [&](const ErrorChannel& errors, const std::vector<int>& fds) {
    // First: its capabilities there are what allow joining the namespaces it owns.
    if (fds[kUserNs] >= 0 && ::setns(fds[kUserNs], CLONE_NEWUSER) != 0)
      errors.fail_errno("join user namespace", errno);
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
    int in = fds[0], out = fds[1], err = fds[2];
    if (exec.tty)
      in = out = err = open_container_pty(errors, fds[kPtySocket], exec.tty_size, false);
    auto user = resolve_user_in_root(user_spec, container.additional_groups);
    if (auto* message = std::get_if<std::string>(&user)) errors.fail("user", *message);
    ProcessSpec p = process;
    p.user = std::get<ExecUser>(user);
    exec_process(errors, p, in, out, err);
  };
  Started started{launch(launch_spec), {}};
  if (exec.tty) started.pty = receive_pty_master(pty.parent.get(), started.pid);
  return started;
}

}  // namespace sockerless::sandbox
