#include "engine/containers.h"

#include <signal.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <future>
#include <regex>
#include <set>
#include <thread>

#include "agent/wire.h"
#include "common/errors.h"
#include "common/ids.h"
#include "common/time.h"
#include "common/units.h"
#include "engine/container_entry.h"
#include "engine/links.h"
#include "engine/networks.h"
#include "engine/volumes.h"
#include "image/changes.h"
#include "image/image_service.h"
#include "image/reference.h"
#include "store/database.h"

namespace sockerless::engine {

using nlohmann::json;

std::string random_container_name();

namespace {

// The daemon may stop while watcher threads still wait on containers: they check this
// before touching the engine.
struct Life {
  std::mutex mu;
  bool alive = true;
};

// --tmpfs options: size= and mode=; the flags (ro, noexec, …) that matter to the sandbox.
void apply_tmpfs_options(const std::string& opts, ContainerLaunch::Mount& mount) {
  std::size_t p = 0;
  while (p <= opts.size() && !opts.empty()) {
    std::size_t comma = opts.find(',', p);
    std::string opt = opts.substr(p, comma == std::string::npos ? std::string::npos : comma - p);
    if (opt.rfind("size=", 0) == 0) {
      auto bytes = parse_ram_bytes(opt.substr(5));
      if (!bytes) throw InvalidArgument("invalid tmpfs option: " + opt);
      mount.tmpfs_size = *bytes;
    } else if (opt.rfind("mode=", 0) == 0) {
      char* end = nullptr;
      unsigned long mode = std::strtoul(opt.c_str() + 5, &end, 8);
      if (!end || *end || mode > 07777) throw InvalidArgument("invalid tmpfs option: " + opt);
      mount.tmpfs_mode = static_cast<unsigned>(mode);
    } else if (opt == "ro") {
      mount.readonly = true;
    }
    if (comma == std::string::npos) break;
    p = comma + 1;
  }
}

const std::regex kNamePattern("^[a-zA-Z0-9][a-zA-Z0-9_.-]+$");

json env_merge(const json& image_env, const json& request_env) {
  auto strings = [](const json& array) {
    std::vector<std::string> out;
    if (array.is_array())
      for (const auto& e : array)
        out.push_back(e.get<std::string>());
    return out;
  };
  return replace_or_append_env(strings(image_env), strings(request_env));
}

bool set(const json& j, const char* key) {
  return j.contains(key) && !j[key].is_null();
}

json union_objects(const json& a, const json& b) {
  json out = a.is_object() ? a : json::object();
  if (b.is_object())
    for (const auto& [k, v] : b.items())
      out[k] = v;
  return out.empty() ? json(nullptr) : out;
}

}  // namespace

std::string human_duration(std::int64_t nanos) {
  double secs = static_cast<double>(nanos) / 1e9;
  long long s = static_cast<long long>(secs);
  if (s < 1) return "Less than a second";
  if (s == 1) return "1 second";
  if (s < 60) return std::to_string(s) + " seconds";
  long long m = static_cast<long long>(secs / 60);
  if (m == 1) return "About a minute";
  if (m < 60) return std::to_string(m) + " minutes";
  long long h = static_cast<long long>(secs / 3600 + 0.5);
  if (h == 1) return "About an hour";
  if (h < 48) return std::to_string(h) + " hours";
  if (h < 24 * 7 * 2) return std::to_string(h / 24) + " days";
  if (h < 24 * 30 * 2) return std::to_string(h / 24 / 7) + " weeks";
  if (h < 24 * 365 * 2) return std::to_string(h / 24 / 30) + " months";
  return std::to_string(h / 24 / 365) + " years";
}

int parse_signal(const std::string& text) {
  auto n = agent::parse_signal(text);
  if (!n) throw InvalidArgument("Invalid signal: " + text);
  return *n;
}

static json links_json(const std::vector<Container::Link>& links) {
  json out = json::array();
  for (const auto& l : links)
    out.push_back({{"name", l.name}, {"child", l.child_id}, {"child_name", l.child_name}});
  return out;
}

json Containers::to_json(const Container& c) {
  return {{"id", c.id},
          {"name", c.name},
          {"created", c.created},
          {"image_id", c.image_id},
          {"image_ref", c.image_ref},
          {"config", c.config},
          {"host_config", c.host_config},
          {"mounts", c.mounts},
          {"argv", c.argv},
          {"restart_count", c.restart_count},
          {"manually_stopped", c.manually_stopped},
          {"exits", c.exits},
          {"remove_volumes", c.remove_volumes},
          {"networks", c.networks},
          {"ports", c.ports},
          {"links", links_json(c.links)},
          {"state",
           {{"status", c.state.status},
            {"pid", c.state.pid},
            {"exit_code", c.state.exit_code},
            {"error", c.state.error},
            {"started_at", c.state.started_at},
            {"finished_at", c.state.finished_at},
            {"oom_killed", c.state.oom_killed}}}};
}

Container Containers::from_json(const json& d) {
  Container c;
  c.id = d.at("id");
  c.name = d.at("name");
  c.created = d.value("created", std::int64_t{0});
  c.image_id = d.value("image_id", "");
  c.image_ref = d.value("image_ref", "");
  c.config = d.value("config", json::object());
  c.host_config = d.value("host_config", json::object());
  c.mounts = d.value("mounts", json::array());
  c.argv = d.value("argv", std::vector<std::string>{});
  c.restart_count = d.value("restart_count", 0);
  c.manually_stopped = d.value("manually_stopped", false);
  c.exits = d.value("exits", std::uint64_t{0});
  c.remove_volumes = d.value("remove_volumes", false);
  c.networks = d.value("networks", json::object());
  c.ports = d.value("ports", json::object());
  if (d.contains("links") && d["links"].is_array())
    for (const auto& l : d["links"])
      c.links.push_back({l.value("name", ""), l.value("child", ""), l.value("child_name", "")});
  const auto& s = d.at("state");
  c.state.status = s.value("status", "created");
  c.state.pid = s.value("pid", 0);
  c.state.exit_code = s.value("exit_code", 0);
  c.state.error = s.value("error", "");
  c.state.started_at = s.value("started_at", std::int64_t{0});
  c.state.finished_at = s.value("finished_at", std::int64_t{0});
  c.state.oom_killed = s.value("oom_killed", false);
  return c;
}

static std::shared_ptr<Life>& life_of(const Containers* self) {
  static std::mutex registry_mu;
  static std::map<const Containers*, std::shared_ptr<Life>> lives;
  std::lock_guard lock(registry_mu);
  auto& l = lives[self];
  if (!l) l = std::make_shared<Life>();
  return l;
}

Containers::Containers(store::Database& db, Backend& backend, image::ImageService& images,
                       EventBus& events, std::string backend_name, Networks* networks)
    : db_(db),
      backend_(backend),
      images_(images),
      networks_(networks),
      events_(events),
      backend_name_(std::move(backend_name)) {
  std::vector<std::string> running;
  {
    auto lock = db_.lock();
    auto s = db_.prepare("SELECT doc FROM containers");
    while (s.step()) {
      auto entry = std::make_shared<Entry>();
      entry->c = from_json(json::parse(s.text(0)));
      // One being removed gave its name up (another may have it): finish_removals.
      if (entry->c.state.status != "removing") by_name_[entry->c.name] = entry->c.id;
      if (entry->c.running()) running.push_back(entry->c.id);
      by_id_[entry->c.id] = entry;
    }
  }
  // Link names (see container_links.cc) name their linked containers again.
  for (const auto& [id, entry] : by_id_)
    for (const auto& l : entry->c.links)
      if (by_id_.count(l.child_id)) by_name_.emplace(l.name.substr(1), l.child_id);
  // What a removal the daemon died in the middle of left behind goes.
  std::set<std::string> known;
  for (const auto& [id, entry] : by_id_)
    known.insert(id);
  try {
    backend_.collect_garbage(known);
  } catch (const std::exception& e) {
    spdlog::warn("collecting the state of removed containers: {}", e.what());
  }
  if (networks_) networks_->discard_namespaces_except(known);
  // A start the daemon died in the middle of was never acknowledged: its process goes.
  for (const auto& [id, entry] : by_id_) {
    if (entry->c.running()) continue;
    try {
      if (backend_.discard_unrecorded_start(id))
        spdlog::info("container {}: stopped a start that was not recorded", id);
      // A container that is not running has no namespace (even a half-made one).
      if (networks_) networks_->discard_namespace(id);
    } catch (const std::exception& e) {
      spdlog::warn("container {}: {}", id, e.what());
    }
  }
  // Containers that were running when the daemon stopped: their monitors may still be
  // there; wait on them again (a monitor that is gone reports the recorded exit).
  for (const auto& id : running) {
    if (networks_) {
      const Container& c = by_id_.at(id)->c;
      networks_->restore(c.id, c.name, c.config.value("Hostname", ""), c.networks, c.ports);
    }
    watch(id);
  }
}

Containers::~Containers() {
  auto life = life_of(this);
  std::lock_guard lock(life->mu);
  life->alive = false;
}

std::shared_ptr<Containers::Entry> Containers::find(const std::string& ref) const {
  if (ref.empty()) return nullptr;
  if (auto it = by_id_.find(ref); it != by_id_.end()) return it->second;
  std::string name = ref.front() == '/' ? ref.substr(1) : ref;
  if (auto it = by_name_.find(name); it != by_name_.end()) return by_id_.at(it->second);
  std::shared_ptr<Entry> found;
  for (const auto& [id, e] : by_id_)
    if (id.compare(0, ref.size(), ref) == 0) {
      if (found) return nullptr;  // ambiguous
      found = e;
    }
  return found;
}

Container Containers::get(const std::string& ref) const {
  std::lock_guard lock(mu_);
  auto e = find(ref);
  if (!e) throw NotFound("No such container: " + ref);
  return e->c;
}

std::vector<Container> Containers::list() const {
  std::lock_guard lock(mu_);
  std::vector<Container> out;
  for (const auto& [id, e] : by_id_)
    out.push_back(e->c);
  std::sort(out.begin(), out.end(),
            [](const Container& a, const Container& b) { return a.created > b.created; });
  return out;
}

void Containers::visit(const std::function<void(const Container&)>& fn) const {
  std::lock_guard lock(mu_);
  std::vector<const Container*> order;
  order.reserve(by_id_.size());
  for (const auto& [id, e] : by_id_)
    order.push_back(&e->c);
  std::sort(order.begin(), order.end(),
            [](const Container* a, const Container* b) { return a->created > b->created; });
  for (const Container* c : order)
    fn(*c);
}

void Containers::persist(const Container& c, bool removal) {
  if (c.state.status == "removing" && !removal) return;
  db_.transaction([&] {
    auto s = db_.prepare("INSERT OR REPLACE INTO containers (id, name, doc) VALUES (?, ?, ?)");
    s.bind(1, c.id).bind(2, c.name).bind(3, to_json(c).dump());
    s.run();
  });
}

void Containers::publish(const Container& c, const std::string& action,
                         std::map<std::string, std::string> extra) {
  Event e;
  e.type = "container";
  e.action = action;
  e.actor_id = c.id;
  if (c.config.contains("Labels") && c.config["Labels"].is_object())
    for (const auto& [k, v] : c.config["Labels"].items())
      e.attributes[k] = v.is_string() ? v.get<std::string>() : v.dump();
  e.attributes["image"] = c.image_ref;
  e.attributes["name"] = c.name;
  for (auto& [k, v] : extra)
    e.attributes[k] = v;
  events_.publish(std::move(e));
}

std::pair<std::string, std::vector<std::string>> Containers::create(
    const std::string& requested_name, const json& body) {
  if (!body.is_object()) throw InvalidArgument("invalid JSON: the body must be an object");
  std::string image_ref = body.value("Image", "");
  if (image_ref.empty()) throw InvalidArgument("No command specified");
  image::ImageRecord image = images_.store().resolve(image_ref);
  json image_config = json::parse(image.config, nullptr, false);
  json ic =
      image_config.is_object() ? image_config.value("config", json::object()) : json::object();
  if (!ic.is_object()) ic = json::object();

  json config = body;
  config.erase("HostConfig");
  config.erase("NetworkingConfig");
  // Entrypoint and Cmd: a request Entrypoint replaces the image's and drops its Cmd.
  json entrypoint = ic.value("Entrypoint", json(nullptr));
  json cmd = ic.value("Cmd", json(nullptr));
  if (set(body, "Entrypoint")) {
    entrypoint = body["Entrypoint"];
    if (entrypoint.is_array() && entrypoint.size() == 1 && entrypoint[0] == "")
      entrypoint = nullptr;
    cmd = nullptr;
  }
  if (set(body, "Cmd")) cmd = body["Cmd"];
  if (entrypoint.is_string()) entrypoint = json::array({"/bin/sh", "-c", entrypoint});
  if (cmd.is_string()) cmd = json::array({"/bin/sh", "-c", cmd});
  std::vector<std::string> argv;
  for (const auto* part : {&entrypoint, &cmd})
    if (part->is_array())
      for (const auto& a : *part)
        argv.push_back(a.get<std::string>());
  if (argv.empty()) throw InvalidArgument("No command specified");
  config["Entrypoint"] = entrypoint;
  config["Cmd"] = cmd;
  config["Env"] = env_merge(ic.value("Env", json(nullptr)), body.value("Env", json(nullptr)));
  for (const char* k : {"WorkingDir", "User", "StopSignal"})
    if (!config.contains(k) || config[k].is_null() || config[k] == "")
      config[k] = ic.value(k, json(""));
  if (config["StopSignal"] == "") config.erase("StopSignal");
  if (!set(body, "Healthcheck") && ic.contains("Healthcheck"))
    config["Healthcheck"] = ic["Healthcheck"];
  config["Labels"] =
      union_objects(ic.value("Labels", json(nullptr)), body.value("Labels", json(nullptr)));
  if (config["Labels"].is_null()) config["Labels"] = json::object();
  config["ExposedPorts"] = union_objects(ic.value("ExposedPorts", json(nullptr)),
                                         body.value("ExposedPorts", json(nullptr)));
  if (config["ExposedPorts"].is_null()) config.erase("ExposedPorts");
  config["Volumes"] =
      union_objects(ic.value("Volumes", json(nullptr)), body.value("Volumes", json(nullptr)));
  config["Image"] = image_ref;
  for (const char* k :
       {"Tty", "OpenStdin", "StdinOnce", "AttachStdin", "AttachStdout", "AttachStderr"})
    if (!config.contains(k) || config[k].is_null()) config[k] = false;
  if (!config.contains("Domainname")) config["Domainname"] = "";
  if (config.contains("StopSignal")) parse_signal(config["StopSignal"].get<std::string>());

  json host_config = body.value("HostConfig", json::object());
  if (!host_config.is_object()) host_config = json::object();
  if (!host_config.contains("NetworkMode") || host_config["NetworkMode"] == "")
    host_config["NetworkMode"] = "default";
  if (!host_config.contains("RestartPolicy") || !host_config["RestartPolicy"].is_object())
    host_config["RestartPolicy"] = {{"Name", "no"}, {"MaximumRetryCount", 0}};
  if (!host_config.contains("LogConfig"))
    host_config["LogConfig"] = {{"Type", "json-file"}, {"Config", json::object()}};
  for (const char* k : {"AutoRemove", "Privileged", "ReadonlyRootfs", "PublishAllPorts"})
    if (!host_config.contains(k) || host_config[k].is_null()) host_config[k] = false;
  const std::string own_runtime = "sockerless-" + backend_.describe().name;  // as /info has it
  if (!host_config.contains("Runtime") || host_config["Runtime"] == "")
    host_config["Runtime"] = own_runtime;
  // runc is every client's name for "the default runtime": it is echoed as given.
  if (const auto& r = host_config["Runtime"]; !r.is_string() || (r != "runc" && r != own_runtime))
    throw InvalidArgument("Unknown runtime specified " +
                          (r.is_string() ? r.get<std::string>() : r.dump()));
  validate_host_config(host_config);
  if (host_config["NetworkMode"].get<std::string>().rfind("container:", 0) == 0)
    host_config["NetworkMode"] = validate_container_network(config, host_config);
  const std::string network = host_config["NetworkMode"].get<std::string>();
  json endpoints = json::object();
  bool publishes = host_config.contains("PortBindings") &&
                   host_config["PortBindings"].is_object() && !host_config["PortBindings"].empty();
  if (publishes && network != "host" && (!networks_ || !networks_->plumbing()))
    throw NotImplemented(
        "published ports (-p) need bridge networking, which needs a root daemon on the "
        "memory backend");
  if (networks_) {
    json given = json::object();
    if (body.contains("NetworkingConfig") && body["NetworkingConfig"].is_object())
      given = body["NetworkingConfig"].value("EndpointsConfig", json::object());
    endpoints = networks_->initial_endpoints(network, given);
  } else if (network != "default" && network != "bridge" && network != "none" &&
             network != "host" && network.rfind("container:", 0) != 0) {
    throw NotFound("network " + network + " not found");
  }

  Container c;
  c.id = generate_id();
  c.created = unix_nanos(Clock::now());
  c.image_id = image.id;
  c.image_ref = image_ref;
  c.argv = argv;
  if (!config.contains("Hostname") || config["Hostname"] == "") {
    char host[256] = {};
    // --network host shares the host's UTS name too, as with dockerd.
    if (network == "host" && ::gethostname(host, sizeof host - 1) == 0 && host[0])
      config["Hostname"] = std::string(host);
    else
      config["Hostname"] = c.id.substr(0, 12);
  }
  fill_zero_values(config, host_config);
  c.config = config;
  c.host_config = host_config;
  std::vector<VolumeFill> fills;
  c.mounts = resolve_mounts(host_config, config.value("Volumes", json(nullptr)), fills);
  c.networks = endpoints;

  std::string name = requested_name;
  if (!name.empty() && name.front() == '/') name = name.substr(1);
  {
    std::lock_guard lock(mu_);
    if (name.empty()) {
      do
        name = random_container_name();
      while (by_name_.count(name));
    } else {
      if (!std::regex_match(name, kNamePattern))
        throw InvalidArgument("Invalid container name (" + name +
                              "), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
      if (auto it = by_name_.find(name); it != by_name_.end())
        throw Conflict(
            "Conflict. The container name \"/" + name + "\" is already in use by container \"" +
            it->second +
            "\". You have to remove (or rename) that container to be able to reuse that name.");
    }
    c.name = name;
    register_links(c);
    persist(c);
    auto entry = std::make_shared<Entry>();
    entry->c = c;
    by_id_[c.id] = entry;
    by_name_[name] = c.id;
  }
  populate_volumes(c, fills);
  publish(c, "create");
  return {c.id, {}};
}

ContainerLaunch Containers::launch_for(const Container& c) {
  ContainerLaunch l;
  l.id = c.id;
  l.name = c.name;
  l.image_id = c.image_id;
  l.image_ref = c.image_ref;
  l.argv = c.argv;
  l.env = process_environment(c.config, c.config.value("Tty", false));
  l.working_dir = c.config.value("WorkingDir", "");
  l.user = c.config.value("User", "");
  l.hostname = c.config.value("Hostname", "");
  l.domainname = c.config.value("Domainname", "");
  l.tty = c.config.value("Tty", false);
  l.open_stdin = c.config.value("OpenStdin", false);
  l.stdin_once = c.config.value("StdinOnce", false);
  const json& h = c.host_config;
  l.readonly_rootfs = h.value("ReadonlyRootfs", false);
  l.privileged = h.value("Privileged", false);
  l.init = h.value("Init", json(false)).is_boolean() && h.value("Init", json(false)).get<bool>();
  auto strings = [&](const char* key) { return string_array(h, key); };
  l.cap_add = strings("CapAdd");
  l.group_add = strings("GroupAdd");
  l.cap_drop = strings("CapDrop");
  l.extra_hosts = strings("ExtraHosts");
  l.dns = strings("Dns");
  l.dns_search = strings("DnsSearch");
  l.dns_options = strings("DnsOptions");
  if (h.contains("Ulimits") && h["Ulimits"].is_array())
    for (const auto& u : h["Ulimits"])
      l.ulimits.push_back(ContainerLaunch::Ulimit{
          u.value("Name", ""), u.value("Soft", std::int64_t{0}), u.value("Hard", std::int64_t{0})});
  if (h.contains("ShmSize") && h["ShmSize"].is_number() && h["ShmSize"].get<std::int64_t>() > 0)
    l.shm_size = h["ShmSize"];
  std::string mode = h.value("NetworkMode", "default");
  l.network_mode = mode == "host" ? "host" : mode == "none" ? "none" : "default";
  l.memory = h.value("Memory", std::int64_t{0});
  l.memory_swap = h.value("MemorySwap", std::int64_t{0});
  if (std::int64_t nano = h.value("NanoCpus", std::int64_t{0}); nano > 0) {
    l.cpu_period = 100000;  // --cpus: a quota over docker's default period
    l.cpu_quota = nano * l.cpu_period / 1000000000;
  }
  l.cpu_shares = h.value("CpuShares", std::int64_t{0});
  if (std::int64_t quota = h.value("CpuQuota", std::int64_t{0}); quota != 0) l.cpu_quota = quota;
  if (std::int64_t period = h.value("CpuPeriod", std::int64_t{0}); period != 0)
    l.cpu_period = period;
  if (h.contains("PidsLimit") && h["PidsLimit"].is_number()) l.pids_limit = h["PidsLimit"];
  for (const auto& m : c.mounts)
    l.mounts.push_back(launch_mount(m));
  // --tmpfs /path:opts: not part of Mounts in dockerd's inspect either.
  if (h.contains("Tmpfs") && h["Tmpfs"].is_object())
    for (const auto& [target, opts] : h["Tmpfs"].items()) {
      ContainerLaunch::Mount mount;
      mount.type = "tmpfs";
      mount.target = target;
      apply_tmpfs_options(opts.is_string() ? opts.get<std::string>() : "", mount);
      l.mounts.push_back(mount);
    }
  std::string image_id = c.image_id;
  l.rootfs_layers = [this, image_id] {
    auto record = images_.store().get(image_id);
    if (!record) throw NotFound("image " + image_id + " is gone");
    std::vector<std::string> dirs;
    for (const auto& layer : record->layers)
      dirs.push_back(images_.store().unpacked_layer(layer));
    return dirs;
  };
  return l;
}

void Containers::start(const std::string& ref) {
  std::shared_ptr<Entry> entry;
  ContainerLaunch launch;
  json endpoints, host_config, exposed, ports;
  std::string hostname;
  {
    std::lock_guard lock(mu_);
    entry = find(ref);
    if (!entry) throw NotFound("No such container: " + ref);
    if (entry->c.running() || entry->starting) throw NotModified("container already started");
    if (entry->c.state.status == "removing")
      throw Conflict("container is marked for removal and cannot be started");
    entry->starting = true;
    launch = launch_for(entry->c);
    launch.early_attach = std::move(entry->early_attach);
    entry->early_attach.clear();
    endpoints = entry->c.networks;
    host_config = entry->c.host_config;
    exposed = entry->c.config.value("ExposedPorts", json::object());
    hostname = entry->c.config.value("Hostname", "");
  }
  // The network comes first: the container's process starts inside it.
  const std::string network_mode = host_config.value("NetworkMode", "default");
  const bool joins_other = network_mode.rfind("container:", 0) == 0;
  // As dockerd, a start that fails before the process (links, networks) leaves its error
  // in State.Error with exit code 128, and a container that was to remove itself goes.
  auto failed_before_process = [&](const std::exception& e) {
    bool auto_remove = false;
    {
      std::lock_guard lock(mu_);
      entry->starting = false;
      entry->c.state.exit_code = 128;  // dockerd's code for a start that failed
      entry->c.state.error = e.what();
      persist(entry->c);
      auto_remove = entry->c.host_config.value("AutoRemove", false);
    }
    changed_.notify_all();
    if (auto_remove) destroy_quietly(entry);
  };
  try {
    if (joins_other)
      join_container_network(network_mode, launch);
    else
      apply_links(entry->c.id, launch);
  } catch (const std::exception& e) {
    failed_before_process(e);
    throw;
  }
  if (networks_ && !joins_other) {
    try {
      auto attached = networks_->attach(entry->c.id, entry->c.name, hostname, endpoints,
                                        host_config, exposed, ports);
      launch.netns_path = attached.netns_path;
      launch.ip_address = attached.ip_address;
      if (launch.dns.empty()) launch.dns = attached.dns;
    } catch (const std::exception& e) {
      failed_before_process(e);
      throw;
    }
    std::lock_guard lock(mu_);
    entry->c.networks = endpoints;
    entry->c.ports = ports;
  }
  auto release_network = [&] {
    if (!networks_) return;
    networks_->detach(entry->c.id, endpoints, ports);
    std::lock_guard lock(mu_);
    entry->c.networks = endpoints;
    entry->c.ports = ports;
  };
  StartResult started;
  bool volumes_held = false;
  try {
    mount_volumes(entry->c.id);
    volumes_held = true;
    started = backend_.start(launch);
  } catch (const StartFailure& f) {
    if (volumes_held) release_volumes(entry->c.id, entry->c.mounts);
    release_network();
    bool auto_remove = false;
    {
      std::lock_guard lock(mu_);
      entry->starting = false;
      entry->c.state.exit_code = f.exit_code();
      entry->c.state.error = f.what();
      persist(entry->c);
      auto_remove = entry->c.host_config.value("AutoRemove", false);
    }
    changed_.notify_all();
    // Like dockerd, a container that was to remove itself goes when its start fails.
    if (auto_remove) destroy_quietly(entry);
    std::string message =
        std::string("failed to create task for container: unable to start container process: ") +
        f.what();
    if (f.exit_code() == 127 || f.exit_code() == 126) throw InvalidArgument(message);
    throw Internal(message);
  } catch (...) {
    if (volumes_held) release_volumes(entry->c.id, entry->c.mounts);
    release_network();
    {
      std::lock_guard lock(mu_);
      entry->starting = false;
    }
    changed_.notify_all();
    throw;
  }
  Container snapshot;
  {
    std::lock_guard lock(mu_);
    entry->starting = false;
    auto& s = entry->c.state;
    s.status = "running";
    s.pid = started.pid;
    s.started_at = started.started_at;
    s.finished_at = 0;
    s.exit_code = 0;
    s.error.clear();
    s.oom_killed = false;  // as dockerd's SetRunning
    entry->c.manually_stopped = false;
    persist(entry->c);
    snapshot = entry->c;
  }
  changed_.notify_all();
  publish(snapshot, "start");
  watch(snapshot.id);
  if (on_started_) on_started_(snapshot.id);
}

void Containers::watch(const std::string& id) {
  auto life = life_of(this);
  std::thread([this, id, life] {
    ExitStatus status = backend_.wait_exit(id);
    std::lock_guard guard(life->mu);
    if (!life->alive) return;
    on_exit(id, status);
  }).detach();
}

void Containers::on_exit(const std::string& id, const ExitStatus& status) {
  std::shared_ptr<Entry> entry;
  Container snapshot;
  bool auto_remove = false;
  std::optional<std::chrono::milliseconds> restart_delay;
  {
    std::lock_guard lock(mu_);
    auto it = by_id_.find(id);
    if (it == by_id_.end()) return;
    entry = it->second;
    auto& s = entry->c.state;
    if (s.status != "running" && s.status != "paused") return;
    s.status = "exited";
    s.pid = 0;
    s.exit_code = status.code;
    s.finished_at = status.finished_at;
    s.error = status.error;
    s.oom_killed = status.oom_killed;
    entry->c.exits++;
    auto_remove = entry->c.host_config.value("AutoRemove", false);
    if (!shutting_down_) restart_delay = restart_decision(entry->c, status.code);
    if (restart_delay) {
      s.status = "restarting";
      entry->c.restart_count++;
    }
    snapshot = entry->c;
  }
  if (networks_) {  // its addresses and ports go with its processes, as in dockerd
    networks_->detach(id, snapshot.networks, snapshot.ports);
    std::lock_guard lock(mu_);
    entry->c.networks = snapshot.networks;
    entry->c.ports = snapshot.ports;
  }
  {
    std::lock_guard lock(mu_);
    persist(entry->c);
  }
  changed_.notify_all();
  if (status.oom_killed) publish(snapshot, "oom");  // dockerd reports it before the die
  publish(snapshot, "die", {{"exitCode", std::to_string(status.code)}});
  release_volumes(id, snapshot.mounts);
  if (restart_delay) {
    auto life = life_of(this);
    std::thread([this, id, delay = *restart_delay, life] {
      std::this_thread::sleep_for(delay);
      std::lock_guard guard(life->mu);
      if (!life->alive) return;
      {
        std::lock_guard lock(mu_);
        auto it = by_id_.find(id);
        // It stays "restarting" until it runs again, as in dockerd.
        if (it == by_id_.end() || it->second->c.state.status != "restarting") return;
      }
      try {
        start(id);
      } catch (const std::exception& e) {
        spdlog::warn("restarting container {}: {}", id, e.what());
        std::lock_guard lock(mu_);
        if (auto e2 = find(id); e2 && e2->c.state.status == "restarting") {
          e2->c.state.status = "exited";
          persist(e2->c);
        }
      }
    }).detach();
    return;
  }
  if (auto_remove) destroy_quietly(entry);
}

// The restart policy's verdict on an exit: the delay before restarting, or none. The
// delay doubles from 100 ms with each restart, up to a minute, as dockerd's back-off does.
std::optional<std::chrono::milliseconds> Containers::restart_decision(const Container& c,
                                                                      int exit_code) {
  if (c.manually_stopped || c.host_config.value("AutoRemove", false)) return std::nullopt;
  const json policy = c.host_config.value("RestartPolicy", json::object());
  std::string name = policy.value("Name", "no");
  bool restart = false;
  if (name == "always" || name == "unless-stopped") {
    restart = true;
  } else if (name == "on-failure") {
    int max = policy.value("MaximumRetryCount", 0);
    restart = exit_code != 0 && (max == 0 || c.restart_count < max);
  }
  if (!restart) return std::nullopt;
  // A container that ran for 10 s or more starts its back-off afresh.
  bool long_run = c.state.finished_at - c.state.started_at >= 10'000'000'000LL;
  int step = long_run ? 0 : std::min(c.restart_count, 10);
  auto delay = std::chrono::milliseconds(100) * (1 << step);
  return std::min<std::chrono::milliseconds>(delay, std::chrono::minutes(1));
}

void Containers::destroy(const std::shared_ptr<Entry>& entry, bool remove_volumes) {
  Container snapshot;
  {
    std::lock_guard lock(mu_);
    if (entry->removed || entry->removing) return;
    const std::string was = entry->c.state.status;
    const bool had_remove_volumes = entry->c.remove_volumes;
    entry->removing = true;
    entry->c.state.status = "removing";
    entry->c.remove_volumes = had_remove_volumes || remove_volumes;
    try {
      persist(entry->c, true);
    } catch (...) {  // not recorded: nothing has begun
      entry->removing = false;
      entry->c.state.status = was;
      entry->c.remove_volumes = had_remove_volumes;
      throw;
    }
    snapshot = entry->c;
  }
  changed_.notify_all();
  try {
    backend_.remove(snapshot.id);
  } catch (const std::exception& e) {
    // As dockerd: the container is dead, its error says why, and rm -f may try again.
    std::string error = "unable to remove filesystem for " + snapshot.id + ": " + e.what();
    {
      std::lock_guard lock(mu_);
      entry->removing = false;
      entry->c.state.status = "dead";
      entry->c.state.pid = 0;
      entry->c.state.error = error;
      persist(entry->c);
    }
    changed_.notify_all();
    throw Internal(error);
  }
  if (networks_) networks_->detach(snapshot.id, snapshot.networks, snapshot.ports);
  // Gone from view first (its volumes are then no longer in use), then its anonymous
  // volumes, then the record: a crash before that finishes all of it at start-up.
  {
    std::lock_guard lock(mu_);
    entry->removed = true;
    entry->removing = false;
    by_id_.erase(snapshot.id);
    if (auto it = by_name_.find(snapshot.name); it != by_name_.end() && it->second == snapshot.id)
      by_name_.erase(it);
    release_link_names(snapshot);
    for (auto& a : entry->early_attach)
      a.deliver(UniqueFd());
    entry->early_attach.clear();
  }
  if (snapshot.remove_volumes) remove_anonymous_volumes(snapshot);
  {
    std::lock_guard lock(mu_);
    db_.transaction([&] {
      auto s = db_.prepare("DELETE FROM containers WHERE id = ?");
      s.bind(1, snapshot.id);
      s.run();
    });
  }
  changed_.notify_all();
  if (on_destroyed_) on_destroyed_(snapshot.id);
  publish(snapshot, "destroy");
}

void Containers::destroy_quietly(const std::shared_ptr<Entry>& entry) {
  try {
    destroy(entry, true);
  } catch (const std::exception& e) {
    spdlog::warn("removing container {}: {}", entry->c.id, e.what());
  }
}

void Containers::finish_removals() {
  std::vector<std::shared_ptr<Entry>> pending;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, e] : by_id_) {
      const auto& s = e->c.state.status;
      // Also, as dockerd's restore: one that was to remove itself and has exited (the
      // daemon went away before it could), and is not waiting to be restarted.
      bool auto_removed = s == "exited" && e->c.host_config.value("AutoRemove", false);
      if (s == "removing" || auto_removed) {
        if (auto_removed) e->c.remove_volumes = true;
        pending.push_back(e);
      }
    }
  }
  for (const auto& e : pending) {
    spdlog::info("container {}: finishing its removal", e->c.id);
    try {
      destroy(e, e->c.remove_volumes);
    } catch (const std::exception& ex) {
      spdlog::warn("container {}: {}", e->c.id, ex.what());
    }
  }
}

