#include "sims/common/workloads.h"

#include <filesystem>

#include "common/errors.h"
#include "common/log.h"
#include "engine/backend_registry.h"
#include "engine/containers.h"
#include "engine/engine.h"
#include "engine/networks.h"
#include "image/credentials.h"
#include "image/image_service.h"
#include "image/reference.h"
#include "network/ipam.h"

namespace sockerless::sims {
namespace {

constexpr const char* kVpcNetwork = "sim-vpc";

std::string hash8(const std::string& s) {
  std::uint32_t h = 2166136261u;  // FNV-1a: a stable short name for the bridge
  for (unsigned char c : s)
    h = (h ^ c) * 16777619u;
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", h);
  return buf;
}

}  // namespace

Workloads::Workloads(const std::string& data_root, const std::string& vpc_cidr,
                     bool cidr_explicit) {
  auto cidr = network::parse_cidr(vpc_cidr);
  if (!cidr.is_canonical() || cidr.prefix < 8 || cidr.prefix > 28)
    throw std::runtime_error("--vpc-cidr " + vpc_cidr +
                             ": give a network address with a prefix from /8 to /28");

  std::filesystem::create_directories(data_root);
  engine::BackendOptions backend_options;
  backend_options.data_root = data_root + "/memory";
  auto backend = engine::builtin_backends().create("memory", backend_options);
  backend->check_host();
  engine::EngineOptions o;
  o.data_root = data_root;
  o.backend_name = "memory";
  engine_ = std::make_unique<engine::Engine>(o, std::move(backend));

  auto& nets = engine_->networks();
  if (auto existing = nets.find(kVpcNetwork)) {
    if (cidr_explicit && existing->subnet != network::format_cidr(cidr))
      throw std::runtime_error("the data root's VPC is " + existing->subnet + ", not " +
                               network::format_cidr(cidr) + ": start with --vpc-cidr " +
                               existing->subnet + " or another --data-root");
    network_id_ = existing->id;
    bridge_ = existing->bridge;
    vpc_cidr_ = existing->subnet;
    gateway_ = existing->gateway;
  } else {
    bridge_ = "slvpc-" + hash8(data_root);
    for (int attempt = 0;; ++attempt) {
      vpc_cidr_ = network::format_cidr(cidr);
      gateway_ = network::format_ipv4(cidr.network() + 1);
      nlohmann::json body = {
          {"Name", kVpcNetwork},
          {"Driver", "bridge"},
          {"CheckDuplicate", true},
          {"IPAM", {{"Config", {{{"Subnet", vpc_cidr_}, {"Gateway", gateway_}}}}}},
          {"Options", {{"com.docker.network.bridge.name", bridge_}}},
          {"Labels", {{"sockerless.sim", "vpc"}}}};
      try {
        network_id_ = nets.create(body);
        break;
      } catch (const Forbidden& e) {  // the range overlaps one the host routes
        if (cidr_explicit || attempt >= 19)
          throw std::runtime_error("VPC range " + vpc_cidr_ + ": " + e.what() +
                                   (cidr_explicit ? "; choose another --vpc-cidr" : ""));
        cidr = network::parse_cidr("10." + std::to_string(232 + attempt) + ".0.0/16");
      }
    }
  }
  spdlog::info("VPC {} on bridge {} (host side {})", vpc_cidr_, bridge_, gateway_);
}

Workloads::~Workloads() = default;

std::string Workloads::create(const WorkloadSpec& spec) {
  auto& images = engine_->images();
  image::AuthConfig auth;
  auth.username = spec.registry_username;
  auth.password = spec.registry_password;
  try {
    auth.server_address = image::parse_reference(spec.image).domain;
  } catch (const std::exception& e) {
    throw PullError("invalid image reference " + spec.image + ": " + e.what());
  }
  try {
    images.pull(spec.image, "", auth, [](const nlohmann::json&) {});
  } catch (const std::exception& e) {
    throw PullError(e.what());
  }

  nlohmann::json body = {{"Image", spec.image},   {"Env", spec.env},
                         {"Labels", spec.labels}, {"StopTimeout", spec.stop_timeout},
                         {"AttachStdout", false}, {"AttachStderr", false}};
  if (spec.entrypoint) body["Entrypoint"] = *spec.entrypoint;
  if (spec.cmd) body["Cmd"] = *spec.cmd;
  if (!spec.user.empty()) body["User"] = spec.user;
  if (!spec.working_dir.empty()) body["WorkingDir"] = spec.working_dir;
  if (!spec.healthcheck.is_null()) body["Healthcheck"] = spec.healthcheck;
  nlohmann::json host = {{"Binds", spec.binds}, {"ExtraHosts", spec.extra_hosts}};
  if (spec.memory_bytes > 0) host["Memory"] = spec.memory_bytes;
  if (spec.nano_cpus > 0) host["NanoCpus"] = spec.nano_cpus;
  if (spec.share_network_of.empty()) {
    host["NetworkMode"] = kVpcNetwork;
    if (!dns_.empty()) host["Dns"] = dns_;  // a joining workload has its host's
  } else {
    host["NetworkMode"] = "container:" + spec.share_network_of;
  }
  body["HostConfig"] = host;
  return engine_->containers().create(spec.name, body).first;
}

void Workloads::start(const std::string& id) {
  engine_->containers().start(id);
}

std::string Workloads::address(const std::string& id) const {
  auto c = engine_->containers().get(id);
  if (c.networks.contains(kVpcNetwork))
    return c.networks[kVpcNetwork].value("IPAddress", std::string());
  return "";
}

bool Workloads::running(const std::string& id) const {
  try {
    return engine_->containers().get(id).running();
  } catch (const NotFound&) {
    return false;
  }
}

bool Workloads::exists(const std::string& id) const {
  try {
    engine_->containers().get(id);
    return true;
  } catch (const NotFound&) {
    return false;
  }
}

std::optional<WorkloadExit> Workloads::wait(const std::string& id,
                                            const std::function<bool()>& stop) {
  auto r = engine_->containers().wait(id, "not-running", stop);
  if (!r) return std::nullopt;
  auto c = engine_->containers().get(id);
  WorkloadExit e;
  e.exit_code = r->status_code;
  e.oom_killed = c.state.oom_killed;
  e.error = c.state.error;
  return e;
}

void Workloads::stop(const std::string& id, int timeout) {
  try {
    engine_->containers().stop(id, timeout, "");
  } catch (const NotModified&) {
  }
}

void Workloads::kill(const std::string& id, const std::string& signal) {
  try {
    engine_->containers().kill(id, signal);
  } catch (const Conflict&) {  // not running
  }
}

void Workloads::remove(const std::string& id) {
  try {
    engine_->containers().remove(id, true, true);
  } catch (const NotFound&) {
  }
}

std::string Workloads::log_path(const std::string& id) const {
  return engine_->backend().log_path(engine_->containers().get(id).id);
}

std::vector<std::string> Workloads::with_label(const std::string& key,
                                               const std::string& value) const {
  std::vector<std::string> ids;
  engine_->containers().visit([&](const engine::Container& c) {
    auto labels = c.config.value("Labels", nlohmann::json::object());
    if (labels.is_object() && labels.value(key, std::string()) == value) ids.push_back(c.id);
  });
  return ids;
}

void Workloads::stop_all(std::chrono::seconds limit) {
  engine_->containers().stop_all(limit);
}

}  // namespace sockerless::sims
