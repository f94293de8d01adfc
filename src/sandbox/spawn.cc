// spawn(): the container's first process, from an empty mount namespace to execve.
#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string_view>

#include "common/unique_fd.h"
#include "sandbox/caps.h"
#include "sandbox/cgroups.h"
#include "sandbox/devices.h"
#include "sandbox/etc_files.h"
#include "sandbox/launch.h"
#include "sandbox/layout.h"
#include "sandbox/mounts.h"
#include "sandbox/network.h"
#include "sandbox/process.h"
#include "sandbox/pty.h"
#include "sandbox/rootfs.h"
#include "sandbox/sandbox.h"
#include "sandbox/system_mounts.h"
#include "sandbox/user.h"
#include "sandbox/userns.h"

namespace sockerless::sandbox {
namespace {

// Everything the child needs, worked out (and checked) by the caller beforehand.
struct ContainerPlan {
  const ContainerSpec& spec;
  StateLayout layout;
  std::vector<Hierarchy> cgroups;
  ProcessSpec process;
  std::string hostname;
  bool own_netns = true;
};

void check_spec(const ContainerSpec& spec) {
  if (spec.argv.empty() || spec.argv.front().empty())
    throw SandboxError("spawn", "no command specified");
  bool id_ok =
      !spec.id.empty() && spec.id != "." && spec.id != ".." &&
      std::all_of(spec.id.begin(), spec.id.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
      });
  if (!id_ok) throw SandboxError("spawn", "invalid container id: \"" + spec.id + "\"");
  for (std::string_view rest = spec.cgroup_parent; !rest.empty();) {
    auto part = rest.substr(0, rest.find('/'));
    if (part == "." || part == "..")
      throw SandboxError("spawn", "invalid cgroup parent: \"" + spec.cgroup_parent + "\"");
    rest.remove_prefix(std::min(rest.size(), part.size() + 1));
  }
  if (!spec.working_dir.empty() && spec.working_dir.front() != '/')
    throw SandboxError("spawn", "the working directory '" + spec.working_dir +
                                    "' is invalid, it needs to be an absolute path");
  if (spec.network_mode != "default" && spec.network_mode != "none" &&
      spec.network_mode != "host" && spec.network_mode != "bridge" && !spec.network_mode.empty())
    throw SandboxError("spawn", "network mode not supported by the sandbox: " + spec.network_mode);
  validate_mounts(spec.mounts);
}

bool user_mount_at(const ContainerSpec& spec, const std::string& target) {
  return std::any_of(spec.mounts.begin(), spec.mounts.end(),
                     [&](const Mount& m) { return m.target == target; });
}

// The container's PID 1, in its new namespaces, until execve.
[[noreturn]] void container_main(ErrorChannel& errors, const ContainerPlan& plan,
                                 const std::vector<int>& fds) {
  const ContainerSpec& spec = plan.spec;
  ::umask(0);
  if (!spec.netns_path.empty()) {
    UniqueFd ns(::open(spec.netns_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns) errors.fail_errno("open network namespace " + spec.netns_path, errno);
    if (::setns(ns.get(), CLONE_NEWNET) != 0) errors.fail_errno("join network namespace", errno);
  }
  if (int err = join_cgroups(procs_files(plan.cgroups, spec)))
    errors.fail_errno("join cgroups", err);
  // Its own cgroup namespace once inside: /proc/self/cgroup and a cgroupfs mounted in the
  // container then start at the container's cgroup.
  if (::unshare(CLONE_NEWCGROUP) != 0) errors.fail_errno("cgroup namespace", errno);

  isolate_mounts(errors);
  mount_rootfs(errors, plan.layout, spec.lower_dirs);
  UniqueFd root(::open(plan.layout.rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) errors.fail_errno("open rootfs", errno);

  mount_proc(errors, root.get());
  setup_dev(errors, root.get(), spec.shm_size);
  mount_sys(errors, root.get(), !spec.privileged);
  mount_cgroups(root.get(), plan.cgroups, !spec.privileged);
  if (!spec.privileged) restrict_proc_and_sys(errors, root.get());
  const std::pair<const std::string*, const char*> etc_files[] = {
      {&plan.layout.hosts, "/etc/hosts"},
      {&plan.layout.hostname, "/etc/hostname"},
      {&plan.layout.resolv_conf, "/etc/resolv.conf"},
  };
  // The user's mounts first, the generated files over them: a volume at /etc still shows
  // the container's hosts, hostname and resolv.conf, as with dockerd.
  mount_user_mounts(errors, root.get(), spec.mounts);
  for (const auto& [source, target] : etc_files)
    if (!user_mount_at(spec, target)) bind_file(errors, root.get(), *source, target);

  if (::sethostname(plan.hostname.data(), plan.hostname.size()) != 0)
    errors.fail_errno("sethostname", errno);
  if (!spec.domainname.empty() &&
      ::setdomainname(spec.domainname.data(), spec.domainname.size()) != 0)
    errors.fail_errno("setdomainname", errno);
  if (plan.own_netns)
    if (int err = bring_up_loopback()) errors.fail_errno("bring up lo", err);

  root.reset();
  enter_rootfs(errors, plan.layout.rootfs);
  int in = fds[0], out = fds[1], err = fds[2];
  if (spec.tty) in = out = err = open_container_pty(errors, fds[3], {}, true);

  ProcessSpec process = plan.process;
  auto user = resolve_user_in_root(spec.user, spec.additional_groups);
  if (auto* message = std::get_if<std::string>(&user)) errors.fail("user", *message);
  process.user = std::get<ExecUser>(user);
  create_working_dir(errors, process.working_dir, process.user);
  if (spec.readonly_rootfs) make_root_readonly(errors);
  exec_process(errors, process, in, out, err);
}

}  // namespace

Started spawn(const ContainerSpec& spec, const Stdio& stdio) {
  check_spec(spec);
  ContainerPlan plan{spec,
                     StateLayout(spec.state_dir),
                     {},
                     {},
                     effective_hostname(spec),
                     wants_own_netns(spec.network_mode) && spec.netns_path.empty()};
  plan.process.argv = spec.argv;
  plan.process.env = spec.env;
  plan.process.working_dir = spec.working_dir.empty() ? "/" : spec.working_dir;
  plan.process.caps = container_capabilities(spec.privileged, spec.cap_add, spec.cap_drop);
  plan.process.rlimits = parse_rlimits(spec.ulimits);
  plan.process.tty = spec.tty;
  plan.process.init = spec.init;

  prepare_state_dir(plan.layout);
  write_etc_files(spec, plan.layout);
  plan.cgroups = create_cgroups(spec);

  LaunchSpec launch_spec;
  launch_spec.clone_flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC |
                            (plan.own_netns ? CLONE_NEWNET : 0);
  IdMapping ids;
  if (needs_user_namespace()) {
    ids = own_id_mapping();
    launch_spec.clone_flags |= CLONE_NEWUSER;
    launch_spec.map_ids = [&](const ErrorChannel& errors, pid_t child) {
      if (auto e = write_id_mapping(child, ids); !e.empty()) errors.fail("user namespace", e);
    };
  }
  PtyChannel pty;
  if (spec.tty) pty = make_pty_channel();
  launch_spec.inherit = {stdio.in, stdio.out, stdio.err, pty.child.get()};
  launch_spec.child = [&](ErrorChannel& errors, const std::vector<int>& fds) {
    container_main(errors, plan, fds);
  };
  try {
    Started started{launch(launch_spec), {}};
    if (spec.tty) started.pty = receive_pty_master(pty.parent.get(), started.pid);
    return started;
  } catch (...) {
    try {
      cleanup(spec, false);
    } catch (...) {
      // The launch error is the one worth reporting.
    }
    throw;
  }
}

}  // namespace sockerless::sandbox
