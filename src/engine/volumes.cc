#include "engine/volumes.h"

#include <sys/mount.h>

#include <filesystem>
#include <regex>

#include "common/errors.h"
#include "common/ids.h"
#include "common/time.h"
#include "store/database.h"

namespace sockerless::engine {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const std::regex kVolumeName("^[a-zA-Z0-9][a-zA-Z0-9_.-]+$");

}  // namespace

json Volume::to_json() const {
  // dockerd's local driver: the directory's time, to the second.
  std::int64_t seconds = created_at / 1'000'000'000 * 1'000'000'000;
  return {{"CreatedAt", format_rfc3339_nano(from_unix_nanos(seconds))},
          {"Driver", driver},
          {"Labels", labels.empty() && !labels_given ? json(nullptr) : json(labels)},
          {"Mountpoint", mountpoint},
          {"Name", name},
          {"Options", options.empty() && !options_given ? json(nullptr) : json(options)},
          {"Scope", "local"}};
}

Volume Volumes::from_json(const json& d) {
  Volume v;
  v.name = d.at("name");
  v.driver = d.value("driver", "local");
  v.mountpoint = d.value("mountpoint", "");
  v.created_at = d.value("created_at", std::int64_t{0});
  v.labels = d.value("labels", std::map<std::string, std::string>{});
  v.options = d.value("options", std::map<std::string, std::string>{});
  v.anonymous = d.value("anonymous", false);
  v.labels_given = d.value("labels_given", false);
  v.options_given = d.value("options_given", false);
  return v;
}

Volumes::Volumes(store::Database& db, std::string root, EventBus& events,
                 std::function<std::vector<std::string>(const std::string&)> in_use)
    : db_(db), root_(std::move(root)), events_(events), in_use_(std::move(in_use)) {
  fs::create_directories(root_);
  auto lock = db_.lock();
  auto s = db_.prepare("SELECT doc FROM volumes");
  while (s.step()) {
    Volume v = from_json(json::parse(s.text(0)));
    volumes_[v.name] = v;
  }
}

void Volumes::persist(const Volume& v) {
  json doc = {{"name", v.name},
              {"driver", v.driver},
              {"mountpoint", v.mountpoint},
              {"created_at", v.created_at},
              {"labels", v.labels},
              {"options", v.options},
              {"anonymous", v.anonymous},
              {"labels_given", v.labels_given},
              {"options_given", v.options_given}};
  db_.transaction([&] {
    auto s = db_.prepare("INSERT OR REPLACE INTO volumes (name, doc) VALUES (?, ?)");
    s.bind(1, v.name).bind(2, doc.dump());
    s.run();
  });
}

Volume Volumes::create(std::string name, const std::string& driver_in,
                       const std::map<std::string, std::string>& labels,
                       const std::map<std::string, std::string>& options, bool anonymous,
                       bool labels_given, bool options_given) {
  std::string driver = driver_in.empty() ? "local" : driver_in;
  if (name.empty()) name = generate_id();
  if (driver != "local")
    throw NotFound("create " + name + ": error looking up volume plugin " + driver + ": plugin \"" +
                   driver + "\" not found");
  if (auto existing = find(name)) return *existing;
  if (name.size() == 1)
    throw InvalidArgument("create " + name +
                          ": volume name is too short, names should be at least two "
                          "alphanumeric characters");
  if (!std::regex_match(name, kVolumeName))
    throw InvalidArgument(
        "create " + name + ": \"" + name +
        "\" includes invalid characters for a local volume name, only "
        "\"[a-zA-Z0-9][a-zA-Z0-9_.-]\" "
        "are allowed. If you intended to pass a host directory, use absolute path");
  try {
    local_driver::validate_options(options);
  } catch (const InvalidArgument& e) {
    throw InvalidArgument("create " + name + ": " + e.what());
  }
  Volume v;
  {
    std::lock_guard lock(mu_);
    if (auto it = volumes_.find(name); it != volumes_.end()) return it->second;
    v.name = name;
    v.mountpoint = root_ + "/" + name + "/_data";
    v.created_at = unix_nanos(Clock::now());
    v.labels = labels;
    v.options = options;
    v.anonymous = anonymous;
    v.labels_given = labels_given;
    v.options_given = options_given;
    fs::create_directories(v.mountpoint);
    persist(v);
    volumes_[name] = v;
  }
  Event e;
  e.type = "volume";
  e.action = "create";
  e.actor_id = name;
  e.attributes = {{"driver", driver}};
  events_.publish(std::move(e));
  return v;
}

std::optional<Volume> Volumes::find(const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = volumes_.find(name);
  if (it == volumes_.end()) return std::nullopt;
  return it->second;
}