void Containers::kill(const std::string& ref, const std::string& signal_text) {
  int sig = parse_signal(signal_text.empty() ? "KILL" : signal_text);
  Container c;
  std::shared_ptr<Entry> entry;
  std::uint64_t exits = 0;
  {
    std::lock_guard lock(mu_);
    entry = find(ref);
    if (!entry) throw NotFound("No such container: " + ref);
    if (!entry->c.running())
      throw Conflict("Cannot kill container: " + ref + ": Container " + entry->c.id +
                     " is not running");
    entry->c.manually_stopped = true;
    c = entry->c;
    exits = entry->c.exits;
  }
  backend_.signal(c.id, sig);
  publish(c, "kill", {{"signal", std::to_string(sig)}});
  if (sig != SIGKILL) return;
  // As dockerd's: a SIGKILL answers once the container has exited and its exit code is
  // recorded, so that an inspect or a removal right after it sees a stopped container.
  std::unique_lock lock(mu_);
  if (!changed_.wait_for(lock, std::chrono::seconds(30),
                         [&] { return entry->c.exits != exits || entry->removed; }))
    spdlog::warn("container {} still running 30 s after SIGKILL", c.id);
}

void Containers::stop(const std::string& ref, std::optional<int> timeout,
                      const std::string& signal_text) {
  std::shared_ptr<Entry> entry;
  Container c;
  std::uint64_t exits = 0;
  {
    std::unique_lock lock(mu_);
    entry = find(ref);
    if (!entry) throw NotFound("No such container: " + ref);
    // A (re)start in progress finishes first: then there is a process to stop.
    changed_.wait_for(lock, std::chrono::seconds(30), [&] { return !entry->starting; });
    if (entry->c.state.status == "restarting") {
      // Waiting for its restart back-off: stopping it cancels the restart.
      entry->c.manually_stopped = true;
      entry->c.state.status = "exited";
      persist(entry->c);
      c = entry->c;
    } else {
      if (!entry->c.running()) throw NotModified("container already stopped");
      c = entry->c;
      exits = entry->c.exits;
    }
  }
  if (c.state.status == "exited") {
    changed_.notify_all();
    publish(c, "stop");
    return;
  }
  std::string name =
      !signal_text.empty() ? signal_text : c.config.value("StopSignal", std::string("SIGTERM"));
  int sig = parse_signal(name);
  int seconds =
      timeout.value_or(c.config.contains("StopTimeout") && c.config["StopTimeout"].is_number()
                           ? c.config["StopTimeout"].get<int>()
                           : 10);
  auto exited = [&] { return entry->c.exits != exits || entry->removed; };
  {
    std::lock_guard lock(mu_);
    // Stopped by the daemon's shutdown: the restart policy applies at the next start-up.
    if (!shutting_down_) entry->c.manually_stopped = true;
  }
  backend_.signal(c.id, sig);
  publish(c, "kill", {{"signal", std::to_string(sig)}});
  {
    std::unique_lock lock(mu_);
    if (seconds < 0)
      changed_.wait(lock, exited);
    else
      changed_.wait_for(lock, std::chrono::seconds(seconds), exited);
    if (!exited()) {
      lock.unlock();
      backend_.signal(c.id, SIGKILL);
      publish(c, "kill", {{"signal", std::to_string(SIGKILL)}});
      lock.lock();
      changed_.wait_for(lock, std::chrono::seconds(30), exited);
    }
  }
  publish(c, "stop");
}

