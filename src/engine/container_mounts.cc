// A container's mounts: -v/--volume binds, --mount, --volumes-from and the image's VOLUMEs
// resolved at create as dockerd does (its precedence, validation and error wording), the
// first-use copy of the image's content into new volumes, and the volumes' own mounts
// (local driver options) held while the container runs.
#include <spdlog/spdlog.h>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/errors.h"
#include "engine/container_entry.h"
#include "engine/containers.h"
#include "engine/volumes.h"

namespace sockerless::engine {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// Keys of a mount record that only the launch reads; inspect never shows them.
constexpr const char* kLaunchOnlyKeys[] = {"TmpfsSize", "TmpfsMode", "NonRecursive"};

constexpr std::uint32_t kGoModeDir = 1u << 31;
constexpr std::uint32_t kGoModeSymlink = 1u << 27;

// One mount as the request asks for it, before volumes exist.
struct Planned {
  std::string type;  // bind, volume, tmpfs
  std::string name;  // volume: "" for an anonymous one
  std::string source;
  std::string destination;
  std::string mode;  // inspect's Mode
  bool rw = true;
  std::string propagation;
  bool copy = true;  // volume: filled from the image when new
  bool non_recursive = false;
  std::int64_t tmpfs_size = 0;
  std::optional<unsigned> tmpfs_mode;
  std::string driver;
  std::map<std::string, std::string> labels, options;
  bool from_image = false;   // the image's (or Config's) VOLUME
  json inherited = nullptr;  // --volumes-from: the other container's record
};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0, at;
  while ((at = s.find(sep, start)) != std::string::npos) {
    out.push_back(s.substr(start, at - start));
    start = at + 1;
  }
  out.push_back(s.substr(start));
  return out;
}

// Go's path.Clean for the absolute container paths mounts name.
std::string clean_path(const std::string& p) {
  if (p.empty()) return p;
  std::string out = fs::path(p).lexically_normal().string();
  while (out.size() > 1 && out.back() == '/')
    out.pop_back();
  return out;
}

bool is_propagation(const std::string& o) {
  return o == "private" || o == "rprivate" || o == "shared" || o == "rshared" || o == "slave" ||
         o == "rslave";
}

// The words a -v mode may hold, at most one of each kind, as dockerd's Linux parser allows.
struct ModeWords {
  bool valid = true, read_only = false, nocopy = false;
  std::string propagation;
};
ModeWords parse_mode(const std::string& mode) {
  ModeWords out;
  if (mode.empty()) return out;
  int rw = 0, label = 0, propagation = 0, copy = 0, consistency = 0;
  for (const auto& o : split(mode, ',')) {
    if (o == "rw" || o == "ro") {
      ++rw;
      out.read_only = o == "ro";
    } else if (o == "z" || o == "Z") {
      ++label;
    } else if (is_propagation(o)) {
      ++propagation;
      out.propagation = o;
    } else if (o == "nocopy") {
      ++copy;
      out.nocopy = true;
    } else if (o == "consistent" || o == "cached" || o == "delegated") {
      ++consistency;
    } else {
      out.valid = false;
    }
  }
  if (rw > 1 || label > 1 || propagation > 1 || copy > 1 || consistency > 1) out.valid = false;
  return out;
}

std::string mount_config_error(const std::string& type, const std::string& what) {
  return "invalid mount config for type \"" + type + "\": " + what;
}

// Target checks every kind of mount shares; "" when fine.
std::string target_problem(const std::string& target) {
  if (target.empty()) return "field Target must not be empty";
  if (target.find_first_not_of('/') == std::string::npos)
    return "invalid specification: destination can't be '/'";
  if (target.front() != '/')
    return "invalid mount path: '" + target + "' mount path must be absolute";
  return "";
}

