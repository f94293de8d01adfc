#include "engine/engine.h"

#include <unistd.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "common/errors.h"
#include "common/ids.h"
#include "engine/builder.h"
#include "engine/containers.h"
#include "engine/execs.h"
#include "engine/health.h"
#include "engine/networks.h"
#include "engine/volumes.h"
#include "image/image_service.h"
#include "store/database.h"

namespace sockerless::engine {
namespace {

// A stable engine ID, kept in the data root like dockerd's engine-id file.
std::string load_or_create_id(const std::string& data_root) {
  std::filesystem::path path = std::filesystem::path(data_root) / "engine-id";
  {
    std::ifstream in(path);
    std::string id;
    if (in >> id && id.size() == 36) return id;
  }
  std::string hex = random_hex(16);
  std::string id = hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
                   hex.substr(16, 4) + "-" + hex.substr(20, 12);
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << id << "\n";
    out.flush();
    if (!out) throw std::runtime_error("cannot write " + tmp.string());
  }
  std::filesystem::rename(tmp, path);
  return id;
}

}  // namespace

Engine::Engine(EngineOptions options, std::unique_ptr<Backend> backend)
    : options_(std::move(options)), backend_(std::move(backend)), host_(read_host_facts()) {
  id_ = load_or_create_id(options_.data_root);
  db_ = store::Database::open(options_.data_root + "/sockerless.db");
  image::RegistryConfig registry;
  registry.mirrors = options_.registry_mirrors;
  registry.insecure = options_.insecure_registries;
  images_ = std::make_unique<image::ImageService>(
      *db_, options_.data_root + "/image", registry,
      [this](const std::string& action, const std::string& id,
             const std::map<std::string, std::string>& attrs) {
        Event e;
        e.type = "image";
        e.action = action;
        e.actor_id = id;
        e.attributes = attrs;
        events_.publish(std::move(e));
      });
  // Real bridges, veths, DNS and NAT need root and containers on this host.
  bool plumbing = ::geteuid() == 0 && options_.backend_name == "memory";
  NetworkHostOptions host_options;
  host_options.iptables = options_.iptables;
  host_options.ip_forward = options_.ip_forward;
  networks_ = std::make_unique<Networks>(*db_, events_, options_.data_root, plumbing, host_options);
  networks_->init();
  containers_ = std::make_unique<Containers>(*db_, *backend_, *images_, events_,
                                             options_.backend_name, networks_.get());
  volumes_ = std::make_unique<Volumes>(
      *db_, options_.data_root + "/volumes", events_,
      [this](const std::string& name) { return containers_->volume_users(name); });
  containers_->set_volumes(volumes_.get());
  builder_ = std::make_unique<Builder>(*containers_, *images_);
  execs_ = std::make_unique<Execs>(*db_, *containers_, *backend_, events_);
  health_ = std::make_unique<HealthChecker>(*containers_, *backend_, events_);
  containers_->on_started([this](const std::string& id) { health_->started(id); });
  containers_->on_destroyed([this](const std::string& id) {
    execs_->forget_container(id);
    health_->forget(id);
  });
  containers_->finish_removals();
  containers_->restart_after_boot();
}

Engine::~Engine() {
  events_.close_all();
  containers_->on_destroyed(nullptr);
  containers_->on_started(nullptr);
  containers_->set_volumes(nullptr);
  builder_.reset();
  health_.reset();
  execs_.reset();
  containers_.reset();
  networks_->shutdown();
  networks_.reset();
  images_.reset();
}

std::string Engine::login(RegistryLogin login) {
  image::AuthConfig auth;
  auth.username = login.username;
  auth.password = login.password;
  auth.identity_token = login.identity_token;
  // The domain: "https://host:port/v1/" and "host:port" both name host:port.
  std::string domain = login.server_address;
  if (auto scheme = domain.find("://"); scheme != std::string::npos)
    domain = domain.substr(scheme + 3);
  if (auto slash = domain.find('/'); slash != std::string::npos) domain = domain.substr(0, slash);
  if (domain == "index.docker.io" || domain.empty()) domain = "docker.io";
  images_->registry().check_login(domain, auth);
  auth.server_address = image::config_key_for(domain);
  images_->remember_login(auth);
  return "Login Succeeded";
}

std::map<std::string, std::string> Engine::config_attributes() const {
  std::string labels = "[";
  for (std::size_t i = 0; i < options_.labels.size(); ++i)
    labels += (i ? " " : "") + options_.labels[i];
  labels += "]";
  auto list = [](const std::vector<std::string>& v) {
    std::string s = "[";
    for (std::size_t i = 0; i < v.size(); ++i)
      s += (i ? " " : "") + v[i];
    return s + "]";
  };
  return {
      {"debug", options_.debug ? "true" : "false"},
      {"labels", labels},
      {"live-restore", options_.live_restore ? "true" : "false"},
      {"insecure-registries", list(options_.insecure_registries)},
      {"registry-mirrors", list(options_.registry_mirrors)},
      {"name", host_.hostname},
  };
}

void Engine::reload(const EngineOptions& updated) {
  Event e;
  {
    std::lock_guard lock(mu_);
    options_.debug = updated.debug;
    options_.labels = updated.labels;
    options_.insecure_registries = updated.insecure_registries;
    options_.registry_mirrors = updated.registry_mirrors;
    options_.live_restore = updated.live_restore;
    e.type = "daemon";
    e.action = "reload";
    e.actor_id = id_;
    e.attributes = config_attributes();
  }
  events_.publish(std::move(e));
}

std::map<std::string, std::int64_t> Engine::container_states() const {
  return containers_->state_counts();
}

void Engine::require(Capability capability, const std::string& operation) const {
  if (!backend_->supports(capability))
    throw NotImplemented(operation + " is not supported by the " + options_.backend_name +
                         " backend");
}

}  // namespace sockerless::engine