void Containers::restart(const std::string& ref, std::optional<int> timeout,
                         const std::string& signal) {
  try {
    stop(ref, timeout, signal);
  } catch (const NotModified&) {
  }
  start(ref);
  publish(get(ref), "restart");
}

void Containers::remove(const std::string& ref, bool force, bool remove_volumes) {
  std::shared_ptr<Entry> entry;
  {
    std::unique_lock lock(mu_);
    entry = find(ref);
    if (!entry) throw NotFound("No such container: " + ref);
    // A start in progress finishes first: its process is then there to kill (a removal
    // under it would be undone by the start's own record).
    changed_.wait_for(lock, std::chrono::seconds(30), [&] { return !entry->starting; });
    if (entry->removing)
      throw Conflict("removal of container " + entry->c.id + " is already in progress");
    if (entry->c.running() && !force)
      throw Conflict("You cannot remove a running container " + entry->c.id +
                     ". Stop the container before attempting removal or force remove");
  }
  if (entry->c.running()) {
    std::uint64_t exits;
    {
      std::lock_guard lock(mu_);
      exits = entry->c.exits;
    }
    backend_.signal(entry->c.id, SIGKILL);
    std::unique_lock lock(mu_);
    changed_.wait_for(lock, std::chrono::seconds(30),
                      [&] { return entry->c.exits != exits || entry->removed; });
  }
  destroy(entry, remove_volumes);
  // The kill may have let an auto-removal begin first (destroy then leaves it to that):
  // answer once the container is gone, as dockerd does, so its name is free again.
  std::unique_lock lock(mu_);
  changed_.wait_for(lock, std::chrono::seconds(30), [&] { return !entry->removing; });
  if (entry->removing)
    throw Conflict("removal of container " + entry->c.id + " is already in progress");
  if (!entry->removed) throw Internal(entry->c.state.error);
}