// HostConfig.Binds: "[source:]destination[:mode]".
Planned parse_bind(const std::string& spec) {
  auto invalid_spec = [&] {
    return InvalidArgument("invalid volume specification: '" + spec + "'");
  };
  auto parts = split(spec, ':');
  Planned p;
  std::string mode;
  if (parts.size() == 1) {
    p.destination = parts[0];
  } else if (parts.size() == 2) {
    if (parse_mode(parts[1]).valid) throw invalid_spec();  // "/dst:ro": a mode needs a source
    p.source = parts[0];
    p.destination = parts[1];
  } else if (parts.size() == 3) {
    p.source = parts[0];
    p.destination = parts[1];
    mode = parts[2];
    if (!parse_mode(mode).valid) throw InvalidArgument("invalid mode: " + mode);
  } else {
    throw invalid_spec();
  }
  if (p.destination.empty()) throw invalid_spec();
  ModeWords words = parse_mode(mode);
  p.type = !p.source.empty() && p.source.front() == '/' ? "bind" : "volume";
  p.rw = !words.read_only;
  p.copy = !words.nocopy;
  auto bad = [&](const std::string& what) {
    return InvalidArgument("invalid volume specification: '" + spec +
                           "': " + mount_config_error(p.type, what));
  };
  if (auto problem = target_problem(p.destination); !problem.empty()) throw bad(problem);
  if (p.type == "bind") {
    if (words.nocopy) throw bad("field VolumeOptions must not be specified");
    p.source = clean_path(p.source);
    p.mode = mode;
    p.propagation = words.propagation.empty() ? "rprivate" : words.propagation;
  } else {
    if (!words.propagation.empty()) throw bad("field BindOptions must not be specified");
    if (p.source.empty() && words.read_only)
      throw bad("must not set ReadOnly mode when using anonymous volumes");
    p.name = p.source;
    p.source.clear();
    p.mode = mode.empty() ? "z" : mode;
  }
  p.destination = clean_path(p.destination);
  return p;
}

bool present(const json& j, const char* key) {
  return j.contains(key) && !j[key].is_null();
}

// HostConfig.Mounts: one --mount.
Planned parse_mount(const json& m) {
  if (!m.is_object()) throw InvalidArgument("invalid mount config: not an object");
  Planned p;
  p.type = m.value("Type", "");
  p.source = m.value("Source", "");
  p.destination = m.value("Target", "");
  p.rw = !m.value("ReadOnly", false);
  auto bad = [&](const std::string& what) {
    return InvalidArgument(mount_config_error(p.type, what));
  };
  if (auto problem = target_problem(p.destination); !problem.empty()) throw bad(problem);
  if (p.type == "bind") {
    if (p.source.empty()) throw bad("field Source must not be empty");
    if (present(m, "BindOptions")) {
      const json& o = m["BindOptions"];
      p.propagation = o.value("Propagation", "");
      if (!p.propagation.empty() && !is_propagation(p.propagation))
        throw bad("invalid propagation mode: " + p.propagation);
      p.non_recursive = o.value("NonRecursive", false);
    }
    if (present(m, "VolumeOptions")) throw bad("field VolumeOptions must not be specified");
    if (p.source.front() != '/')
      throw bad("invalid mount path: '" + p.source + "' mount path must be absolute");
    std::error_code ec;
    if (!fs::exists(p.source, ec)) throw bad("bind source path does not exist: " + p.source);
    p.source = clean_path(p.source);
    if (p.propagation.empty()) p.propagation = "rprivate";
  } else if (p.type == "volume") {
    if (present(m, "BindOptions")) throw bad("field BindOptions must not be specified");
    if (p.source.empty() && !p.rw)
      throw bad("must not set ReadOnly mode when using anonymous volumes");
    p.name = p.source;
    p.source.clear();
    p.mode = "z";
    if (present(m, "VolumeOptions")) {
      const json& o = m["VolumeOptions"];
      p.copy = !o.value("NoCopy", false);
      if (present(o, "Labels") && o["Labels"].is_object())
        for (const auto& [k, v] : o["Labels"].items())
          p.labels[k] = v.is_string() ? v.get<std::string>() : v.dump();
      if (present(o, "DriverConfig") && o["DriverConfig"].is_object()) {
        const json& d = o["DriverConfig"];
        p.driver = d.value("Name", "");
        if (present(d, "Options") && d["Options"].is_object())
          for (const auto& [k, v] : d["Options"].items())
            p.options[k] = v.is_string() ? v.get<std::string>() : v.dump();
      }
    }
  } else if (p.type == "tmpfs") {
    if (present(m, "BindOptions")) throw bad("field BindOptions must not be specified");
    if (!p.source.empty()) throw bad("field Source must not be specified");
    if (present(m, "TmpfsOptions")) {
      const json& o = m["TmpfsOptions"];
      p.tmpfs_size = o.value("SizeBytes", std::int64_t{0});
      if (p.tmpfs_size < 0) throw bad("invalid tmpfs size: " + std::to_string(p.tmpfs_size));
      if (unsigned mode = o.value("Mode", 0u); mode != 0) p.tmpfs_mode = mode & 07777;
    }
  } else {
    throw bad("mount type unknown");
  }
  p.destination = clean_path(p.destination);
  return p;
}

