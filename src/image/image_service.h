// Everything the image API does, over the store and the registry client: pull, tag,
// remove, prune, history, and the events those emit. Routes turn its results into
// Docker's JSON; the engine owns one.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "image/credentials.h"
#include "image/image_store.h"
#include "image/registry_client.h"

namespace sockerless::store {
class Database;
}

namespace sockerless::image {

// One JSON progress message ({"status":…,"id":…,"progressDetail":…}), as the CLI draws them.
using ProgressFn = std::function<void(const nlohmann::json&)>;

// An image event for the engine's bus: action, actor ID, attributes.
using ImageEventFn = std::function<void(const std::string& action, const std::string& id,
                                        const std::map<std::string, std::string>&)>;

struct DeleteResult {
  std::vector<std::string> untagged;  // familiar references
  std::vector<std::string> deleted;   // image IDs
  std::int64_t reclaimed = 0;         // bytes of layer content freed
};

// What docker commit and each build step record besides the new layer.
struct CommitInfo {
  std::string container_id;           // "container" in the image config ("" for none)
  std::string container_config_text;  // "container_config" (JSON text; "" for none)
  std::string author, comment;
  std::string created_by;    // the history entry's created_by
  bool empty_layer = false;  // a metadata-only step: no layer, history says empty_layer
  std::string repo_tag;      // tagged when not empty
};

struct PruneResult {
  std::vector<DeleteResult> removed;
  std::int64_t space_reclaimed = 0;
};

class ImageService {
 public:
  ImageService(store::Database& db, const std::string& root, RegistryConfig registry,
               ImageEventFn on_event);
  ~ImageService();

  ImageStore& store() { return store_; }
  RegistryClient& registry() { return registry_; }

  // Credentials for a registry domain when the client sent none: POST /auth logins,
  // then the daemon user's ~/.docker/config.json.
  AuthConfig credentials_for(const std::string& domain, const AuthConfig& from_client);
  void remember_login(const AuthConfig& auth);

  // Pulls `reference` ("busybox", "busybox:1", "x@sha256:…") for a platform ("" = host).
  // Progress goes to `progress`; errors before the first message throw, so the route can
  // answer with a status code as dockerd does. Returns the image ID.
  // With `all_tags`, a reference without tag or digest pulls every tag (docker pull -a).
  std::string pull(const std::string& reference, const std::string& platform,
                   const AuthConfig& auth, const ProgressFn& progress, bool all_tags = false);

  // Tags the image `source` refers to as `target` ("repo[:tag]").
  void tag(const std::string& source, const std::string& target);

  // dockerd's image delete. `in_use` reports a container using an image: (running?, id).
  using UsageFn =
      std::function<std::optional<std::pair<bool, std::string>>(const std::string& image_id)>;
  DeleteResult remove(const std::string& name, bool force, bool prune_parents,
                      const UsageFn& in_use);

  // docker save: a tar (OCI layout plus Docker's manifest.json) of the named images, to fd.
  void save(const std::vector<std::string>& names, int fd);
  // docker load: a docker-save tar or an OCI layout tar from fd; `loaded` gets one line
  // per image ("Loaded image: busybox:latest"). Nothing is recorded unless it all checks out.
  void load(int fd, const std::function<void(const std::string&)>& loaded);
  // docker import: a root filesystem tar (any compression) from fd, with Dockerfile
  // `changes`; tagged `repo_tag` when not empty. Returns the image ID.
  std::string import(int fd, const std::string& repo_tag, const std::vector<std::string>& changes,
                     const std::string& message, const std::string& platform);
  // docker commit and build steps: a new image on top of `parent_id` (its ID) with the
  // "config" `config`, whose layer write_layer writes as an uncompressed tar (not called
  // for an empty_layer). An empty `parent_id` starts from nothing (FROM scratch). Emits
  // no event (the caller knows which). Returns the image ID.
  std::string commit(
      const std::string& parent_id, const nlohmann::json& config, const CommitInfo& info,
      const std::function<void(const std::function<void(const char*, std::size_t)>&)>& write_layer);
  // docker push of `name` (with `tag`, or every tag of the repository when empty).
  void push(const std::string& name, const std::string& tag, const AuthConfig& auth,
            const ProgressFn& progress);
  // GET /distribution/{name}/json: the registry's descriptor and platforms for a reference.
  nlohmann::json distribution(const std::string& name, const AuthConfig& auth);

  // Removes unused images: dangling only unless `all`; `until`/`label` filters as given.
  using PruneFilter = std::function<bool(const ImageRecord&)>;
  PruneResult prune(bool all, const PruneFilter& keep, const UsageFn& in_use);

 private:
  store::Database& db_;
  ImageStore store_;
  RegistryClient registry_;
  ImageEventFn on_event_;
  // Records an image built from a config and layer blobs already in the store.
  ImageRecord record_from(const std::string& config_text,
                          const std::vector<std::string>& layer_digests);
  void push_one(const ImageRecord& image, const Reference& ref, const AuthConfig& auth,
                const ProgressFn& progress);

  std::shared_mutex
      gc_mu_;  // pulls hold it shared; deletions exclusive, so GC never eats a pull's blobs
  std::mutex logins_mu_;
  std::map<std::string, AuthConfig> logins_;
};

// "2.155MB", like Docker's units.HumanSize (decimal units, 4 significant digits).
std::string human_size(double bytes);
// The "[=====>    ]  1.2MB/4.5MB" text of a progress message.
std::string progress_bar(std::uint64_t current, std::uint64_t total);

}  // namespace sockerless::image