// docker rm -v and --rm: the container's anonymous volumes go with it.
void Containers::remove_anonymous_volumes(const Container& c) {
  if (!volumes_) return;
  for (const auto& m : c.mounts)
    if (m.value("Type", "") == "volume")
      if (auto v = volumes_->find(m.value("Name", "")); v && v->anonymous) {
        try {
          volumes_->remove(v->name, false);
        } catch (const Conflict&) {
        }
      }
}

void Containers::rename(const std::string& ref, const std::string& new_name_in) {
  std::string new_name = new_name_in;
  if (!new_name.empty() && new_name.front() == '/') new_name = new_name.substr(1);
  if (!std::regex_match(new_name, kNamePattern))
    throw InvalidArgument("Invalid container name (" + new_name +
                          "), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
  Container c;
  std::string old;
  {
    std::lock_guard lock(mu_);
    auto e = find(ref);
    if (!e) throw NotFound("No such container: " + ref);
    if (auto it = by_name_.find(new_name); it != by_name_.end())
      throw Conflict(
          "Error when allocating new name: Conflict. The container name \"/" + new_name +
          "\" is already in use by container \"" + it->second +
          "\". You have to remove (or rename) that container to be able to reuse that name.");
    old = e->c.name;
    by_name_.erase(old);
    e->c.name = new_name;
    by_name_[new_name] = e->c.id;
    rename_links(e->c, old);
    persist(e->c);
    c = e->c;
  }
  publish(c, "rename", {{"oldName", "/" + old}});
}

std::string Containers::commit(const std::string& ref, const CommitOptions& o) {
  Container c = get(ref);
  std::string repo_tag;
  if (!o.repo.empty()) {
    repo_tag = o.repo + (o.tag.empty() ? "" : ":" + o.tag);
    image::with_default_tag(image::parse_reference(repo_tag));  // refuse a bad name up front
  } else if (!o.tag.empty()) {
    throw InvalidArgument("invalid reference format: repository name must be given with a tag");
  }
  json config = c.config;
  if (o.config.is_object())
    for (const auto& [k, v] : o.config.items())
      if (!v.is_null() && !(v.is_string() && v.get<std::string>().empty()) &&
          !(v.is_array() && v.empty()) && !(v.is_object() && v.empty()) &&
          !(v.is_boolean() && !v.get<bool>()))
        config[k] = v;
  image::apply_changes(config, o.changes);

  // Pausing applies to a running container only, and, as with dockerd, a pause or unpause
  // that fails (the process ended meanwhile) does not fail the commit.
  bool paused_here = false;
  if (o.pause && c.state.status == "running" && backend_.supports(Capability::Pause)) {
    try {
      backend_.pause(c.id);
      paused_here = true;
    } catch (const std::exception& e) {
      spdlog::debug("commit of {}: not paused: {}", c.id, e.what());
    }
  }
  auto resume = [&] {
    if (!paused_here) return;
    try {
      backend_.unpause(c.id);
    } catch (const std::exception& e) {
      spdlog::debug("commit of {}: unpause: {}", c.id, e.what());
    }
  };
  std::string cmd;
  for (const auto& part : c.config.value("Cmd", json::array()))
    if (part.is_string()) cmd += (cmd.empty() ? "" : " ") + part.get<std::string>();
  image::CommitInfo info;
  info.container_id = c.id;
  info.container_config_text = c.config.dump();
  info.author = o.author;
  info.comment = o.comment;
  info.created_by = cmd;
  info.repo_tag = repo_tag;
  std::string id;
  try {
    id = images_.commit(c.image_id, config, info,
                        [&](const std::function<void(const char*, std::size_t)>& sink) {
                          write_changes(c.id, sink);
                        });
  } catch (...) {
    resume();
    throw;
  }
  resume();
  publish(c, "commit", {{"comment", o.comment}, {"imageID", id}, {"imageRef", repo_tag}});
  return id;
}

void Containers::write_changes(const std::string& ref,
                               const std::function<void(const char*, std::size_t)>& sink) {
  backend_.write_changes(launch_for(get(ref)), sink);
}

json Containers::update(const std::string& ref, const json& body) {
  if (!body.is_object()) throw InvalidArgument("update: the body must be a JSON object");
  auto number = [&](const char* key) -> std::optional<std::int64_t> {
    if (!body.contains(key) || !body[key].is_number_integer()) return std::nullopt;
    return body[key].get<std::int64_t>();
  };
  Container c;
  json previous;
  {
    std::lock_guard lock(mu_);
    auto e = find(ref);
    if (!e) throw NotFound("No such container: " + ref);
    json h = e->c.host_config;
    auto cannot = [&](const std::string& why) {
      return InvalidArgument("Cannot update container " + e->c.id + ": " + why);
    };
    if (body.contains("RestartPolicy") && body["RestartPolicy"].is_object()) {
      std::string policy = body["RestartPolicy"].value("Name", "");
      if (!policy.empty()) {
        if (h.value("AutoRemove", false) && policy != "no")
          throw cannot(
              "Restart policy cannot be updated because AutoRemove is enabled for the "
              "container");
        if (policy != "no" && policy != "always" && policy != "unless-stopped" &&
            policy != "on-failure")
          throw cannot("invalid restart policy '" + policy + "'");
        h["RestartPolicy"] = {
            {"Name", policy},
            {"MaximumRetryCount", body["RestartPolicy"].value("MaximumRetryCount", 0)}};
      }
    }
    // The fields dockerd's update takes; a zero leaves the current value.
    for (const char* key :
         {"Memory", "MemorySwap", "MemoryReservation", "CpuShares", "CpuPeriod", "CpuQuota",
          "NanoCpus", "BlkioWeight", "CpuRealtimePeriod", "CpuRealtimeRuntime", "KernelMemory"})
      if (auto v = number(key); v && *v != 0) h[key] = *v;
    for (const char* key : {"CpusetCpus", "CpusetMems"})
      if (body.contains(key) && body[key].is_string() && !body[key].get<std::string>().empty())
        h[key] = body[key];
    if (auto v = number("PidsLimit")) h["PidsLimit"] = *v <= 0 ? 0 : *v;
    std::int64_t memory = h.value("Memory", std::int64_t{0});
    std::int64_t swap = h.value("MemorySwap", std::int64_t{0});
    if (memory > 0 && memory < (6 << 20)) throw cannot("Minimum memory limit allowed is 6MB");
    if (memory > 0 && swap > 0 && swap < memory)
      throw cannot(number("MemorySwap")
                       ? "Minimum memoryswap limit should be larger than memory limit, see "
                         "usage"
                       : "Memory limit should be smaller than already set memoryswap limit, "
                         "update the memoryswap at the same time");
    if (h.value("NanoCpus", std::int64_t{0}) > 0 &&
        (h.value("CpuQuota", std::int64_t{0}) > 0 || h.value("CpuPeriod", std::int64_t{0}) > 0))
      throw cannot(
          "Conflicting options: Nano CPUs cannot be set at the same time as CPU Period or CPU "
          "Quota");
    previous = e->c.host_config;
    e->c.host_config = h;
    c = e->c;
  }
  if (c.running()) {
    try {
      backend_.update_resources(launch_for(c));
    } catch (const std::exception& err) {
      {
        std::lock_guard lock(mu_);
        if (auto e = find(c.id)) e->c.host_config = previous;
      }
      // A backend without live updates says so (501); the kernel refusing a limit is the
      // request's fault (400), as with dockerd.
      if (auto* typed = dynamic_cast<const Error*>(&err);
          typed && typed->kind() == ErrorKind::NotImplemented)
        throw;
      throw InvalidArgument("Cannot update container " + c.id + ": " + err.what());
    }
  }
  {
    std::lock_guard lock(mu_);
    if (auto e = find(c.id)) persist(e->c);
  }
  publish(c, "update");
  return nullptr;  // dockerd answers {"Warnings":null}
}

void Containers::connect_network(const std::string& ref, const std::string& network,
                                 const json& endpoint_config) {
  if (!networks_) throw NotImplemented("networks are not available");
  std::lock_guard lock(mu_);
  auto e = find(ref);
  if (!e) throw NotFound("No such container: " + ref);
  networks_->connect(e->c.id, e->c.name, e->c.config.value("Hostname", ""), network, e->c.running(),
                     endpoint_config, e->c.networks);
  persist(e->c);
}

void Containers::disconnect_network(const std::string& ref, const std::string& network,
                                    bool force) {
  if (!networks_) throw NotImplemented("networks are not available");
  std::lock_guard lock(mu_);
  auto e = find(ref);
  if (!e) {
    // A removed container has no endpoint left to force away.
    if (!force) throw NotFound("No such container: " + ref);
    return;
  }
  networks_->disconnect(e->c.id, network, e->c.running(), e->c.networks);
  persist(e->c);
}

int Containers::network_users(const std::string& network_id) const {
  std::lock_guard lock(mu_);
  int n = 0;
  for (const auto& [id, e] : by_id_)
    for (const auto& [name, ep] : e->c.networks.items())
      if (ep.value("NetworkID", "") == network_id && e->c.running()) ++n;
  return n;
}

void Containers::resize(const std::string& ref, int height, int width) {
  Container c = get(ref);
  if (!c.running()) throw Conflict("Container " + c.id + " is not running");
  backend_.resize(c.id, height, width);
  publish(c, "resize", {{"height", std::to_string(height)}, {"width", std::to_string(width)}});
}

void Containers::pause(const std::string& ref) {
  set_paused(ref, true);
}
void Containers::unpause(const std::string& ref) {
  set_paused(ref, false);
}

// Freezes or thaws through the backend and records it, with dockerd's conflicts.
void Containers::set_paused(const std::string& ref, bool paused) {
  Container c;
  {
    std::lock_guard lock(mu_);
    auto e = find(ref);
    if (!e) throw NotFound("No such container: " + ref);
    const std::string& status = e->c.state.status;
    if (paused && status == "paused") throw Conflict("Container " + e->c.id + " is already paused");
    if (paused && status != "running") throw Conflict("Container " + e->c.id + " is not running");
    if (!paused && status != "paused") throw Conflict("Container " + e->c.id + " is not paused");
    c = e->c;
  }
  if (paused)
    backend_.pause(c.id);
  else
    backend_.unpause(c.id);
  {
    std::lock_guard lock(mu_);
    if (auto e = find(c.id)) {
      e->c.state.status = paused ? "paused" : "running";
      persist(e->c);
    }
  }
  publish(c, paused ? "pause" : "unpause");
}

std::pair<std::vector<std::string>, std::vector<std::vector<std::string>>> Containers::top(
    const std::string& ref, const std::string& ps_args_in) {
  Container c = get(ref);
  if (!c.running()) throw Conflict("Container " + c.id + " is not running");
  if (auto table = backend_.top(c.id, ps_args_in)) return *table;
  auto pids = backend_.processes(c.id);
  std::string ps_args = ps_args_in.empty() ? "-ef" : ps_args_in;
  for (char ch : ps_args)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == ' ' || ch == ',' ||
          ch == '=' || ch == '%'))
      throw InvalidArgument("invalid ps arguments: " + ps_args);
  // Like dockerd: run ps on the host and keep the container's rows.
  std::string cmd = "ps " + ps_args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) throw Internal("cannot run ps");
  std::string text;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0)
    text.append(buf, n);
  int rc = ::pclose(p);
  if (rc != 0) throw Internal("ps " + ps_args + " failed: " + text);
  std::vector<std::string> lines;
  std::size_t start = 0, nl;
  while ((nl = text.find('\n', start)) != std::string::npos) {
    lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  if (lines.empty()) throw Internal("ps printed nothing");
  auto split = [](const std::string& line, std::size_t max_fields) {
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i < line.size()) {
      while (i < line.size() && line[i] == ' ')
        ++i;
      if (i >= line.size()) break;
      if (out.size() + 1 == max_fields) {
        out.push_back(line.substr(i));
        break;
      }
      std::size_t j = line.find(' ', i);
      out.push_back(line.substr(i, j == std::string::npos ? std::string::npos : j - i));
      i = j == std::string::npos ? line.size() : j;
    }
    return out;
  };
  std::vector<std::string> titles = split(lines[0], 1000);
  std::size_t pid_col = titles.size();
  for (std::size_t i = 0; i < titles.size(); ++i)
    if (titles[i] == "PID") pid_col = i;
  if (pid_col == titles.size()) throw InvalidArgument("Couldn't find PID field in ps output");
  std::vector<std::vector<std::string>> rows;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    auto fields = split(lines[i], titles.size());
    if (fields.size() <= pid_col) continue;
    int pid = std::atoi(fields[pid_col].c_str());
    if (std::find(pids.begin(), pids.end(), pid) != pids.end()) rows.push_back(fields);
  }
  return {titles, rows};
}