// HostConfig.VolumesFrom: "container[:ro|:rw]".
std::pair<std::string, bool> parse_volumes_from(const std::string& spec) {
  if (spec.empty()) throw InvalidArgument("volumes-from specification cannot be an empty string");
  auto colon = spec.find(':');
  if (colon == std::string::npos) return {spec, true};
  std::string mode = spec.substr(colon + 1);
  ModeWords words = parse_mode(mode);
  // Propagation and copy modes are the source container's business.
  if (!words.valid || !words.propagation.empty() || mode.find("nocopy") != std::string::npos)
    throw InvalidArgument("invalid mode: " + mode);
  return {spec.substr(0, colon), !words.read_only};
}

}  // namespace

json public_mounts(const json& mounts) {
  json out = json::array();
  if (!mounts.is_array()) return out;
  for (auto m : mounts) {
    for (const char* key : kLaunchOnlyKeys)
      m.erase(key);
    out.push_back(std::move(m));
  }
  return out;
}

// Precedence as dockerd's registerMountPoints: --volumes-from first, then binds and
// --mount (which may not share a destination), then the image's VOLUMEs where nothing is
// mounted yet. Every spec is checked before any volume is created.
json Containers::resolve_mounts(const json& host_config, const json& image_volumes,
                                std::vector<VolumeFill>& fills) {
  std::vector<Planned> binds, mounts;
  if (host_config.contains("Binds") && host_config["Binds"].is_array())
    for (const auto& b : host_config["Binds"])
      binds.push_back(parse_bind(b.is_string() ? b.get<std::string>() : b.dump()));
  if (host_config.contains("Mounts") && host_config["Mounts"].is_array())
    for (const auto& m : host_config["Mounts"])
      mounts.push_back(parse_mount(m));
  std::string default_driver = "local";
  if (host_config.contains("VolumeDriver") && host_config["VolumeDriver"].is_string() &&
      host_config["VolumeDriver"] != "")
    default_driver = host_config["VolumeDriver"];

  std::vector<Planned> plan;
  std::map<std::string, std::size_t> at;  // destination → index in plan
  auto put = [&](Planned p) {
    if (auto it = at.find(p.destination); it != at.end()) {
      plan[it->second] = std::move(p);
    } else {
      at[p.destination] = plan.size();
      plan.push_back(std::move(p));
    }
  };
  if (host_config.contains("VolumesFrom") && host_config["VolumesFrom"].is_array())
    for (const auto& spec : host_config["VolumesFrom"]) {
      auto [ref, rw] = parse_volumes_from(spec.is_string() ? spec.get<std::string>() : "");
      json theirs;
      {
        std::lock_guard lock(mu_);
        auto e = find(ref);
        if (!e) throw NotFound("No such container: " + ref);
        theirs = e->c.mounts;
      }
      for (const auto& m : theirs) {
        Planned p;
        p.type = m.value("Type", "");
        p.name = m.value("Name", "");
        p.destination = m.value("Destination", "");
        p.copy = false;
        p.inherited = m;
        p.inherited["RW"] = m.value("RW", true) && rw;
        p.inherited["Mode"] = "";
        put(std::move(p));
      }
    }
  json tmpfs = host_config.value("Tmpfs", json::object());
  std::set<std::string> explicit_targets;
  for (auto& p : binds) {
    if (explicit_targets.count(p.destination) ||
        (tmpfs.is_object() && tmpfs.contains(p.destination)))
      throw InvalidArgument("Duplicate mount point: " + p.destination);
    explicit_targets.insert(p.destination);
    if (p.type == "volume") p.driver = default_driver;
    put(std::move(p));
  }
  for (auto& p : mounts) {
    if (explicit_targets.count(p.destination))
      throw InvalidArgument("Duplicate mount point: " + p.destination);
    explicit_targets.insert(p.destination);
    put(std::move(p));
  }
  if (image_volumes.is_object())
    for (const auto& [target, _] : image_volumes.items()) {
      Planned p;
      p.type = "volume";
      p.destination = clean_path(target);
      p.driver = default_driver;
      p.from_image = true;
      if (!at.count(p.destination)) put(std::move(p));
    }

  json out = json::array();
  for (auto& p : plan) {
    if (!p.inherited.is_null()) {
      if (p.type == "volume") {
        if (!volumes_) throw NotImplemented("volumes are not available");
        volumes_->get(p.name);  // still there: dockerd looks it up the same way
      }
      out.push_back(p.inherited);
    } else if (p.type == "volume") {
      if (!volumes_) throw NotImplemented("volumes are not available");
      bool anonymous = p.name.empty();
      auto v = volumes_->create(p.name, p.driver.empty() ? "local" : p.driver, p.labels, p.options,
                                anonymous);
      out.push_back({{"Type", "volume"},
                     {"Name", v.name},
                     {"Source", v.mountpoint},
                     {"Destination", p.destination},
                     {"Driver", v.driver},
                     {"Mode", p.mode},
                     {"RW", p.rw},
                     {"Propagation", ""}});
      if (p.copy) fills.push_back({p.destination, p.from_image});
    } else if (p.type == "bind") {
      std::error_code ec;
      std::filesystem::create_directories(p.source, ec);  // -v creates a missing host path
      json m = {{"Type", "bind"}, {"Source", p.source}, {"Destination", p.destination},
                {"Mode", p.mode}, {"RW", p.rw},         {"Propagation", p.propagation}};
      if (p.non_recursive) m["NonRecursive"] = true;
      out.push_back(std::move(m));
    } else {
      json m = {{"Type", "tmpfs"}, {"Source", ""}, {"Destination", p.destination},
                {"Mode", ""},      {"RW", p.rw},   {"Propagation", ""}};
      if (p.tmpfs_size > 0) m["TmpfsSize"] = p.tmpfs_size;
      if (p.tmpfs_mode) m["TmpfsMode"] = *p.tmpfs_mode;
      out.push_back(std::move(m));
    }
  }
  return out;
}

