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
using ImageEventFn =
    std::function<void(const std::string& action, const std::string& id, const std::map<std::string, std::string>&)>;

struct DeleteResult {
  std::vector<std::string> untagged;  // familiar references
  std::vector<std::string> deleted;   // image IDs
};

struct PruneResult {
  std::vector<DeleteResult> removed;
  std::int64_t space_reclaimed = 0;
};

class ImageService {
 public:
  ImageService(store::Database& db, const std::string& root, RegistryConfig registry, ImageEventFn on_event);
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
  std::string pull(const std::string& reference, const std::string& platform, const AuthConfig& auth,
                   const ProgressFn& progress);

  // Tags the image `source` refers to as `target` ("repo[:tag]").
  void tag(const std::string& source, const std::string& target);

  // dockerd's image delete. `in_use` reports a container using an image: (running?, id).
  using UsageFn = std::function<std::optional<std::pair<bool, std::string>>(const std::string& image_id)>;
  DeleteResult remove(const std::string& name, bool force, bool prune_parents, const UsageFn& in_use);

  // Removes unused images: dangling only unless `all`; `until`/`label` filters as given.
  using PruneFilter = std::function<bool(const ImageRecord&)>;
  PruneResult prune(bool all, const PruneFilter& keep, const UsageFn& in_use);

 private:
  store::Database& db_;
  ImageStore store_;
  RegistryClient registry_;
  ImageEventFn on_event_;
  std::shared_mutex gc_mu_;  // pulls hold it shared; deletions exclusive, so GC never eats a pull's blobs
  std::mutex logins_mu_;
  std::map<std::string, AuthConfig> logins_;
};

// "2.155MB", like Docker's units.HumanSize (decimal units, 4 significant digits).
std::string human_size(double bytes);
// The "[=====>    ]  1.2MB/4.5MB" text of a progress message.
std::string progress_bar(std::uint64_t current, std::uint64_t total);

}  // namespace sockerless::image
