#include "daemon/config.h"

#include <unistd.h>

#include <yaml-cpp/yaml.h>
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <set>
#include <sstream>

extern char** environ;

namespace sockerless::daemon {
namespace {

// One configurable key, known by the same name to the flag, the file and (upper-cased,
// dashes as underscores, SOCKERLESS_ prefixed) the environment.
struct Key {
  std::string name;   // "data-root"
  std::string flags;  // CLI11 spec: "--data-root"
  std::string help;
  enum Kind { String, Bool, List, Int } kind;
  std::function<void(DaemonConfig&, const std::vector<std::string>&)> apply;
};

bool parse_bool(const std::string& key, const std::string& v) {
  if (v == "1" || v == "true" || v == "TRUE" || v == "True") return true;
  if (v == "0" || v == "false" || v == "FALSE" || v == "False") return false;
  throw std::invalid_argument("invalid boolean value \"" + v + "\" for " + key);
}

std::vector<Key> keys() {
  auto str = [](std::string DaemonConfig::*field) {
    return [field](DaemonConfig& c, const std::vector<std::string>& v) { c.*field = v.back(); };
  };
  auto list = [](std::vector<std::string> DaemonConfig::*field) {
    return [field](DaemonConfig& c, const std::vector<std::string>& v) { c.*field = v; };
  };
  auto flag = [](bool DaemonConfig::*field, std::string name) {
    return [field, name](DaemonConfig& c, const std::vector<std::string>& v) {
      c.*field = parse_bool(name, v.back());
    };
  };
  return {
      {"hosts", "-H,--host", "Daemon socket(s) to listen on (repeatable)", Key::List,
       list(&DaemonConfig::hosts)},
      {"data-root", "--data-root", "Root directory of persistent sockerless state", Key::String,
       str(&DaemonConfig::data_root)},
      {"backend", "--backend", "Where containers run: memory, or docker (a Docker engine)",
       Key::String, str(&DaemonConfig::backend)},
      {"agent-mode", "--agent-mode",
       "memory backend: run containers under sockerless-agent and reach them through it: off, "
       "forward (the daemon dials the agent) or reverse (the agent dials the daemon)",
       Key::String, str(&DaemonConfig::agent_mode)},
      {"docker-host", "--docker-host",
       "docker backend: the engine's socket, unix:///path or tcp://host:port "
       "(default $DOCKER_HOST or unix:///var/run/docker.sock)",
       Key::String, str(&DaemonConfig::docker_host)},
      {"docker-tls", "--docker-tls", "docker backend: reach the engine over TLS", Key::Bool,
       flag(&DaemonConfig::docker_tls, "docker-tls")},
      {"docker-tlsverify", "--docker-tlsverify",
       "docker backend: TLS, verifying the engine (default $DOCKER_TLS_VERIFY)", Key::Bool,
       flag(&DaemonConfig::docker_tls_verify, "docker-tlsverify")},
      {"docker-cert-path", "--docker-cert-path",
       "docker backend: directory of ca.pem, cert.pem, key.pem (default $DOCKER_CERT_PATH or "
       "~/.docker)",
       Key::String, str(&DaemonConfig::docker_cert_path)},
      {"log-level", "-l,--log-level", "Logging level: debug, info, warn, error, fatal", Key::String,
       str(&DaemonConfig::log_level)},
      {"log-format", "--log-format", "Log output format: text or json", Key::String,
       str(&DaemonConfig::log_format)},
      {"metrics-addr", "--metrics-addr", "Serve Prometheus metrics on this TCP address",
       Key::String, str(&DaemonConfig::metrics_addr)},
      {"group", "-G,--group", "Group for the unix socket", Key::String,
       [](DaemonConfig& c, const std::vector<std::string>& v) {
         c.group = v.back();
         c.group_explicit = true;
       }},
      {"tls", "--tls", "Use TLS; implied by --tlsverify", Key::Bool,
       flag(&DaemonConfig::tls, "tls")},
      {"tlsverify", "--tlsverify", "Use TLS and verify the remote (mutual TLS)", Key::Bool,
       flag(&DaemonConfig::tls_verify, "tlsverify")},
      {"tlscacert", "--tlscacert", "Trust certs signed only by this CA", Key::String,
       str(&DaemonConfig::tls_ca_cert)},
      {"tlscert", "--tlscert", "Path to TLS certificate file", Key::String,
       str(&DaemonConfig::tls_cert)},
      {"tlskey", "--tlskey", "Path to TLS key file", Key::String, str(&DaemonConfig::tls_key)},
      {"labels", "--label", "Set key=value labels on the daemon (repeatable)", Key::List,
       list(&DaemonConfig::labels)},
      {"insecure-registries", "--insecure-registry",
       "Registry that may be reached without TLS verification (repeatable)", Key::List,
       list(&DaemonConfig::insecure_registries)},
      {"registry-mirrors", "--registry-mirror", "Preferred registry mirror (repeatable)", Key::List,
       list(&DaemonConfig::registry_mirrors)},
      {"live-restore", "--live-restore", "Keep containers running when the daemon stops", Key::Bool,
       flag(&DaemonConfig::live_restore, "live-restore")},
      {"iptables", "--iptables",
       "Add iptables rules for bridge networks (outbound NAT, forwarding, isolation); "
       "--iptables=false leaves the firewall alone and bridged containers without NAT",
       Key::Bool, flag(&DaemonConfig::iptables, "iptables")},
      {"ip-forward", "--ip-forward",
       "Turn net.ipv4.ip_forward on for bridge networks; --ip-forward=false leaves it alone",
       Key::Bool, flag(&DaemonConfig::ip_forward, "ip-forward")},
      {"debug", "-D,--debug", "Enable debug mode", Key::Bool, flag(&DaemonConfig::debug, "debug")},
      {"shutdown-timeout", "--shutdown-timeout",
       "Seconds the shutdown may take (stopping containers, finishing requests)", Key::Int,
       [](DaemonConfig& c, const std::vector<std::string>& v) {
         c.shutdown_timeout = std::stoi(v.back());
       }},
  };
}

std::string env_name(const std::string& key) {
  std::string out = "SOCKERLESS_";
  for (char c : key)
    out += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

std::vector<std::string> yaml_values(const std::string& key, const YAML::Node& node,
                                     Key::Kind kind) {
  if (kind == Key::List) {
    if (node.IsSequence()) return node.as<std::vector<std::string>>();
    if (node.IsScalar()) return {node.as<std::string>()};
    throw std::invalid_argument("config key " + key + " must be a list");
  }
  if (!node.IsScalar())
    throw std::invalid_argument("config key " + key + " must be a single value");
  return {node.as<std::string>()};
}

std::string normalise_host(std::string host, bool tls) {
  if (host.rfind("unix://", 0) == 0 || host.rfind("fd://", 0) == 0) return host;
  if (host.rfind("tcp://", 0) != 0) {
    if (!host.empty() && host.front() == '/') return "unix://" + host;
    host = "tcp://" + host;
  }
  std::string rest = host.substr(6);
  auto bracket = rest.rfind(']');
  auto colon = rest.rfind(':');
  if (colon == std::string::npos || (bracket != std::string::npos && colon < bracket))
    host += tls ? ":2376" : ":2375";
  return host;
}

}  // namespace

std::map<std::string, std::string> process_environment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string kv = *e;
    auto eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return env;
}

std::string default_host(bool root, const std::map<std::string, std::string>& env) {
  if (root) return "unix:///run/sockerless.sock";
  auto it = env.find("XDG_RUNTIME_DIR");
  std::string dir = it != env.end() && !it->second.empty() ? it->second : "/tmp";
  return "unix://" + dir + "/sockerless.sock";
}

std::string default_data_root(bool root, const std::map<std::string, std::string>& env) {
  if (root) return "/var/lib/sockerless";
  auto xdg = env.find("XDG_DATA_HOME");
  if (xdg != env.end() && !xdg->second.empty()) return xdg->second + "/sockerless";
  auto home = env.find("HOME");
  return (home != env.end() ? home->second : std::string("/tmp")) + "/.local/share/sockerless";
}

bool is_non_loopback_tcp(const std::string& address) {
  if (address.rfind("tcp://", 0) != 0) return false;
  std::string rest = address.substr(6);
  auto colon = rest.rfind(':');
  std::string host = rest.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  return !(host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0);
}

ParseOutcome load_config(const std::vector<std::string>& args,
                         const std::map<std::string, std::string>& env) {
  ParseOutcome outcome;
  CLI::App app{"sockerlessd: a Docker Engine API daemon that runs containers elsewhere",
               "sockerlessd"};
  app.set_version_flag("-v,--version", std::string("sockerlessd version ") + SOCKERLESS_VERSION);
  auto key_list = keys();
  std::map<std::string, std::vector<std::string>> flag_values;
  std::map<std::string, CLI::Option*> options;
  std::map<std::string, bool> bool_flags;
  std::string config_file;
  auto* config_opt = app.add_option("--config-file", config_file, "YAML configuration file");
  for (const auto& k : key_list) {
    if (k.kind == Key::Bool) {
      options[k.name] = app.add_flag(k.flags, bool_flags[k.name], k.help);
    } else {
      auto* o = app.add_option(k.flags, flag_values[k.name], k.help);
      if (k.kind != Key::List) o->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
      options[k.name] = o;
    }
  }
  std::vector<std::string> argv_store = args;
  std::reverse(argv_store.begin(), argv_store.end());
  if (!argv_store.empty()) argv_store.pop_back();  // program name
  try {
    app.parse(argv_store);
  } catch (const CLI::CallForHelp&) {
    outcome.message = app.help();
    return outcome;
  } catch (const CLI::CallForVersion&) {
    outcome.message = app.version();
    return outcome;
  } catch (const CLI::ParseError& e) {
    outcome.exit_code = 1;
    outcome.message = e.what();
    return outcome;
  }

  DaemonConfig config;
  bool root = ::geteuid() == 0;
  try {
    // The config file: the flag, then the environment, then the system default if present.
    if (config_opt->count() == 0) {
      if (auto it = env.find("SOCKERLESS_CONFIG_FILE"); it != env.end()) {
        config_file = it->second;
      } else if (root && std::filesystem::exists("/etc/sockerless/daemon.yaml")) {
        config_file = "/etc/sockerless/daemon.yaml";
      }
    }
    YAML::Node file;
    if (!config_file.empty()) {
      try {
        file = YAML::LoadFile(config_file);
      } catch (const YAML::Exception& e) {
        throw std::invalid_argument("unable to read config file " + config_file + ": " + e.what());
      }
      if (!file.IsMap() && !file.IsNull())
        throw std::invalid_argument("config file " + config_file + " must hold a YAML mapping");
      std::set<std::string> known;
      for (const auto& k : key_list)
        known.insert(k.name);
      std::string unknown;
      for (const auto& item : file)
        if (!known.count(item.first.as<std::string>()))
          unknown += (unknown.empty() ? "" : ", ") + item.first.as<std::string>();
      if (!unknown.empty())
        throw std::invalid_argument("the following directives in " + config_file +
                                    " don't match any configuration option: " + unknown);
      config.config_file = config_file;
    }
    for (const auto& k : key_list) {
      std::vector<std::string> values;
      if (options[k.name]->count() > 0) {
        values = k.kind == Key::Bool
                     ? std::vector<std::string>{bool_flags[k.name] ? "true" : "false"}
                     : flag_values[k.name];
      } else if (auto it = env.find(env_name(k.name)); it != env.end()) {
        values =
            k.kind == Key::List ? split_list(it->second) : std::vector<std::string>{it->second};
      } else if (file && file.IsMap() && file[k.name]) {
        values = yaml_values(k.name, file[k.name], k.kind);
      }
      if (!values.empty()) k.apply(config, values);
    }
  } catch (const std::exception& e) {
    outcome.exit_code = 1;
    outcome.message = e.what();
    return outcome;
  }

  if (config.debug) config.log_level = "debug";
  if (config.tls_verify) config.tls = true;
  if (config.tls) {
    // Like dockerd: certificates default to $DOCKER_CERT_PATH or ~/.docker.
    std::string dir;
    if (auto it = env.find("DOCKER_CERT_PATH"); it != env.end() && !it->second.empty())
      dir = it->second;
    else if (auto home = env.find("HOME"); home != env.end())
      dir = home->second + "/.docker";
    if (config.tls_ca_cert.empty() && config.tls_verify) config.tls_ca_cert = dir + "/ca.pem";
    if (config.tls_cert.empty()) config.tls_cert = dir + "/cert.pem";
    if (config.tls_key.empty()) config.tls_key = dir + "/key.pem";
  }
  if (config.backend != "memory" && config.backend != "docker") {
    outcome.exit_code = 1;
    outcome.message = "unknown backend \"" + config.backend + "\" (known: docker, memory)";
    return outcome;
  }
  if (config.agent_mode != "off" && config.agent_mode != "forward" &&
      config.agent_mode != "reverse") {
    outcome.exit_code = 1;
    outcome.message =
        "--agent-mode: \"" + config.agent_mode + "\" is not one of off, forward, reverse";
    return outcome;
  }
  if (config.agent_mode != "off" && config.backend != "memory") {
    outcome.exit_code = 1;
    outcome.message = "--agent-mode is an option of the memory backend";
    return outcome;
  }
  // The docker backend's engine: unset keys follow the docker CLI's environment.
  auto env_value = [&env](const char* name) -> std::string {
    auto it = env.find(name);
    return it == env.end() ? "" : it->second;
  };
  if (config.docker_host.empty()) config.docker_host = env_value("DOCKER_HOST");
  if (config.docker_host.empty()) config.docker_host = "unix:///var/run/docker.sock";
  if (!env_value("DOCKER_TLS_VERIFY").empty() && env.count("SOCKERLESS_DOCKER_TLSVERIFY") == 0)
    config.docker_tls_verify = true;
  if (config.docker_cert_path.empty()) config.docker_cert_path = env_value("DOCKER_CERT_PATH");
  if (config.docker_cert_path.empty())
    config.docker_cert_path =
        (env.count("HOME") ? env.at("HOME") : std::string("/root")) + "/.docker";
  if (config.hosts.empty()) config.hosts.push_back(default_host(root, env));
  for (auto& h : config.hosts)
    h = normalise_host(h, config.tls);
  if (config.data_root.empty()) config.data_root = default_data_root(root, env);
  outcome.config = std::move(config);
  return outcome;
}

}  // namespace sockerless::daemon
