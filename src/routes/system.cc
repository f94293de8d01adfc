// System routes: ping, version, info, events, disk usage, registry login.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "api/filters.h"
#include "api/respond.h"
#include "api/version.h"
#include "common/errors.h"
#include "common/time.h"
#include "engine/containers.h"
#include "engine/networks.h"
#include "engine/volumes.h"
#include "image/image_service.h"
#include "image/reference.h"
#include "routes/docker_api.h"

namespace sockerless::routes {
namespace {

using nlohmann::json;

http::RouteTarget inline_route(http::Handler h) {
  return http::RouteTarget{std::move(h), http::Execution::Inline, http::BodyMode::Buffered};
}
http::RouteTarget worker_route(http::Handler h) {
  return http::RouteTarget{std::move(h), http::Execution::Blocking, http::BodyMode::Buffered};
}

void ping(http::Request& req, http::Responder& out) {
  http::Response r =
      http::Response::text(200, req.method == "HEAD" ? "" : "OK", "text/plain; charset=utf-8");
  if (req.method == "HEAD") r.headers.set("Content-Length", "0");
  r.headers.set("Cache-Control", "no-cache, no-store, must-revalidate");
  r.headers.set("Pragma", "no-cache");
  // The classic builder: sockerless serves no BuildKit sessions.
  r.headers.set("Builder-Version", "1");
  r.headers.set("Swarm", "inactive");
  out.send(std::move(r));
}

json version_doc(const engine::Engine& engine, const DaemonIdentity& who) {
  const auto& host = engine.host();
  const std::string api = api::kMaxVersion.str(), min_api = api::kMinVersion.str();
  const std::string built_with = std::string("gcc ") + __VERSION__;
  json details = {
      {"ApiVersion", api},
      {"Arch", host.go_arch},
      {"BuildTime", ""},
      {"Experimental", "false"},
      {"GitCommit", who.git_commit},
      {"GoVersion", built_with},
      {"KernelVersion", host.kernel_version},
      {"MinAPIVersion", min_api},
      {"Os", "linux"},
      {"Backend", engine.options().backend_name},
  };
  return {
      {"Platform", {{"Name", "sockerless"}}},
      {"Components",
       json::array({{{"Name", "Engine"}, {"Version", who.version}, {"Details", details}}})},
      {"Version", who.version},
      {"ApiVersion", api},
      {"MinAPIVersion", min_api},
      {"GitCommit", who.git_commit},
      {"GoVersion", built_with},
      {"Os", "linux"},
      {"Arch", host.go_arch},
      {"KernelVersion", host.kernel_version},
      {"BuildTime", ""},
  };
}

json registry_config(const engine::EngineOptions& opts) {
  json index_configs = json::object();
  index_configs["docker.io"] = {{"Name", "docker.io"},
                                {"Mirrors", opts.registry_mirrors},
                                {"Secure", true},
                                {"Official", true}};
  std::vector<std::string> cidrs = {"127.0.0.0/8"};
  for (const auto& r : opts.insecure_registries) {
    if (r.find('/') != std::string::npos) {
      cidrs.push_back(r);
    } else {
      index_configs[r] = {
          {"Name", r}, {"Mirrors", json::array()}, {"Secure", false}, {"Official", false}};
    }
  }
  return {
      {"AllowNondistributableArtifactsCIDRs", nullptr},
      {"AllowNondistributableArtifactsHostnames", nullptr},
      {"InsecureRegistryCIDRs", cidrs},
      {"IndexConfigs", index_configs},
      {"Mirrors", opts.registry_mirrors},
  };
}

int open_descriptors() {
  std::error_code ec;
  int n = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    ++n;
  return n;
}

int thread_count() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("Threads:", 0) == 0) return std::atoi(line.c_str() + 8);
  return 0;
}

