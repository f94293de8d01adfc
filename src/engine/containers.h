// Containers: Docker's semantics for them, once, for every backend — IDs and names,
// create (image config merged with the request), the state machine, start/stop/kill/
// wait/remove, auto-remove, attach before start, events, and the records in the state
// database.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "engine/backend.h"
#include "engine/events.h"

namespace sockerless::store {
class Database;
}
namespace sockerless::image {
class ImageService;
}

namespace sockerless::engine {

struct ContainerState {
  std::string status = "created";  // created running paused restarting removing exited dead
  int pid = 0;
  int exit_code = 0;
  std::string error;
  std::int64_t started_at = 0, finished_at = 0;  // unix nanos, 0: never
  bool oom_killed = false;
};

struct Container {
  std::string id;
  std::string name;  // without "/"
  std::int64_t created = 0;
  std::string image_id;
  std::string image_ref;                            // as given to create
  nlohmann::json config;                            // Docker's Config, merged with the image's
  nlohmann::json host_config;                       // as given, with defaults
  nlohmann::json mounts = nlohmann::json::array();  // as inspect shows them, see public_mounts
  std::vector<std::string> argv;
  ContainerState state;
  int restart_count = 0;
  bool manually_stopped = false;  // stop/kill through the API: no restart policy applies
  std::uint64_t exits = 0;        // how many times it has exited (wait next-exit)
  bool remove_volumes = false;    // a removal under way takes its anonymous volumes too
  nlohmann::json networks = nlohmann::json::object();  // NetworkSettings.Networks
  nlohmann::json ports = nlohmann::json::object();     // NetworkSettings.Ports
  // Legacy links (--link) to containers on the default bridge: the link's name
  // ("/web/db"), the linked container, and its name when the link was made.
  struct Link {
    std::string name, child_id, child_name;
  };
  std::vector<Link> links;

  bool running() const { return state.status == "running" || state.status == "paused"; }
  bool tty() const { return config.value("Tty", false); }
};

// What a wait returns.
struct WaitResult {
  int status_code = 0;
  std::string error;
};

class Volumes;
class Networks;

class Containers {
 public:
  Containers(store::Database& db, Backend& backend, image::ImageService& images, EventBus& events,
             std::string backend_name, Networks* networks = nullptr);
  ~Containers();

  // POST /containers/create. Returns the ID and warnings.
  std::pair<std::string, std::vector<std::string>> create(const std::string& name,
                                                          const nlohmann::json& body);

  // A copy of the container `ref` names (full ID, name, or unique ID prefix); throws
  // NotFound "No such container: ref".
  Container get(const std::string& ref) const;
  std::vector<Container> list() const;
  // Calls fn for every container, newest first, without copying them: under the
  // containers' lock, so fn must not call back into Containers (nor into anything that
  // may, like the image store).
  void visit(const std::function<void(const Container&)>& fn) const;

  void start(const std::string& ref);
  // Stops with the container's stop signal, then SIGKILL after `timeout` seconds (the
  // container's StopTimeout, else 10). Throws NotModified when not running.
  void stop(const std::string& ref, std::optional<int> timeout, const std::string& signal);
  void kill(const std::string& ref, const std::string& signal);
  void restart(const std::string& ref, std::optional<int> timeout, const std::string& signal);
  void remove(const std::string& ref, bool force, bool remove_volumes = false);
  // docker rm --link /parent/alias: the parent's link goes, the containers stay.
  void remove_link(const std::string& link_name);
  // docker commit: the container's changes as a new image on top of its own, its config
  // overlaid with `config` (fields set there win) and the Dockerfile `changes`.
  struct CommitOptions {
    std::string repo, tag, author, comment;
    std::vector<std::string> changes;
    bool pause = true;
    nlohmann::json config;
  };
  std::string commit(const std::string& ref, const CommitOptions& options);
  // The container's filesystem changes as an uncompressed layer tar, to `sink` (commit,
  // and the builder's steps).
  void write_changes(const std::string& ref,
                     const std::function<void(const char*, std::size_t)>& sink);
  void rename(const std::string& ref, const std::string& new_name);
  // docker network connect / disconnect.
  void connect_network(const std::string& ref, const std::string& network,
                       const nlohmann::json& endpoint_config);
  void disconnect_network(const std::string& ref, const std::string& network, bool force);
  // How many containers (any state) have an endpoint on the network `network_id`.
  int network_users(const std::string& network_id) const;
  // docker update: the resource limits and restart policy set in `update` (dockerd's
  // UpdateConfig: zero values mean "leave as is"); applied at once when running.
  // Returns the warnings for the client.
  nlohmann::json update(const std::string& ref, const nlohmann::json& update);
  void resize(const std::string& ref, int height, int width);
  void pause(const std::string& ref);
  void unpause(const std::string& ref);
  // docker top: column titles and rows of `ps <ps_args>` for the container's processes.
  std::pair<std::vector<std::string>, std::vector<std::vector<std::string>>> top(
      const std::string& ref, const std::string& ps_args);