Volume Volumes::get(const std::string& name) const {
  auto v = find(name);
  if (!v) throw NotFound("get " + name + ": no such volume");
  return *v;
}

std::vector<Volume> Volumes::list(const api::Filters& filters) const {
  filters.validate({"dangling", "driver", "label", "name"});
  std::optional<bool> dangling;
  if (filters.has("dangling")) {
    auto v = filters.values("dangling").front();
    if (v == "true" || v == "1")
      dangling = true;
    else if (v == "false" || v == "0")
      dangling = false;
    else
      throw InvalidArgument("invalid filter 'dangling=" + v + "'");
  }
  std::vector<Volume> all;
  {
    std::lock_guard lock(mu_);
    for (const auto& [n, v] : volumes_)
      all.push_back(v);
  }
  std::vector<Volume> out;
  for (const auto& v : all) {
    if (!filters.exact_match("driver", v.driver)) continue;
    if (filters.has("name")) {
      bool ok = false;
      for (const auto& want : filters.values("name"))
        ok = ok || v.name.find(want) != std::string::npos;
      if (!ok) continue;
    }
    if (!filters.match_labels("label", v.labels)) continue;
    if (dangling && (*dangling != in_use_(v.name).empty())) continue;
    out.push_back(v);
  }
  return out;
}

void Volumes::remove(const std::string& name, bool force) {
  Volume v;
  {
    std::lock_guard lock(mu_);
    auto it = volumes_.find(name);
    if (it == volumes_.end()) {
      if (force) return;
      throw NotFound("get " + name + ": no such volume");
    }
    v = it->second;
  }
  auto users = in_use_(name);
  if (!users.empty()) {
    std::string list;
    for (const auto& u : users)
      list += (list.empty() ? "" : ", ") + u;
    throw Conflict("remove " + name + ": volume is in use - [" + list + "]");
  }
  {
    // Its own mount goes first; nothing is ever deleted through one (a bind of a host
    // directory would take the host's files with it).
    std::lock_guard mounts(mount_mu_);
    holders_.erase(name);
    if (local_driver::is_mountpoint(v.mountpoint)) ::umount2(v.mountpoint.c_str(), MNT_DETACH);
    if (local_driver::is_mountpoint(v.mountpoint))
      throw Internal("remove " + name + ": volume has active mounts");
  }
  {
    std::lock_guard lock(mu_);
    volumes_.erase(name);
    db_.transaction([&] {
      auto s = db_.prepare("DELETE FROM volumes WHERE name = ?");
      s.bind(1, name);
      s.run();
    });
  }
  std::error_code ec;
  fs::remove_all(root_ + "/" + name, ec);
  Event e;
  e.type = "volume";
  e.action = "destroy";
  e.actor_id = name;
  e.attributes = {{"driver", v.driver}};
  events_.publish(std::move(e));
}

std::pair<std::vector<std::string>, std::int64_t> Volumes::prune(const api::Filters& filters) {
  filters.validate({"label", "label!", "all"});
  bool all = filters.exact_match("all", "true") && filters.has("all");
  std::vector<std::string> removed;
  std::int64_t reclaimed = 0;
  api::Filters labels;
  for (const auto& l : filters.values("label"))
    labels.add("label", l);
  for (const auto& v : list(labels)) {
    if (!all && !v.anonymous) continue;
    if (!in_use_(v.name).empty()) continue;
    bool excluded = false;
    for (const auto& l : filters.values("label!")) {
      api::Filters one;
      one.add("label", l);
      excluded = excluded || one.match_labels("label", v.labels);
    }
    if (excluded) continue;
    std::int64_t size = local_driver::disk_usage(v.mountpoint);
    try {
      remove(v.name, false);
      removed.push_back(v.name);
      reclaimed += size;
    } catch (const Conflict&) {
    }
  }
  Event e;
  e.type = "volume";
  e.action = "prune";
  e.attributes = {{"reclaimed", std::to_string(reclaimed)}};
  events_.publish(std::move(e));
  return {removed, reclaimed};
}

std::vector<Volumes::Usage> Volumes::usage() const {
  std::vector<Volume> all;
  {
    std::lock_guard lock(mu_);
    for (const auto& [n, v] : volumes_)
      all.push_back(v);
  }
  std::vector<Usage> out;
  for (auto& v : all) {
    Usage u;
    u.size = local_driver::disk_usage(v.mountpoint);
    u.ref_count = static_cast<std::int64_t>(in_use_(v.name).size());
    u.volume = std::move(v);
    out.push_back(std::move(u));
  }
  return out;
}

}  // namespace sockerless::engine
