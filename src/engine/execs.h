// Exec instances (docker exec): created against a running container, started once,
// inspected while and after they run; forgotten with their container.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/mux.h"
#include "common/unique_fd.h"
#include "engine/backend.h"
#include "engine/events.h"

namespace sockerless::engine {

class Containers;
}  // namespace sockerless::engine
namespace sockerless::store {
class Database;
}
namespace sockerless::engine {

struct ExecRecord {
  std::string id, container_id;
  std::vector<std::string> argv, env;
  std::string user, working_dir, detach_keys;
  bool tty = false, privileged = false;
  bool attach_stdin = false, attach_stdout = false, attach_stderr = false;
  int height = 0, width = 0;
  bool started = false, running = false;
  std::optional<int> exit_code;
  int pid = 0;
};

class Execs {
 public:
  // Loads the records of earlier runs; one that was running when the daemon went away
  // is no longer followed: it shows as not running, with no exit code.
  Execs(store::Database& db, Containers& containers, Backend& backend, EventBus& events);

  // POST /containers/{id}/exec: returns the exec ID.
  std::string create(const std::string& container_ref, const nlohmann::json& body);
  ExecRecord get(const std::string& id) const;
  // The container's execs not yet ended (created or running): its inspect's ExecIDs.
  std::vector<std::string> live_ids(const std::string& container_id) const;

  // Starts it; the connection is Backend::exec's. Throws Conflict when already started.
  // The process has a terminal iff the exec was created with Tty (as dockerd: the start's
  // Tty only chooses how the client's stream is framed).
  UniqueFd start(const std::string& id, int height, int width);
  // The relay's System frames, as the route reads them.
  void on_pid(const std::string& id, int pid);
  void on_exit(const std::string& id, int exit_code);
  // The client left an attached exec with the detach keys; the process runs on.
  void on_detach(const std::string& id);

  void resize(const std::string& id, int height, int width);
  void forget_container(const std::string& container_id);

  // Runs a started exec to the end with its output discarded (detached exec, a client that
  // detached); returns the exit code and, with `output`, what it printed (capped). The
  // process's stdin is left as it is. `decoder`: what was read of the connection so far.
  int drain(const std::string& id, UniqueFd connection, std::string* output = nullptr,
            api::MuxDecoder decoder = {});

 private:
  void persist(const ExecRecord& r);
  static nlohmann::json to_json(const ExecRecord& r);
  static ExecRecord from_json(const nlohmann::json& doc);

  store::Database& db_;
  Containers& containers_;
  Backend& backend_;
  EventBus& events_;
  mutable std::mutex mu_;
  std::map<std::string, ExecRecord> execs_;
};

}  // namespace sockerless::engine