json info_doc(engine::Engine& engine, const DaemonIdentity& who) {
  const auto& host = engine.host();
  const auto opts = engine.options();
  const auto backend = engine.backend().describe();
  auto warnings = backend.warnings;  // the backend's, then what networking cannot do here
  for (auto& w : engine.networks().warnings())
    warnings.push_back(std::move(w));
  json driver_status = json::array();
  for (const auto& [k, v] : backend.driver_status)
    driver_status.push_back({k, v});
  auto states = engine.container_states();
  std::int64_t total = 0;
  for (const auto& [k, v] : states)
    total += v;
  auto env = [](const char* name) {
    const char* v = std::getenv(name);
    return std::string(v ? v : "");
  };
  return {
      {"ID", engine.id()},
      {"Containers", total},
      {"ContainersRunning", states["running"]},
      {"ContainersPaused", states["paused"]},
      {"ContainersStopped", total - states["running"] - states["paused"]},
      {"Images", engine.images().store().list().size()},
      {"Driver", backend.driver},
      {"DockerRootDir", opts.data_root},
      {"DriverStatus", driver_status},
      {"Plugins",
       {{"Volume", json::array({"local"})},
        {"Network", json::array({"bridge", "host", "null"})},
        {"Authorization", nullptr},
        {"Log", json::array({"json-file"})}}},
      {"MemoryLimit", backend.memory_limit},
      {"SwapLimit", false},
      {"KernelMemoryTCP", false},
      {"CpuCfsPeriod", backend.cpu_cfs},
      {"CpuCfsQuota", backend.cpu_cfs},
      {"CPUShares", backend.cpu_shares},
      {"CPUSet", false},
      {"PidsLimit", backend.pids_limit},
      {"OomKillDisable", false},
      {"IPv4Forwarding", host.ipv4_forwarding},
      {"BridgeNfIptables", false},
      {"BridgeNfIp6tables", false},
      {"Debug", opts.debug},
      {"NFd", open_descriptors()},
      // Not goroutines, the nearest thing sockerlessd has: its threads.
      {"NGoroutines", thread_count()},
      {"SystemTime", format_rfc3339_nano(Clock::now())},
      {"LoggingDriver", "json-file"},
      {"CgroupDriver", "cgroupfs"},
      {"CgroupVersion", host.cgroup_version},
      {"NEventsListener", engine.events().listeners()},
      {"KernelVersion", host.kernel_version},
      {"OperatingSystem", host.operating_system},
      {"OSVersion", host.os_version},
      {"OSType", "linux"},
      {"Architecture", host.architecture},
      {"NCPU", host.ncpu},
      {"MemTotal", host.mem_total},
      {"IndexServerAddress", "https://index.docker.io/v1/"},
      {"RegistryConfig", registry_config(opts)},
      {"GenericResources", nullptr},
      {"HttpProxy", env("HTTP_PROXY")},
      {"HttpsProxy", env("HTTPS_PROXY")},
      {"NoProxy", env("NO_PROXY")},
      {"Name", host.hostname},
      {"Labels", opts.labels},
      {"ExperimentalBuild", false},
      {"ServerVersion", who.version},
      {"Runtimes", json::object({{"sockerless-" + opts.backend_name, {{"path", "sockerlessd"}}}})},
      {"DefaultRuntime", "sockerless-" + opts.backend_name},
      {"Swarm",
       {{"NodeID", ""},
        {"NodeAddr", ""},
        {"LocalNodeState", "inactive"},
        {"ControlAvailable", false},
        {"Error", ""},
        {"RemoteManagers", nullptr}}},
      {"LiveRestoreEnabled", opts.live_restore},
      {"Isolation", ""},
      {"InitBinary", ""},
      {"ContainerdCommit", {{"ID", ""}, {"Expected", ""}}},
      {"RuncCommit", {{"ID", ""}, {"Expected", ""}}},
      {"InitCommit", {{"ID", ""}, {"Expected", ""}}},
      {"SecurityOptions", json::array()},
      {"DefaultAddressPools", json::array()},
      {"Warnings", warnings},
      {"CDISpecDirs", json::array()},
  };
}

// GET /system/df: everything sockerless holds, by kind.
void disk_usage(engine::Engine& engine, http::Request& req, http::Responder& out) {
  static const std::vector<std::string> kTypes = {"container", "image", "volume", "build-cache"};
  std::vector<std::string> wanted = req.query.all("type");
  for (const auto& t : wanted)
    if (std::find(kTypes.begin(), kTypes.end(), t) == kTypes.end())
      throw InvalidArgument("unknown object type: " + t);
  auto want = [&](const std::string& t) {
    return wanted.empty() || std::find(wanted.begin(), wanted.end(), t) != wanted.end();
  };
  json doc = json::object();
  if (want("image")) {
    std::int64_t layers = 0;
    json images = json::array();
    for (const auto& r : engine.images().store().list()) {
      for (const auto& l : r.layers)
        layers += l.blob_size;
      std::vector<std::string> tags, digests;
      for (const auto& t : r.tags)
        tags.push_back(image::parse_reference(t).familiar());
      for (const auto& d : r.digests)
        digests.push_back(image::parse_reference(d).familiar());
      std::int64_t containers = 0;
      for (const auto& c : engine.containers().list())
        containers += c.image_id == r.id ? 1 : 0;
      json config = json::parse(r.config, nullptr, false);
      std::int64_t created = 0;
      if (config.is_object() && config.contains("created") && config["created"].is_string())
        if (auto t = parse_api_timestamp(config["created"].get<std::string>()))
          created = unix_nanos(*t) / 1000000000;
      images.push_back({{"Id", r.id},
                        {"ParentId", ""},
                        {"RepoTags", tags},
                        {"RepoDigests", digests},
                        {"Created", created},
                        {"Size", r.size},
                        {"SharedSize", engine.images().store().shared_size(r.id)},
                        {"Labels", nullptr},
                        {"Containers", containers}});
    }
    doc["LayersSize"] = layers;
    doc["Images"] = images;
  }
  if (want("container")) {
    json containers = json::array();
    for (const auto& c : engine.containers().list()) {
      std::string command;
      for (const auto& a : c.argv)
        command += (command.empty() ? "" : " ") + a;
      containers.push_back({{"Id", c.id},
                            {"Names", json::array({"/" + c.name})},
                            {"Image", c.image_ref},
                            {"ImageID", c.image_id},
                            {"Command", command},
                            {"Created", c.created / 1000000000},
                            {"State", c.state.status},
                            {"Status", c.state.status},
                            // SizeRw/SizeRootFs are left out rather than reported as 0:
                            // the container's layer size is not measured yet.
                            {"Labels", c.config.value("Labels", json::object())},
                            {"Mounts", engine::public_mounts(c.mounts)}});
    }
    doc["Containers"] = containers;
  }
  if (want("volume")) {
    json volumes = json::array();
    for (const auto& u : engine.volumes().usage()) {
      json v = u.volume.to_json();
      v["UsageData"] = {{"Size", u.size}, {"RefCount", u.ref_count}};
      volumes.push_back(std::move(v));
    }
    doc["Volumes"] = volumes;
  }
  if (want("build-cache")) doc["BuildCache"] = json::array();
  out.send(api::json_response(200, doc));
}

