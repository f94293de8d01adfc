// What a create request is checked for and filled with before it is stored: dockerd's
// validation of the restart policy and the log driver, and the zero values of every Config
// and HostConfig field a client left out (dockerd shows its whole Go structs in inspect,
// whatever the client sent).
#include <array>
#include <string>
#include <string_view>

#include "common/errors.h"
#include "common/oci_defaults.h"
#include "engine/container_entry.h"
#include "engine/links.h"

namespace sockerless::engine {

using nlohmann::json;

namespace {

// The log drivers dockerd has built in; sockerless implements only json-file (what it
// writes), local (read back the same way) and none.
constexpr std::array<std::string_view, 11> kDockerdLogDrivers = {
    "json-file", "local",   "none",   "syslog",  "journald",  "gelf",
    "fluentd",   "awslogs", "splunk", "gcplogs", "logentries"};

void validate_restart_policy(const json& policy) {
  if (!policy.is_object()) return;
  std::string name = policy.contains("Name") && policy["Name"].is_string()
                         ? policy["Name"].get<std::string>()
                         : std::string();
  long long retries =
      policy.contains("MaximumRetryCount") && policy["MaximumRetryCount"].is_number_integer()
          ? policy["MaximumRetryCount"].get<long long>()
          : 0;
  if (name == "always" || name == "unless-stopped" || name == "no") {
    if (retries != 0)
      throw InvalidArgument("maximum retry count cannot be used with restart policy '" + name +
                            "'");
  } else if (name == "on-failure") {
    if (retries < 0) throw InvalidArgument("maximum retry count cannot be negative");
  } else if (!name.empty()) {
    throw InvalidArgument("invalid restart policy '" + name + "'");
  }
}

void validate_log_config(const json& log_config) {
  std::string type = log_config.value("Type", "");
  if (type.empty() || type == "json-file" || type == "local" || type == "none") return;
  for (auto known : kDockerdLogDrivers)
    if (type == known)
      throw NotImplemented("log driver " + type +
                           " is not implemented by sockerless (json-file, local and none are)");
  // dockerd looks a driver it does not have up as a plugin; sockerless has no plugins.
  throw InvalidArgument("error looking up logging plugin " + type + ": plugin \"" + type +
                        "\" not found");
}

// Go's zero values of the HostConfig fields that are not omitempty, as dockerd's inspect
// shows them for a container whose client did not set them.
const json& host_config_zero() {
  static const json zero = json::parse(R"({
    "Binds": null, "ContainerIDFile": "", "PortBindings": null, "AutoRemove": false,
    "VolumeDriver": "", "VolumesFrom": null, "ConsoleSize": [0, 0], "CapAdd": null,
    "CapDrop": null, "CgroupnsMode": "private", "Dns": null, "DnsOptions": null,
    "DnsSearch": null, "ExtraHosts": null, "GroupAdd": null, "IpcMode": "private",
    "Cgroup": "", "Links": null, "OomScoreAdj": 0, "PidMode": "", "Privileged": false,
    "PublishAllPorts": false, "ReadonlyRootfs": false, "SecurityOpt": null, "UTSMode": "",
    "UsernsMode": "", "ShmSize": 67108864, "Isolation": "", "CpuShares": 0, "Memory": 0,
    "NanoCpus": 0, "CgroupParent": "", "BlkioWeight": 0, "BlkioWeightDevice": null,
    "BlkioDeviceReadBps": null, "BlkioDeviceWriteBps": null, "BlkioDeviceReadIOps": null,
    "BlkioDeviceWriteIOps": null, "CpuPeriod": 0, "CpuQuota": 0, "CpuRealtimePeriod": 0,
    "CpuRealtimeRuntime": 0, "CpusetCpus": "", "CpusetMems": "", "Devices": null,
    "DeviceCgroupRules": null, "DeviceRequests": null, "MemoryReservation": 0,
    "MemorySwap": 0, "MemorySwappiness": null, "OomKillDisable": false, "PidsLimit": null,
    "Ulimits": null, "CpuCount": 0, "CpuPercent": 0, "IOMaximumIOps": 0,
    "IOMaximumBandwidth": 0
  })");
  return zero;
}

}  // namespace

void validate_host_config(const json& host_config) {
  if (host_config.contains("RestartPolicy")) validate_restart_policy(host_config["RestartPolicy"]);
  if (host_config.contains("LogConfig") && host_config["LogConfig"].is_object())
    validate_log_config(host_config["LogConfig"]);
}

void fill_zero_values(json& config, json& host_config) {
  for (const char* key : {"Volumes", "OnBuild"})
    if (!config.contains(key)) config[key] = nullptr;
  for (const auto& [key, value] : host_config_zero().items())
    if (!host_config.contains(key)) host_config[key] = value;
  // What the sandbox hides from an unprivileged container (a privileged one sees all).
  bool privileged = host_config.value("Privileged", false);
  if (!host_config.contains("MaskedPaths"))
    host_config["MaskedPaths"] = privileged ? json(nullptr) : json(kDefaultMaskedPaths);
  if (!host_config.contains("ReadonlyPaths"))
    host_config["ReadonlyPaths"] = privileged ? json(nullptr) : json(kDefaultReadonlyPaths);
  json& log = host_config["LogConfig"];
  if (!log.is_object()) log = json::object();
  if (!log.contains("Type") || log["Type"] == "") log["Type"] = "json-file";
  if (!log.contains("Config") || !log["Config"].is_object()) log["Config"] = json::object();
}

std::vector<std::string> process_environment(const json& config, bool tty) {
  std::vector<std::string> base = {
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      "HOSTNAME=" + config.value("Hostname", std::string())};
  if (tty) base.push_back("TERM=xterm");
  return replace_or_append_env(std::move(base), string_array(config, "Env"));
}

}  // namespace sockerless::engine
