// The Backend contract: what differs per place of execution. The engine owns every Docker
// semantic (ids, names, states, events, logs, restart policies, filters); a backend only
// provisions, runs, signals and tears down what the engine asks for, and says up front
// which optional operations it can do. For anything it cannot, the engine answers
// 501 "<op> is not supported by the <name> backend" — never a silent fake.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "common/unique_fd.h"

namespace sockerless::engine {

class AgentClients;

// Optional operations. A backend that lacks one is never asked for it.
enum class Capability {
  Containers,  // prepare/start/signal/remove: running containers at all
  Exec,        // processes inside a running container
  Attach,      // the main process's stdio, live
  Pause,
  Archive,  // docker cp: stat, get, put
  Stats,
  Top,
  Commit,
  Build,
  Changes,
};

std::string capability_name(Capability c);

// Host facts a backend reports for GET /info.
struct BackendDescription {
  std::string name;    // as --backend takes it: "memory"
  std::string driver;  // shown as Info.Driver (storage driver)
  std::vector<std::pair<std::string, std::string>> driver_status;  // Info.DriverStatus
  std::vector<std::string> warnings;                               // Info.Warnings
  // Resource controls the backend can apply (Info.MemoryLimit, CpuCfsQuota, …).
  bool memory_limit = false, cpu_cfs = false, cpu_shares = false, pids_limit = false;
};

// Everything a backend may need from the daemon's configuration.
struct BackendOptions {
  std::string data_root;  // the backend's own directory beneath the daemon's data root
  std::map<std::string, std::string> settings;  // backend-specific keys from config/flags
};

// What the engine asks a backend to run: the container's main process with every Docker
// setting already resolved (image config merged with the request).
struct ContainerLaunch {
  std::string id;
  std::string name;  // without the leading "/"
  std::string image_id;
  std::string image_ref;  // as the user named it
  std::vector<std::string> argv;
  std::vector<std::string> env;
  std::string working_dir;
  std::string user;
  std::vector<std::string> group_add;  // HostConfig.GroupAdd: gids or names in /etc/group
  std::string hostname, domainname;
  bool tty = false;
  bool open_stdin = false;
  bool stdin_once = false;
  bool readonly_rootfs = false;
  bool privileged = false;
  bool init = false;
  std::vector<std::string> cap_add, cap_drop;
  struct Ulimit {
    std::string name;
    std::int64_t soft = 0, hard = 0;
  };
  std::vector<Ulimit> ulimits;
  std::int64_t shm_size = 64 << 20;
  std::string network_mode = "default";
  std::string netns_path;  // a prepared network namespace to join (bridge networks)
  std::string ip_address;  // the container's own address, for /etc/hosts
  std::vector<std::string> extra_hosts, dns, dns_search, dns_options;
  std::int64_t memory = 0, cpu_shares = 0, cpu_quota = 0, cpu_period = 0, pids_limit = 0;
  std::int64_t memory_swap = 0;  // 0: twice memory; -1: unlimited
  struct Mount {
    std::string type, source, target, propagation;
    bool readonly = false;
    bool recursive = true;  // bind: false for bind-nonrecursive
    std::int64_t tmpfs_size = 0;
    unsigned tmpfs_mode = 01777;
  };
  std::vector<Mount> mounts;
  // For backends that run locally: the image's unpacked layers, bottom first (unpacks on
  // first call).
  std::function<std::vector<std::string>()> rootfs_layers;
  // Clients that attached before the start: the backend connects each (as attach() would)
  // before the process runs, and hands over the connection — an invalid fd if it fails.
  struct EarlyAttach {
    bool in = false, out = false, err = false;
    std::function<void(UniqueFd)> deliver;
  };
  std::vector<EarlyAttach> early_attach;
};

// A process to run inside a running container (docker exec), settings resolved.
struct ExecLaunch {
  std::string id;
  std::vector<std::string> argv, env;
  std::string working_dir, user;
  bool tty = false, privileged = false, attach_stdin = false;
  int height = 0, width = 0;
};

// A path in a container, as docker cp's stat header describes it (mode in Go's
// os.FileMode bits, mtime in RFC 3339).
struct PathStat {
  std::string name;
  std::int64_t size = 0;
  std::uint32_t mode = 0;
  std::string mtime;
  std::string link_target;
};

// Resource usage of a running container (Capability::Stats), from its cgroups.
struct ResourceUsage {
  std::uint64_t cpu_total_ns = 0, cpu_user_ns = 0, cpu_system_ns = 0;
  std::vector<std::uint64_t> cpu_per_core_ns;
  std::uint64_t memory_usage = 0, memory_max_usage = 0, memory_limit = 0, memory_inactive_file = 0;
  std::uint64_t pids = 0, pids_limit = 0;
};

// How a main process ended.
struct ExitStatus {
  int code = 0;
  std::int64_t finished_at = 0;  // unix nanos
  bool oom_killed = false;
  std::string error;
};

// Where a started process is: enough for the backend to find it again after a restart.
struct StartResult {
  pid_t pid = 0;
  std::int64_t started_at = 0;  // unix nanos
};

// A start that failed: `exit_code` is what Docker records (127 not found, 126 not
// executable, 128 otherwise) and `message` says which step failed.
class StartFailure : public std::runtime_error {
 public:
  StartFailure(int exit_code, const std::string& message)
      : std::runtime_error(message), exit_code_(exit_code) {}
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

class Backend {
 public:
  virtual ~Backend() = default;