ContainerLaunch::Mount Containers::launch_mount(const json& m) {
  ContainerLaunch::Mount mount;
  mount.type = m.value("Type", "bind") == "tmpfs" ? "tmpfs" : "bind";
  mount.source = m.value("Source", "");
  mount.target = m.value("Destination", "");
  mount.readonly = !m.value("RW", true);
  mount.propagation = m.value("Propagation", "");
  mount.recursive = !m.value("NonRecursive", false);
  mount.tmpfs_size = m.value("TmpfsSize", std::int64_t{0});
  mount.tmpfs_mode = m.value("TmpfsMode", 01777u);
  return mount;
}

// The image's directory at `path` as the container would see it: a symlink at the end is
// followed inside the image. nullopt when nothing is there.
static std::optional<std::string> image_path(Backend& backend, const ContainerLaunch& image,
                                             std::string path, PathStat& st) {
  for (int hops = 0; hops < 40; ++hops) {
    try {
      st = backend.archive_stat(image, 0, path);
    } catch (const NotFound&) {
      return std::nullopt;
    }
    if (!(st.mode & kGoModeSymlink)) return path;
    fs::path target(st.link_target);
    path = clean_path((target.is_absolute() ? target : fs::path(path).parent_path() / target)
                          .lexically_normal()
                          .string());
  }
  throw Internal("too many levels of symbolic links at " + path);
}

