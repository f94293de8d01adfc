// The simulators' durable state: one SQLite database under the data root with a generic
// table of resources (a JSON document per service, kind and id, in creation order) and
// whatever tables a service adds through the schema history in state.cc. Writes are on
// disk before the API answers, so a restarted simulator has what it acknowledged.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sockerless::store {
class Database;
}

namespace sockerless::sims {

class State {
 public:
  explicit State(const std::string& path);
  ~State();

  store::Database& db() { return *db_; }

  // Inserts or replaces a resource (its creation order is kept on replace).
  void put(const std::string& service, const std::string& kind, const std::string& id,
           const nlohmann::json& doc);
  // Inserts; false (and nothing written) when the id is taken.
  bool insert(const std::string& service, const std::string& kind, const std::string& id,
              const nlohmann::json& doc);
  std::optional<nlohmann::json> get(const std::string& service, const std::string& kind,
                                    const std::string& id) const;
  // In creation order.
  std::vector<std::pair<std::string, nlohmann::json>> list(const std::string& service,
                                                           const std::string& kind) const;
  bool erase(const std::string& service, const std::string& kind, const std::string& id);

 private:
  std::unique_ptr<store::Database> db_;
};

}  // namespace sockerless::sims