  // Whether the optional operation is available. Pure: same answer for the daemon's life.
  virtual bool supports(Capability capability) const = 0;

  // Facts for GET /info; cheap, called per request.
  virtual BackendDescription describe() const = 0;

  // Called once at start-up, before the API is served: verifies the host can run this
  // backend (privileges, kernel features, credentials) and throws std::runtime_error
  // explaining what is missing otherwise.
  virtual void check_host() = 0;

  // --- Containers (Capability::Containers) ---

  // Provisions and starts the main process; from here the backend owns its stdio: output
  // is kept in the container's log (read_log) and fanned out to attached clients.
  // Throws StartFailure. Only called for a container that is not running.
  virtual StartResult start(const ContainerLaunch& /*launch*/) { unsupported("start"); }

  // Daemon start-up, for a container the engine has not recorded as running: the daemon
  // may have died between starting its process and recording that. Such a start was
  // never acknowledged, so the process is stopped (SIGKILL) and its end awaited. Returns
  // whether there was one.
  virtual bool discard_unrecorded_start(const std::string& /*id*/) { return false; }

  // Daemon start-up: the state (processes, mounts, files) of containers that have no
  // record any more -- the daemon died while removing them -- is removed.
  virtual void collect_garbage(const std::set<std::string>& /*known_ids*/) {}

  // Delivers a signal to the main process (the engine builds stop/kill/restart on this).
  virtual void signal(const std::string& /*id*/, int /*signal*/) { unsupported("signal"); }

  // Blocks until the main process has exited and reports how. Safe to call from several
  // threads at once, and after the exit (then it returns at once).
  virtual ExitStatus wait_exit(const std::string& /*id*/) { unsupported("wait"); }

  // Connects to the main process's stdio. The returned socket carries output as Docker's
  // multiplexed frames (raw bytes when the container has a TTY) and takes stdin as raw
  // bytes; shutting down its write side closes stdin when the container asked for
  // StdinOnce. The socket closes when the process's output ends.
  virtual UniqueFd attach(const std::string& /*id*/, bool /*want_stdin*/, bool /*want_stdout*/,
                          bool /*want_stderr*/) {
    unsupported("attach");
  }

  virtual void resize(const std::string& /*id*/, int /*height*/, int /*width*/) {
    unsupported("resize");
  }

  // Capability::Pause: freezes / thaws every process of the container.
  // Capability::Commit: the container's filesystem changes as an uncompressed OCI layer tar
  // (whiteouts as .wh. files), written to `sink`; the sandbox's own files left out.
  virtual void write_changes(const ContainerLaunch& /*launch*/,
                             const std::function<void(const char*, std::size_t)>& /*sink*/) {
    unsupported("commit");
  }
  // docker update on a running container: applies launch's resource limits to it.
  virtual void update_resources(const ContainerLaunch& /*launch*/) { unsupported("update"); }
  virtual void pause(const std::string& /*id*/) { unsupported("pause"); }
  virtual void unpause(const std::string& /*id*/) { unsupported("unpause"); }

