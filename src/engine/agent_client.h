// The daemon's side of the agent protocol (docs/agent-protocol.md): one connection per
// agent-backed container, dialed forward or adopted when the agent dials back, and the
// Backend operations (exec, attach, cp, signals, resizes) carried over it as sessions.
// Backends whose containers run under sockerless-agent delegate those operations here;
// the answers keep the Backend contract (Docker's multiplexed frames on exec and attach
// sockets, PathStat, tar streams), so the engine above cannot tell the difference.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "common/unique_fd.h"
#include "engine/backend.h"

namespace sockerless::engine {

// docker cp's stat header as JSON ({name, size, mode, mtime, linkTarget}), read back.
PathStat path_stat_from_json(const nlohmann::json& j);

// Where a container's agent is.
struct AgentEndpoint {
  std::string container;  // the container's id
  std::string token;
  std::string address;  // forward mode: where the agent listens; empty: it dials us
};

class AgentConnection;

class AgentClients {
 public:
  explicit AgentClients(std::chrono::milliseconds reverse_wait = std::chrono::seconds(10));
  ~AgentClients();
  AgentClients(const AgentClients&) = delete;
  AgentClients& operator=(const AgentClients&) = delete;

  // --- reverse mode: agents that dial the daemon ---
  // The token a container's agent will present (the backend registers it at start).
  void expect(const std::string& container, const std::string& token);
  // Whether `token` is the one expected for `container` (constant-time).
  bool accepts(const std::string& container, const std::string& token) const;
  // Takes an upgraded connection from a container's agent (token already checked) and
  // serves it; a connection the container already had is replaced.
  void adopt(const std::string& container, UniqueFd fd, std::string leftover);
  // Drops what is known of a container: its connection closes, its sessions end.
  void forget(const std::string& container);

  // --- operations, with the Backend contract ---
  UniqueFd exec(const AgentEndpoint& ep, const ExecLaunch& launch);
  void resize_exec(const std::string& exec_id, int height, int width);
  UniqueFd attach(const AgentEndpoint& ep, bool in, bool out, bool err, bool tty, bool stdin_once);
  void resize(const AgentEndpoint& ep, int height, int width);
  void signal(const AgentEndpoint& ep, int signal);
  // docker top as `ps -ef` lays it out (UID PID PPID C STIME TTY TIME CMD), from the
  // agent's reading of /proc inside the container; other ps options are 501.
  Backend::TopTable top(const AgentEndpoint& ep, const std::string& ps_args);
  // docker cp: `launch` names the container for messages and says which mounts (and
  // whether the root) are read-only, and as whom copy_uid_gid writes.
  PathStat archive_stat(const AgentEndpoint& ep, const ContainerLaunch& launch,
                        const std::string& path);
  UniqueFd archive_get(const AgentEndpoint& ep, const ContainerLaunch& launch,
                       const std::string& path, PathStat& stat);
  void archive_put(const AgentEndpoint& ep, const ContainerLaunch& launch, const std::string& dir,
                   int tar_fd, bool no_overwrite_dir_non_dir, bool copy_uid_gid);

 private:
  // The container's live connection: dialed when forward (and none is up), waited for up
  // to reverse_wait when reverse. Throws Unavailable naming the container.
  std::shared_ptr<AgentConnection> connection(const AgentEndpoint& ep);

  std::chrono::milliseconds reverse_wait_;
  std::mutex dial_mu_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::string> tokens_;                            // reverse
  std::map<std::string, std::shared_ptr<AgentConnection>> connections_;  // by container
  // Exec id → its session, for resizes; shared with the threads that relay each exec,
  // which may outlive this object at shutdown.
  struct ExecRef {
    std::weak_ptr<AgentConnection> connection;
    std::uint32_t session = 0;
  };
  struct Execs {
    std::mutex mu;
    std::map<std::string, ExecRef> by_id;
  };
  std::shared_ptr<Execs> execs_ = std::make_shared<Execs>();
};

}  // namespace sockerless::engine