std::optional<WaitResult> Containers::wait(const std::string& ref, const std::string& condition_in,
                                           const std::function<bool()>& client_gone) {
  std::string condition = condition_in.empty() ? "not-running" : condition_in;
  if (condition != "not-running" && condition != "next-exit" && condition != "removed")
    throw InvalidArgument("invalid condition: \"" + condition + "\"");
  std::unique_lock lock(mu_);
  auto entry = find(ref);
  if (!entry) throw NotFound("No such container: " + ref);
  std::uint64_t exits = entry->c.exits;
  auto done = [&] {
    if (condition == "removed") return entry->removed;
    if (condition == "next-exit") return entry->c.exits != exits || entry->removed;
    return !entry->c.running() && !entry->starting;
  };
  while (!done()) {
    changed_.wait_for(lock, std::chrono::milliseconds(500));
    if (!done() && client_gone && client_gone()) return std::nullopt;
  }
  return WaitResult{entry->c.state.exit_code, entry->c.state.error};
}

UniqueFd Containers::attach(const std::string& ref, bool in, bool out, bool err,
                            const std::function<bool()>& client_gone,
                            const std::function<void()>& registered) {
  std::shared_ptr<Entry> entry;
  std::future<UniqueFd> early;
  Container c;
  {
    std::unique_lock lock(mu_);
    entry = find(ref);
    if (!entry) throw NotFound("No such container: " + ref);
    // A start under way has taken the attaches registered before it: one added now would
    // wait for the start after this one. Let it finish and join the running process.
    while (entry->starting && !entry->removed) {
      changed_.wait_for(lock, std::chrono::milliseconds(200));
      if (entry->starting && client_gone && client_gone()) return UniqueFd();
    }
    c = entry->c;
    if (!entry->c.running()) {
      if (entry->c.state.status != "created" && entry->c.state.status != "exited")
        throw Conflict("cannot attach to a container in state " + entry->c.state.status);
      auto promise = std::make_shared<std::promise<UniqueFd>>();
      early = promise->get_future();
      entry->early_attach.push_back(ContainerLaunch::EarlyAttach{
          in, out, err, [promise](UniqueFd fd) { promise->set_value(std::move(fd)); }});
    }
  }
  publish(c, "attach");
  if (!early.valid()) {
    UniqueFd fd = backend_.attach(c.id, in, out, err);
    if (registered) registered();
    return fd;
  }
  // Withdraws the request so a later start does not wait for it.
  auto withdraw = [&] {
    std::lock_guard lock(mu_);
    auto& pending = entry->early_attach;
    if (!pending.empty()) pending.pop_back();
  };
  if (registered) {
    try {
      registered();
    } catch (...) {
      withdraw();
      throw;
    }
  }
  while (early.wait_for(std::chrono::milliseconds(200)) != std::future_status::ready) {
    if (client_gone && client_gone()) {
      withdraw();
      return UniqueFd();
    }
  }
  return early.get();
}

