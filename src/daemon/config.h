// sockerlessd's configuration: command-line flags, then SOCKERLESS_* environment
// variables, then the YAML config file, then defaults — the first that sets a key wins.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace sockerless::daemon {

struct DaemonConfig {
  std::vector<std::string> hosts;  // "unix:///path", "tcp://host:port"
  std::string data_root;
  std::string backend = "memory";
  // The memory backend: run each container under sockerless-agent and route exec, attach
  // and cp through it (off, forward or reverse), the path the cloud backends take.
  std::string agent_mode = "off";
  std::string log_level = "info";
  std::string log_format = "text";
  std::string metrics_addr;  // "host:port" or "tcp://host:port"; empty: no metrics
  std::string group = "docker";
  bool group_explicit = false;  // -G given: a missing group is an error
  bool tls = false, tls_verify = false;
  std::string tls_ca_cert, tls_cert, tls_key;
  std::vector<std::string> labels;
  std::vector<std::string> insecure_registries;
  std::vector<std::string> registry_mirrors;
  bool live_restore = false;
  // As dockerd's: leave the host's firewall (no NAT, forwarding or isolation rules for
  // bridge networks) and its net.ipv4.ip_forward alone.
  bool iptables = true;
  bool ip_forward = true;
  bool debug = false;
  int shutdown_timeout = 15;  // seconds to drain requests on SIGTERM
  std::string config_file;    // where the file settings came from, if any
  // The docker backend: the engine underneath, like the docker CLI's DOCKER_HOST,
  // DOCKER_TLS_VERIFY and DOCKER_CERT_PATH (which are the defaults).
  std::string docker_host;
  bool docker_tls = false, docker_tls_verify = false;
  std::string docker_cert_path;
};

struct ParseOutcome {
  std::optional<DaemonConfig> config;  // unset: exit with `exit_code` (help, version, error)
  int exit_code = 0;
  std::string message;  // to print: help text, version, or the error
};

// Reads flags, environment and config file. `env` stands in for the process environment
// (tests pass their own).
ParseOutcome load_config(const std::vector<std::string>& args,
                         const std::map<std::string, std::string>& env);

std::map<std::string, std::string> process_environment();

// The default unix socket: /run/sockerless.sock for root, else under $XDG_RUNTIME_DIR.
std::string default_host(bool root, const std::map<std::string, std::string>& env);
std::string default_data_root(bool root, const std::map<std::string, std::string>& env);

// Whether a tcp:// address listens beyond this host.
bool is_non_loopback_tcp(const std::string& address);

}  // namespace sockerless::daemon
