// Volumes of the local driver: directories under the data root, records in the state
// database, the volume API's semantics (idempotent create, filters, in-use checks, prune).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/filters.h"
#include "engine/events.h"

namespace sockerless::store {
class Database;
}

namespace sockerless::engine {

struct Volume {
  std::string name;
  std::string driver = "local";
  std::string mountpoint;
  std::int64_t created_at = 0;  // unix nanos
  std::map<std::string, std::string> labels, options;
  bool anonymous = false;
  nlohmann::json to_json() const;  // as GET /volumes/{name} shows it
};

class Volumes {
 public:
  // `in_use` names the containers (IDs) using a volume.
  Volumes(store::Database& db, std::string root, EventBus& events,
          std::function<std::vector<std::string>(const std::string&)> in_use);

  // Idempotent for an existing volume of the same driver, like dockerd. Empty name: a
  // generated one (an anonymous volume when `anonymous`).
  Volume create(std::string name, const std::string& driver,
                const std::map<std::string, std::string>& labels,
                const std::map<std::string, std::string>& options, bool anonymous = false);
  Volume get(const std::string& name) const;  // throws NotFound "get <name>: no such volume"
  std::optional<Volume> find(const std::string& name) const;
  std::vector<Volume> list(const api::Filters& filters) const;
  void remove(const std::string& name, bool force);
  // Unused volumes (anonymous ones only unless `all`), as POST /volumes/prune.
  std::pair<std::vector<std::string>, std::int64_t> prune(const api::Filters& filters);

 private:
  void persist(const Volume& v);
  static Volume from_json(const nlohmann::json& doc);

  store::Database& db_;
  std::string root_;
  EventBus& events_;
  std::function<std::vector<std::string>(const std::string&)> in_use_;
  mutable std::mutex mu_;
  std::map<std::string, Volume> volumes_;
};

}  // namespace sockerless::engine