namespace {

// The container's name in docker cp's messages: as the user gave it.
ContainerLaunch named(ContainerLaunch l, const std::string& ref) {
  l.name = ref;
  return l;
}

}  // namespace

std::vector<std::pair<std::string, int>> Containers::changes(const std::string& ref) {
  Container c = get(ref);
  return backend_.changes(launch_for(c));
}

std::int64_t Containers::changes_size(const std::string& ref) {
  Container c = get(ref);
  if (!backend_.supports(Capability::Changes)) return 0;
  try {
    return backend_.changes_size(launch_for(c));
  } catch (const std::exception& e) {
    spdlog::debug("container {}: measuring its layer: {}", c.id, e.what());
    return 0;
  }
}

PathStat Containers::archive_stat(const std::string& ref, const std::string& path) {
  Container c = get(ref);
  return backend_.archive_stat(named(launch_for(c), ref), c.running() ? c.state.pid : 0, path);
}

UniqueFd Containers::archive_get(const std::string& ref, const std::string& path, PathStat& stat) {
  Container c = get(ref);
  UniqueFd tar =
      backend_.archive_get(named(launch_for(c), ref), c.running() ? c.state.pid : 0, path, stat);
  publish(c, "archive-path");
  return tar;
}

UniqueFd Containers::export_rootfs(const std::string& ref) {
  Container c = get(ref);
  PathStat ignored;
  UniqueFd tar =
      backend_.archive_get(named(launch_for(c), ref), c.running() ? c.state.pid : 0, "", ignored);
  publish(c, "export");
  return tar;
}

