#include <nlohmann/json.hpp>

#include "monitor/monitor.h"

namespace sockerless::monitor {

using nlohmann::json;

json to_json(const MonitorConfig& c) {
  const auto& s = c.spec;
  json mounts = json::array();
  for (const auto& m : s.mounts)
    mounts.push_back({{"type", m.type},
                      {"source", m.source},
                      {"target", m.target},
                      {"readonly", m.readonly},
                      {"recursive", m.recursive},
                      {"propagation", m.propagation},
                      {"tmpfs_size", m.tmpfs_size},
                      {"tmpfs_mode", m.tmpfs_mode}});
  json ulimits = json::array();
  for (const auto& u : s.ulimits)
    ulimits.push_back({{"name", u.name}, {"soft", u.soft}, {"hard", u.hard}});
  return {
      {"open_stdin", c.open_stdin},
      {"stdin_once", c.stdin_once},
      {"initial_clients", c.initial_clients},
      {"spec",
       {{"id", s.id},
        {"lower_dirs", s.lower_dirs},
        {"state_dir", s.state_dir},
        {"argv", s.argv},
        {"env", s.env},
        {"working_dir", s.working_dir},
        {"user", s.user},
        {"additional_groups", s.additional_groups},
        {"hostname", s.hostname},
        {"domainname", s.domainname},
        {"extra_hosts", s.extra_hosts},
        {"dns_servers", s.dns_servers},
        {"dns_search", s.dns_search},
        {"dns_options", s.dns_options},
        {"tty", s.tty},
        {"readonly_rootfs", s.readonly_rootfs},
        {"privileged", s.privileged},
        {"init", s.init},
        {"cap_add", s.cap_add},
        {"cap_drop", s.cap_drop},
        {"ulimits", ulimits},
        {"shm_size", s.shm_size},
        {"network_mode", s.network_mode},
        {"netns_path", s.netns_path},
        {"ip_address", s.ip_address},
        {"resources",
         {{"memory", s.resources.memory},
          {"cpu_shares", s.resources.cpu_shares},
          {"cpu_quota", s.resources.cpu_quota},
          {"cpu_period", s.resources.cpu_period},
          {"pids_limit", s.resources.pids_limit}}},
        {"cgroup_parent", s.cgroup_parent},
        {"mounts", mounts}}},
  };
}

MonitorConfig config_from_json(const json& doc) {
  MonitorConfig c;
  c.open_stdin = doc.value("open_stdin", false);
  c.stdin_once = doc.value("stdin_once", false);
  c.initial_clients = doc.value("initial_clients", 0);
  const json& j = doc.at("spec");
  auto& s = c.spec;
  s.id = j.at("id");
  s.lower_dirs = j.value("lower_dirs", std::vector<std::string>{});
  s.state_dir = j.at("state_dir");
  s.argv = j.at("argv");
  s.env = j.value("env", std::vector<std::string>{});
  s.working_dir = j.value("working_dir", "");
  s.user = j.value("user", "");
  s.additional_groups = j.value("additional_groups", std::vector<std::string>{});
  s.hostname = j.value("hostname", "");
  s.domainname = j.value("domainname", "");
  s.extra_hosts = j.value("extra_hosts", std::vector<std::string>{});
  s.dns_servers = j.value("dns_servers", std::vector<std::string>{});
  s.dns_search = j.value("dns_search", std::vector<std::string>{});
  s.dns_options = j.value("dns_options", std::vector<std::string>{});
  s.tty = j.value("tty", false);
  s.readonly_rootfs = j.value("readonly_rootfs", false);
  s.privileged = j.value("privileged", false);
  s.init = j.value("init", false);
  s.cap_add = j.value("cap_add", std::vector<std::string>{});
  s.cap_drop = j.value("cap_drop", std::vector<std::string>{});
  for (const auto& u : j.value("ulimits", json::array()))
    s.ulimits.push_back(sandbox::Ulimit{u.at("name"), u.value("soft", std::int64_t{0}),
                                        u.value("hard", std::int64_t{0})});
  s.shm_size = j.value("shm_size", std::int64_t{64 << 20});
  s.network_mode = j.value("network_mode", "default");
  s.netns_path = j.value("netns_path", "");
  s.ip_address = j.value("ip_address", "");
  if (j.contains("resources")) {
    const auto& r = j["resources"];
    s.resources.memory = r.value("memory", std::int64_t{0});
    s.resources.cpu_shares = r.value("cpu_shares", std::int64_t{0});
    s.resources.cpu_quota = r.value("cpu_quota", std::int64_t{0});
    s.resources.cpu_period = r.value("cpu_period", std::int64_t{0});
    s.resources.pids_limit = r.value("pids_limit", std::int64_t{0});
  }
  s.cgroup_parent = j.value("cgroup_parent", "sockerless");
  for (const auto& m : j.value("mounts", json::array())) {
    sandbox::Mount mount;
    mount.type = m.value("type", "bind");
    mount.source = m.value("source", "");
    mount.target = m.value("target", "");
    mount.readonly = m.value("readonly", false);
    mount.recursive = m.value("recursive", true);
    mount.propagation = m.value("propagation", "");
    mount.tmpfs_size = m.value("tmpfs_size", std::int64_t{0});
    mount.tmpfs_mode = m.value("tmpfs_mode", 01777u);
    s.mounts.push_back(mount);
  }
  return c;
}

}  // namespace sockerless::monitor