// dockerd's populateVolumes, at create: a new, empty volume gets the image's content at its
// destination. The image is read as docker cp reads a container that never ran.
void Containers::populate_volumes(const Container& c, const std::vector<VolumeFill>& fills) {
  if (fills.empty() || !volumes_ || !backend_.supports(Capability::Archive)) return;
  ContainerLaunch image = launch_for(c);
  image.mounts.clear();
  try {
    for (const auto& f : fills) {
      std::string name;
      for (const auto& m : c.mounts)
        if (m.value("Destination", "") == f.destination) name = m.value("Name", "");
      if (f.image_volume) {
        PathStat st;
        if (image_path(backend_, image, f.destination, st) && !(st.mode & kGoModeDir))
          throw Internal("cannot mount volume over existing file, file exists " + f.destination);
      }
      volumes_->fill(name, [&]() -> UniqueFd {
        PathStat st;
        auto dir = image_path(backend_, image, f.destination, st);
        spdlog::debug("volume {}: first use at {}: {}", name, f.destination,
                      dir ? "copying the image's " + *dir : std::string("nothing in the image"));
        if (!dir) return UniqueFd();
        if (!(st.mode & kGoModeDir)) throw Internal("source " + *dir + " is not directory");
        return backend_.archive_get(image, 0, *dir, st);
      });
    }
  } catch (...) {
    // As dockerd: a container whose volumes could not be prepared is not kept.
    std::shared_ptr<Entry> entry;
    {
      std::lock_guard lock(mu_);
      entry = find(c.id);
    }
    if (entry)
      destroy_quietly(entry);
    else
      remove_anonymous_volumes(c);
    throw;
  }
}

json Containers::mounts_of(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto e = find(id);
  return e ? e->c.mounts : json::array();
}

void Containers::mount_volumes(const std::string& id) {
  if (!volumes_) return;
  std::vector<std::string> held;
  try {
    for (const auto& m : mounts_of(id)) {
      if (m.value("Type", "") != "volume") continue;
      std::string name = m.value("Name", "");
      volumes_->mount(name, id);
      held.push_back(name);
      Event e;
      e.type = "volume";
      e.action = "mount";
      e.actor_id = name;
      e.attributes = {{"container", id},
                      {"destination", m.value("Destination", "")},
                      {"driver", m.value("Driver", "local")},
                      {"propagation", m.value("Propagation", "")},
                      {"read/write", m.value("RW", true) ? "true" : "false"}};
      events_.publish(std::move(e));
    }
  } catch (...) {
    for (const auto& name : held)
      volumes_->unmount(name, id);
    throw;
  }
}

// Given the mounts, not looked up: the container's record may already be gone (rm -f).
void Containers::release_volumes(const std::string& id, const json& mounts) {
  if (!volumes_) return;
  for (const auto& m : mounts) {
    if (m.value("Type", "") != "volume") continue;
    std::string name = m.value("Name", "");
    volumes_->unmount(name, id);
    Event e;
    e.type = "volume";
    e.action = "unmount";
    e.actor_id = name;
    e.attributes = {{"container", id}, {"driver", m.value("Driver", "local")}};
    events_.publish(std::move(e));
  }
}

void Containers::set_volumes(Volumes* volumes) {
  volumes_ = volumes;
  if (!volumes_) return;
  // Containers still running from a previous run hold their volumes' mounts.
  std::map<std::string, std::vector<std::string>> holders;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, e] : by_id_)
      if (e->c.running())
        for (const auto& m : e->c.mounts)
          if (m.value("Type", "") == "volume") holders[m.value("Name", "")].push_back(id);
  }
  volumes_->restore_mounts(holders);
}

std::vector<std::string> Containers::volume_users(const std::string& name) const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [id, e] : by_id_)
    for (const auto& m : e->c.mounts)
      if (m.value("Type", "") == "volume" && m.value("Name", "") == name) out.push_back(id);
  return out;
}

}  // namespace sockerless::engine