void Containers::archive_put(const std::string& ref, const std::string& dir, int tar_fd,
                             bool no_overwrite_dir_non_dir, bool copy_uid_gid) {
  Container c = get(ref);
  // A read-only root still takes copies into its volumes: the backend, which resolves the
  // path, refuses what dockerd refuses.
  backend_.archive_put(named(launch_for(c), ref), c.running() ? c.state.pid : 0, dir, tar_fd,
                       no_overwrite_dir_non_dir, copy_uid_gid);
  publish(c, "extract-to-dir");
}

std::string Containers::log_path(const std::string& ref) const {
  Container c = get(ref);
  return backend_.log_path(c.id);
}

void Containers::stop_all(std::chrono::seconds limit) {
  {
    std::lock_guard lock(mu_);
    shutting_down_ = true;
  }
  std::vector<std::thread> stoppers;
  for (const auto& c : list())
    if (c.running())
      stoppers.emplace_back(
          [this, id = c.id, limit, stop_timeout = c.config.value("StopTimeout", json(10))] {
            // Each with its own stop timeout, but none beyond the daemon's shutdown timeout.
            int own = stop_timeout.is_number() ? stop_timeout.get<int>() : 10;
            int seconds = own < 0 ? static_cast<int>(limit.count())
                                  : std::min(own, static_cast<int>(limit.count()));
            try {
              stop(id, seconds, "");
            } catch (const std::exception& e) {
              spdlog::debug("stopping {} at shutdown: {}", id, e.what());
            }
          });
  for (auto& t : stoppers)
    t.join();
}