  // Blocks until `condition` ("not-running", "next-exit", "removed") holds or
  // `client_gone` says the caller left (then nullopt).
  std::optional<WaitResult> wait(const std::string& ref, const std::string& condition,
                                 const std::function<bool()>& client_gone);

  // Attach: a connection to the container's stdio (see Backend::attach). For a container
  // that has not started, blocks until it starts (or `client_gone`) so no output is missed.
  // `registered` runs once the attach is in place and before any waiting: the caller tells
  // its client it is attached there, so a start the client sends next finds the attach.
  // A start already under way finishes first, and the attach joins the running process.
  UniqueFd attach(const std::string& ref, bool in, bool out, bool err,
                  const std::function<bool()>& client_gone,
                  const std::function<void()>& registered = {});

  std::string log_path(const std::string& ref) const;

  // docker diff.
  std::vector<std::pair<std::string, int>> changes(const std::string& ref);
  // The size of the container's writable layer (see Backend::changes_size); 0 when the
  // backend cannot tell, as dockerd reports a size it fails to measure.
  std::int64_t changes_size(const std::string& ref);

  // docker cp, on created, running and stopped containers alike.
  PathStat archive_stat(const std::string& ref, const std::string& path);
  UniqueFd archive_get(const std::string& ref, const std::string& path, PathStat& stat);
  void archive_put(const std::string& ref, const std::string& dir, int tar_fd,
                   bool no_overwrite_dir_non_dir, bool copy_uid_gid);
  // docker export: the root filesystem alone (no volumes), entries named relative to it.
  UniqueFd export_rootfs(const std::string& ref);

  // The volumes the containers mount; containers still running from a previous run keep
  // holding their volumes' mounts.
  void set_volumes(Volumes* volumes);
  // IDs of the containers that mount the named volume.
  std::vector<std::string> volume_users(const std::string& name) const;

  // Called after a container's main process has started (health checks begin there).
  void on_started(std::function<void(const std::string& id)> fn) { on_started_ = std::move(fn); }
  // Called after a container is gone (its exec instances go with it).
  void on_destroyed(std::function<void(const std::string& id)> fn) {
    on_destroyed_ = std::move(fn);
  }

  // Daemon shutdown without live-restore: stops every running container (in parallel,
  // each with its own stop timeout but at most `limit`), as dockerd does.
  void stop_all(std::chrono::seconds limit);
  // Daemon start-up: starts the stopped containers whose restart policy says so (those
  // the last shutdown stopped, or that exited while no daemon ran), as dockerd does.
  void restart_after_boot();
  // Daemon start-up: removals a previous daemon died in the middle of are finished (or
  // the container marked dead with the reason); none stays "removing". Exited containers
  // that were to remove themselves (AutoRemove) go too.
  void finish_removals();

  // A container using the image: (running?, id).
  std::optional<std::pair<bool, std::string>> image_user(const std::string& image_id) const;
  std::map<std::string, std::int64_t> state_counts() const;

  // Persisted form.
  static nlohmann::json to_json(const Container& c);
  static Container from_json(const nlohmann::json& doc);