std::optional<TimePoint> timestamp_param(const http::Request& req, const char* name) {
  auto raw = req.query.get(name);
  if (!raw || raw->empty()) return std::nullopt;
  auto t = parse_api_timestamp(*raw);
  if (!t) throw InvalidArgument("invalid value for " + std::string(name) + ": " + *raw);
  return t;
}

void events(engine::Engine& engine, http::Request& req, http::Responder& out) {
  auto filters = api::Filters::parse(req.query.get("filters").value_or(""));
  engine::validate_event_filters(filters);
  auto since = timestamp_param(req, "since");
  auto until = timestamp_param(req, "until");

  std::vector<engine::Event> history;
  auto sub = engine.events().subscribe(since, history);
  http::Headers headers;
  headers.set("Content-Type", "application/json");
  auto stream = out.stream(200, std::move(headers));

  auto emit = [&](const engine::Event& e) {
    if (until && e.time > *until) return true;
    if (!engine::event_matches(e, filters)) return true;
    return stream.write(api::dump_json(engine::event_json(e)));
  };
  if (since)
    for (const auto& e : history)
      if (!emit(e)) return;
  // Nothing live is wanted when the window closed already.
  while (!until || Clock::now() < *until) {
    auto wake = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
    if (until) {
      auto left = *until - Clock::now();
      auto steady_until = std::chrono::steady_clock::now() +
                          std::chrono::duration_cast<std::chrono::steady_clock::duration>(left);
      wake = std::min(wake, steady_until);
    }
    auto e = sub->next(wake);
    if (e) {
      if (!emit(*e)) return;
    } else if (stream.client_gone()) {
      return;
    }
    if (engine.events().closed()) return;
  }
}

void auth(engine::Engine& engine, http::Request& req, http::Responder& out) {
  auto body = api::parse_body(req.body, nullptr);
  if (!body.is_object()) throw InvalidArgument("invalid JSON in request body: want an object");
  engine::RegistryLogin login;
  login.username = body.value("username", "");
  login.password = body.value("password", "");
  login.identity_token = body.value("identitytoken", "");
  login.server_address = body.value("serveraddress", "");
  if (login.server_address.empty()) login.server_address = "https://index.docker.io/v1/";
  std::string status = engine.login(std::move(login));
  out.send(api::json_response(200, {{"IdentityToken", ""}, {"Status", status}}));
}

}  // namespace

void add_system_routes(http::Router& router, engine::Engine& engine, const DaemonIdentity& who) {
  router.add("GET", "/_ping", inline_route(ping));
  router.add("HEAD", "/_ping", inline_route(ping));
  router.add("GET", "/version", inline_route([&engine, who](http::Request&, http::Responder& out) {
               out.send(api::json_response(200, version_doc(engine, who)));
             }));
  router.add("GET", "/info", worker_route([&engine, who](http::Request&, http::Responder& out) {
               out.send(api::json_response(200, info_doc(engine, who)));
             }));
  router.add("GET", "/system/df", worker_route([&engine](http::Request& req, http::Responder& out) {
               disk_usage(engine, req, out);
             }));
  router.add("GET", "/events", worker_route([&engine](http::Request& req, http::Responder& out) {
               events(engine, req, out);
             }));
  router.add("POST", "/auth", worker_route([&engine](http::Request& req, http::Responder& out) {
               auth(engine, req, out);
             }));
}

}  // namespace sockerless::routes