void Containers::restart_after_boot() {
  std::vector<std::string> due;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, e] : by_id_) {
      auto& s = e->c.state;
      // "restarting": the daemon went away during a restart back-off.
      if (s.status != "exited" && s.status != "restarting") continue;
      if (s.status == "restarting") {
        s.status = "exited";
        persist(e->c);
      }
      if (restart_decision(e->c, s.exit_code)) due.push_back(id);
    }
  }
  for (const auto& id : due) {
    try {
      start(id);  // not counted in RestartCount, as with dockerd
    } catch (const std::exception& e) {
      spdlog::error("restarting container {} at start-up: {}", id, e.what());
    }
  }
}

std::optional<std::pair<bool, std::string>> Containers::image_user(
    const std::string& image_id) const {
  std::lock_guard lock(mu_);
  std::optional<std::pair<bool, std::string>> found;
  for (const auto& [id, e] : by_id_) {
    if (e->c.image_id != image_id) continue;
    if (e->c.running()) return std::make_pair(true, id);
    found = std::make_pair(false, id);
  }
  return found;
}

std::map<std::string, std::int64_t> Containers::state_counts() const {
  std::map<std::string, std::int64_t> out = {{"created", 0},    {"running", 0},  {"paused", 0},
                                             {"restarting", 0}, {"removing", 0}, {"exited", 0},
                                             {"dead", 0}};
  std::lock_guard lock(mu_);
  for (const auto& [id, e] : by_id_)
    out[e->c.state.status]++;
  return out;
}

}  // namespace sockerless::engine