 private:
  struct Entry;
  std::shared_ptr<Entry> find(const std::string& ref) const;  // with mu_ held
  // Writes the record. A container being removed is written only by its removal
  // (`removal`): a writer that took it before the removal began must not bring it back.
  void persist(const Container& c, bool removal = false);
  void on_exit(const std::string& id, const ExitStatus& status);
  void watch(const std::string& id);
  // Removes the container: recorded as "removing" first, so that a daemon that dies in
  // the middle finishes it at start-up (finish_removals); then what the backend made, its
  // network endpoints, the record, and its anonymous volumes if `remove_volumes`. Where the
  // backend cannot release it, the container stays, "dead" with the reason in State.Error,
  // and this throws; a removal may be tried again. A removal already under way: nothing.
  void destroy(const std::shared_ptr<Entry>& entry, bool remove_volumes);
  // destroy for those that remove themselves (AutoRemove): a failure is logged.
  void destroy_quietly(const std::shared_ptr<Entry>& entry);
  void publish(const Container& c, const std::string& action,
               std::map<std::string, std::string> extra = {});
  ContainerLaunch launch_for(const Container& c);
  void remove_anonymous_volumes(const Container& c);
  void set_paused(const std::string& ref, bool paused);
  // --network container:<ref>: dockerd's conflicts checked at create, the mode as stored
  // (the full ID when the container exists); at start, the launch joins that container's
  // network namespace and takes its hostname and resolvers.
  std::string validate_container_network(const nlohmann::json& config,
                                         const nlohmann::json& host_config) const;
  void join_container_network(const std::string& mode, ContainerLaunch& launch) const;
  // container_links.cc. At create (mu_ held): the HostConfig.Links of a container on the
  // default bridge become its links, each name an alias of the linked container.
  void register_links(Container& c);
  // At start: the linked containers' variables and /etc/hosts records; dockerd's errors
  // when one is not on the default bridge or not running.
  void apply_links(const std::string& id, ContainerLaunch& launch) const;
  // After removal of `c` (mu_ held): the names its links and others' links to it held.
  void release_link_names(const Container& c);
  // After `c` was renamed from `old_name` (mu_ held): its links' names ("/old/db" becomes
  // "/new/db") and the name others' links show for it, as dockerd's link graph has them.
  void rename_links(Container& c, const std::string& old_name);
  // container_mounts.cc: the mounts inspect shows, from Binds, Mounts, VolumesFrom and the
  // image's VOLUMEs (volumes created as needed); `fills` gets the new volumes to fill from
  // the image, which populate_volumes does once the container exists (removing it when
  // that fails). mount_volumes/release_volumes hold the volumes' own mounts (local driver
  // options) while the container runs, with dockerd's volume mount/unmount events.
  struct VolumeFill {
    std::string destination;
    bool image_volume = false;  // a VOLUME: must not land on a file
  };
  nlohmann::json resolve_mounts(const nlohmann::json& host_config,
                                const nlohmann::json& image_volumes,
                                std::vector<VolumeFill>& fills);
  void populate_volumes(const Container& c, const std::vector<VolumeFill>& fills);
  void mount_volumes(const std::string& id);
  void release_volumes(const std::string& id, const nlohmann::json& mounts);
  nlohmann::json mounts_of(const std::string& id) const;  // [] when the container is gone
  static ContainerLaunch::Mount launch_mount(const nlohmann::json& mount);
  static std::optional<std::chrono::milliseconds> restart_decision(const Container& c,
                                                                   int exit_code);

  store::Database& db_;
  Backend& backend_;
  image::ImageService& images_;
  Networks* networks_ = nullptr;
  EventBus& events_;
  std::string backend_name_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::map<std::string, std::shared_ptr<Entry>> by_id_;
  std::map<std::string, std::string> by_name_;
  std::function<void(const std::string&)> on_destroyed_;
  std::function<void(const std::string&)> on_started_;
  Volumes* volumes_ = nullptr;
  bool shutting_down_ = false;  // stop_all: exits are not restarts, stops are not manual
};

// A container's mounts as inspect shows them: without the keys only its launch reads.
nlohmann::json public_mounts(const nlohmann::json& mounts);
// Go's units.HumanDuration, as `docker ps` STATUS uses it.
std::string human_duration(std::int64_t nanos);
// Docker's signal names ("SIGTERM", "TERM", "15") to numbers; throws InvalidArgument.
int parse_signal(const std::string& text);

}  // namespace sockerless::engine