  // Capability::Changes: the container's filesystem changes against its image, as
  // (path, kind) with kind 0 modified, 1 added, 2 deleted (docker diff).
  virtual std::vector<std::pair<std::string, int>> changes(const ContainerLaunch& /*launch*/) {
    unsupported("changes");
  }
  // Capability::Changes: the size of the container's writable layer as dockerd measures
  // it (container prune's SpaceReclaimed): the bytes of the files it holds, each hard link
  // once, directories and deletions not counted.
  virtual std::int64_t changes_size(const ContainerLaunch& /*launch*/) { unsupported("changes"); }

  // Capability::Stats: current resource usage.
  virtual ResourceUsage stats(const std::string& /*id*/) { unsupported("stats"); }

  // Capability::Top: the host pids of the container's processes.
  virtual std::vector<int> processes(const std::string& /*id*/) { unsupported("top"); }
  // Capability::Top for backends that cannot run ps where the container's processes are
  // (containers under an agent): the table itself, titles then rows. nullopt: the engine
  // runs ps on the host over processes().
  using TopTable = std::pair<std::vector<std::string>, std::vector<std::vector<std::string>>>;
  virtual std::optional<TopTable> top(const std::string& /*id*/, const std::string& /*ps_args*/) {
    return std::nullopt;
  }

  // --- docker cp (Capability::Archive) ---
  // `launch` is the container as start() would run it; `pid` its main process when it
  // runs (0 otherwise). Missing paths throw NotFound, bad input InvalidArgument.

  virtual PathStat archive_stat(const ContainerLaunch& /*launch*/, int /*pid*/,
                                const std::string& /*path*/) {
    unsupported("archive");
  }
  // The path as a tar stream (read the returned descriptor to its end); an empty path is
  // docker export's stream: the root filesystem without volumes, named relative to it.
  virtual UniqueFd archive_get(const ContainerLaunch& /*launch*/, int /*pid*/,
                               const std::string& /*path*/, PathStat& /*stat*/) {
    unsupported("archive");
  }
  // Extracts the tar read from `tar_fd` into the directory `dir`.
  virtual void archive_put(const ContainerLaunch& /*launch*/, int /*pid*/,
                           const std::string& /*dir*/, int /*tar_fd*/,
                           bool /*no_overwrite_dir_non_dir*/, bool /*copy_uid_gid*/) {
    unsupported("archive");
  }

  // --- Exec (Capability::Exec) ---

  // Starts a process inside the running container. The connection takes raw stdin
  // (shutting down its write side closes the process's stdin) and carries Docker's
  // multiplexed frames: stdout and stderr, a System frame {"Pid":n} once the process
  // runs, and {"ExitCode":n} (with "Error" when it never started) last.
  virtual UniqueFd exec(const std::string& /*container_id*/, const ExecLaunch& /*launch*/) {
    unsupported("exec");
  }
  virtual void resize_exec(const std::string& /*container_id*/, const std::string& /*exec_id*/,
                           int /*height*/, int /*width*/) {
    unsupported("exec resize");
  }

  // The container's output log: one JSON object per line, {"log","stream","time"} (the
  // json-file format). Empty path when it has none yet.
  virtual std::string log_path(const std::string& /*id*/) { unsupported("logs"); }

  // The agent connections of a backend whose containers run under sockerless-agent
  // (docs/agent-protocol.md): the daemon's /internal/v1/agent/connect hands agents that
  // dial back to it. Null for backends without agents.
  virtual AgentClients* agents() { return nullptr; }

  // Releases everything start() created once the process has exited; idempotent.
  virtual void remove(const std::string& /*id*/) { unsupported("remove"); }

 protected:
  [[noreturn]] void unsupported(const std::string& op) const;
};

}  // namespace sockerless::engine
