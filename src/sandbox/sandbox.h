// The sandbox: a container as a process tree in its own Linux namespaces, rooted in an
// image's unpacked layers through overlayfs (DESIGN.md, "The memory backend"). This is
// the low level; the per-container monitor process (src/monitor) drives it, and the
// engine never calls it directly.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/unique_fd.h"

namespace sockerless::sandbox {

// A failed step, named: "mount overlay rootfs: Permission denied".
class SandboxError : public std::runtime_error {
 public:
  SandboxError(const std::string& step, const std::string& detail)
      : std::runtime_error(step + ": " + detail), step_(step) {}
  const std::string& step() const { return step_; }

 private:
  std::string step_;
};

struct Mount {
  std::string type;    // "bind" or "tmpfs"
  std::string source;  // host path for bind
  std::string target;  // path inside the container (absolute)
  bool readonly = false;
  bool recursive = true;        // bind: rbind unless bind-nonrecursive
  std::string propagation;      // "", "private", "rprivate", "shared", "rshared", "slave", "rslave"
  std::int64_t tmpfs_size = 0;  // bytes; 0 = default
  unsigned tmpfs_mode = 01777;
};

struct Ulimit {
  std::string name;  // "nofile", "nproc", "core", … (docker's names)
  std::int64_t soft = 0, hard = 0;
};

struct Resources {
  std::int64_t memory = 0;      // bytes; 0 = unlimited
  std::int64_t cpu_shares = 0;  // relative weight; 0 = default
  std::int64_t cpu_quota = 0;   // microseconds per period; 0 = unlimited
  std::int64_t cpu_period = 0;  // microseconds; 0 = default (100000)
  std::int64_t pids_limit = 0;  // 0 or -1 = unlimited
  std::int64_t memory_swap =
      0;  // memory + swap; 0 = twice memory (docker's default), -1 = no limit
};

struct ContainerSpec {
  std::string id;                       // 64 hex
  std::vector<std::string> lower_dirs;  // unpacked image layers, BOTTOM first
  // A directory the sandbox owns for this container: it creates upper/, work/, rootfs/
  // (the overlay mount point), and the generated hosts, hostname and resolv.conf here.
  std::string state_dir;
  std::vector<std::string> argv;  // what to run (entrypoint + cmd, already resolved)
  std::vector<std::string> env;   // "K=V"
  std::string working_dir;        // absolute; created if missing; "" = "/"
  std::string user;  // "", "name", "uid", "uid:gid", "name:group"; names from the rootfs
  std::vector<std::string> additional_groups;
  std::string hostname;
  std::string domainname;
  std::vector<std::string> extra_hosts;  // "name:ip" (docker --add-host)
  std::vector<std::string> dns_servers;  // empty: the host's resolv.conf nameservers
  std::vector<std::string> dns_search;
  std::vector<std::string> dns_options;
  bool tty = false;
  bool readonly_rootfs = false;
  bool privileged = false;
  bool init = false;  // a minimal PID 1 that reaps zombies and forwards signals
  std::vector<std::string> cap_add, cap_drop;  // "NET_ADMIN" or "CAP_NET_ADMIN", "ALL"
  std::vector<Ulimit> ulimits;
  std::int64_t shm_size = 64 << 20;
  std::string network_mode = "default";  // "none" and "default": own netns with lo up; "host"
  // A network namespace prepared by the caller (bridge networks: veths already in it) to
  // join instead of a new one; and the container's address there, for /etc/hosts.
  std::string netns_path;
  std::string ip_address;
  Resources resources;
  std::string cgroup_parent = "sockerless";  // cgroup path prefix under each hierarchy
  std::vector<Mount> mounts;
};

// The process's standard streams (-1: /dev/null). Unused with a TTY: the process then
// gets a terminal of the container's own devpts (/dev/pts/N, as under docker) as stdin,
// stdout, stderr and controlling terminal.
struct Stdio {
  int in = -1, out = -1, err = -1;
};

struct WindowSize {
  unsigned short rows = 0, cols = 0;  // 0: leave the kernel's default
};

// A sandboxed process that runs: its pid (in the caller's pid namespace) and, with a
// TTY, the terminal's master side for the caller to relay and resize.
struct Started {
  pid_t pid = -1;
  UniqueFd pty;
};

// Starts the container: namespaces, overlay root, mounts, /proc /dev /sys, generated
// /etc files, user, capabilities, rlimits, cgroups, then execs spec.argv. Returns the
// container's first process once argv has been exec'd successfully (with spec.tty, its
// terminal is also bound over /dev/console). On failure nothing is left behind (mounts, cgroups,
// the process) and SandboxError names the step; a missing executable gives step "exec" and the
// detail "exec: \"foo\": executable file not found in $PATH" (docker's wording, so the engine can
// map it to exit code 127), not executable → 126.
Started spawn(const ContainerSpec& spec, const Stdio& stdio);

struct ExecSpec {
  std::vector<std::string> argv;
  std::vector<std::string> env;  // the container's env merged with the exec's, by the caller
  std::string working_dir;       // "" = the container's
  std::string user;              // "" = the container's
  bool tty = false;
  WindowSize tty_size;  // set before the process starts
  bool privileged = false;
};

// Runs a process inside a running container (docker exec): joins the namespaces, root
// and cgroups of `container_pid`. Same error contract as spawn.
Started enter(pid_t container_pid, const ContainerSpec& container, const ExecSpec& exec,
              const Stdio& stdio);

// After the container's processes are gone: unmounts its root and mounts, removes its
// cgroups. Idempotent; keeps upper/ (the container's changes) unless `remove_changes`.
void cleanup(const ContainerSpec& spec, bool remove_changes);

// Whether the kernel's OOM killer has killed any of the container's processes since it
// started (its memory cgroup's oom_kill count). Ask before cleanup(), which removes the
// cgroup; false on a host without a memory cgroup.
bool oom_killed(const ContainerSpec& spec);

// docker update: writes spec.resources to the running container's cgroups (a pids limit
// of 0 or -1 lifts the limit). Throws SandboxError("cgroups", …) when the kernel refuses.
void update_resources(const ContainerSpec& spec);

// Freezes or thaws every process of the container (freezer cgroup, else SIGSTOP/SIGCONT).
void pause(const ContainerSpec& spec, pid_t container_pid);
void resume(const ContainerSpec& spec, pid_t container_pid);

// What the host offers: checked at start-up; missing features become warnings in /info.
struct HostSupport {
  bool overlayfs = false;
  bool cgroups_v2 = false;
  bool memory_cgroup = false, cpu_cgroup = false, pids_cgroup = false, freezer_cgroup = false;
  // Not root: containers get a user namespace, and this says what they do without.
  std::string rootless;
  std::vector<std::string> warnings;
};
HostSupport probe_host();

}  // namespace sockerless::sandbox
