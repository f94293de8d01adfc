#include "backends/memory/memory_backend.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "agent/link.h"
#include "agent/wire.h"
#include "common/errors.h"
#include "common/time.h"
#include "engine/agent_client.h"
#include "image/layer_pack.h"
#include "monitor/archive_relay.h"
#include "monitor/exec_relay.h"
#include "monitor/monitor.h"
#include "monitor/roles.h"
#include "sandbox/cgroups.h"
#include "sandbox/layout.h"
#include "sandbox/sandbox.h"

namespace sockerless::backends {
namespace {

namespace fs = std::filesystem;

std::string self_exe() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  if (ec)
    throw std::runtime_error("cannot find the daemon's own binary (/proc/self/exe): " +
                             ec.message());
  return p.string();
}

long read_long(const char* path, long fallback) {
  std::ifstream in(path);
  long v;
  return (in >> v) ? v : fallback;
}

// The sandbox's own mount points and generated files are not the container's changes.
bool sandbox_owned(const std::string& p) {
  static const std::vector<std::string> kOwned = {
      "/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/dev",
      "/proc",      "/sys",          "/.dockerenv",      "/.sockerless"};
  for (const auto& i : kOwned)
    if (p == i || p.rfind(i + "/", 0) == 0) return true;
  return false;
}

sandbox::Resources to_spec_resources(const engine::ContainerLaunch& l) {
  sandbox::Resources r;
  r.memory = l.memory;
  r.memory_swap = l.memory_swap;
  r.cpu_shares = l.cpu_shares;
  r.cpu_quota = l.cpu_quota;
  r.cpu_period = l.cpu_period;
  r.pids_limit = l.pids_limit;
  return r;
}

sandbox::ContainerSpec to_spec(const engine::ContainerLaunch& l, const std::string& state_dir) {
  sandbox::ContainerSpec s;
  s.id = l.id;
  s.lower_dirs = l.rootfs_layers ? l.rootfs_layers() : std::vector<std::string>{};
  s.state_dir = state_dir;
  s.argv = l.argv;
  s.env = l.env;
  s.working_dir = l.working_dir;
  s.user = l.user;
  s.additional_groups = l.group_add;
  s.hostname = l.hostname;
  s.domainname = l.domainname;
  s.extra_hosts = l.extra_hosts;
  s.dns_servers = l.dns;
  s.dns_search = l.dns_search;
  s.dns_options = l.dns_options;
  s.tty = l.tty;
  s.readonly_rootfs = l.readonly_rootfs;
  s.privileged = l.privileged;
  s.init = l.init;
  s.cap_add = l.cap_add;
  s.cap_drop = l.cap_drop;
  for (const auto& u : l.ulimits)
    s.ulimits.push_back(sandbox::Ulimit{u.name, u.soft, u.hard});
  if (l.shm_size > 0) s.shm_size = l.shm_size;
  s.network_mode = l.network_mode;
  s.netns_path = l.netns_path;
  s.ip_address = l.ip_address;
  s.resources = to_spec_resources(l);
  for (const auto& m : l.mounts) {
    sandbox::Mount mount;
    mount.type = m.type;
    mount.source = m.source;
    mount.target = m.target;
    mount.readonly = m.readonly;
    mount.propagation = m.propagation;
    mount.recursive = m.recursive;
    mount.tmpfs_size = m.tmpfs_size;
    mount.tmpfs_mode = m.tmpfs_mode;
    s.mounts.push_back(mount);
  }
  return s;
}

class MemoryBackend final : public engine::Backend {
 public:
  explicit MemoryBackend(engine::BackendOptions options)
      : options_(std::move(options)), containers_dir_(options_.data_root + "/containers") {
    std::string mode =
        options_.settings.count("agent-mode") ? options_.settings["agent-mode"] : "off";
    if (mode == "forward") {
      agent_mode_ = AgentMode::Forward;
    } else if (mode == "reverse") {
      agent_mode_ = AgentMode::Reverse;
    } else if (mode != "off") {
      throw std::runtime_error("--agent-mode: \"" + mode + "\" is not off, forward or reverse");
    }
    if (agent_mode_ != AgentMode::Off) agents_ = std::make_unique<engine::AgentClients>();
  }

  ~MemoryBackend() override {
    if (agent_listener_) ::shutdown(agent_listener_.get(), SHUT_RDWR);
    if (agent_accept_.joinable()) agent_accept_.join();
  }

  engine::AgentClients* agents() override { return agents_.get(); }

  bool supports(engine::Capability c) const override {
    return c == engine::Capability::Containers || c == engine::Capability::Attach ||
           c == engine::Capability::Exec || c == engine::Capability::Pause ||
           c == engine::Capability::Top || c == engine::Capability::Archive ||
           c == engine::Capability::Stats || c == engine::Capability::Changes ||
           c == engine::Capability::Commit;
  }

  engine::BackendDescription describe() const override {
    engine::BackendDescription d;
    d.name = "memory";
    d.driver = host_.overlayfs ? "overlayfs" : "copy";
    d.driver_status = {{"Backend", "memory (Linux namespaces on this host)"},
                       {"Root Dir", options_.data_root}};
    d.warnings = host_.warnings;
    d.memory_limit = host_.memory_cgroup;
    d.cpu_cfs = d.cpu_shares = host_.cpu_cgroup;
    d.pids_limit = host_.pids_cgroup;
    return d;
  }

  void check_host() override {
    if (::geteuid() != 0 && (read_long("/proc/sys/user/max_user_namespaces", 1) == 0 ||
                             read_long("/proc/sys/kernel/unprivileged_userns_clone", 1) == 0))
      throw std::runtime_error(
          "the memory backend needs root or unprivileged user namespaces, and this host allows "
          "neither (see "
          "/proc/sys/user/max_user_namespaces and /proc/sys/kernel/unprivileged_userns_clone); run "
          "as root or "
          "enable them");
    host_ = sandbox::probe_host();
    if (!host_.rootless.empty()) spdlog::warn("memory backend: {}", host_.rootless);
    fs::create_directories(containers_dir_);
    exe_ = monitor::role_binary(self_exe());
    if (agent_mode_ != AgentMode::Off) start_agent_support();
  }

  engine::StartResult start(const engine::ContainerLaunch& launch_in) override {
    std::string dir = state_dir(launch_in.id);
    fs::create_directories(dir);
    engine::ContainerLaunch launch =
        agent_mode_ == AgentMode::Off ? launch_in : under_agent(launch_in, dir);
    monitor::MonitorConfig config;
    config.spec = to_spec(launch, dir);
    config.open_stdin = launch.open_stdin;
    config.stdin_once = launch.stdin_once;
    config.initial_clients = static_cast<int>(launch.early_attach.size());
    int code = 128;
    std::size_t delivered = 0;
    auto connect_early = [&] {
      for (const auto& a : launch.early_attach) {
        a.deliver(monitor::connect_attach(dir, a.in, a.out, a.err));
        ++delivered;
      }
    };
    try {
      auto launched = monitor::launch(exe_, dir, config, code, connect_early);
      std::lock_guard lock(mu_);
      pids_[launch.id] = launched.pid;
      return engine::StartResult{launched.pid, unix_nanos(Clock::now())};
    } catch (const std::runtime_error& e) {
      for (std::size_t i = delivered; i < launch.early_attach.size(); ++i)
        launch.early_attach[i].deliver(UniqueFd());
      throw engine::StartFailure(code, e.what());
    }
  }

  bool discard_unrecorded_start(const std::string& id) override {
    std::string dir = state_dir(id);
    if (!fs::exists(dir)) return false;
    // A monitor answers on its socket while it lives; connecting also counts as the
    // early client it may still be waiting for, so it starts the process and writes the
    // pid file without its 10 s wait.
    UniqueFd probe = monitor::connect_attach(dir, false, false, false);
    if (!probe) return false;
    pid_t pid = 0;
    for (int i = 0; i < 300 && pid <= 0; ++i) {
      std::ifstream in(dir + "/pid");
      in >> pid;
      if (pid <= 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (pid > 0) ::kill(pid, SIGKILL);
    probe.reset();
    monitor::wait_finished(dir);
    return true;
  }

  void collect_garbage(const std::set<std::string>& known_ids) override {
    std::error_code ec;
    std::vector<std::string> unknown;
    for (const auto& e : fs::directory_iterator(containers_dir_, ec))
      if (e.is_directory() && !known_ids.count(e.path().filename().string()))
        unknown.push_back(e.path().filename().string());
    for (const auto& id : unknown) {
      spdlog::info("container {}: removing what an interrupted removal left", id);
      discard_unrecorded_start(id);
      remove(id);
    }
  }

  void signal(const std::string& id, int sig) override {
    pid_t pid = pid_of(id);
    if (pid > 0) ::kill(pid, sig);
  }

  engine::ExitStatus wait_exit(const std::string& id) override {
    std::string dir = state_dir(id);
    monitor::wait_finished(dir);
    engine::ExitStatus status;
    monitor::Exit exit;
    if (monitor::read_exit(dir, exit)) {
      status.code = exit.code;
      status.finished_at = exit.finished_at;
      status.oom_killed = exit.oom_killed;
    } else {
      status.code = 255;
      status.finished_at = unix_nanos(Clock::now());
      status.error = "the container's monitor ended without recording an exit status";
    }
    return status;
  }

  UniqueFd attach(const std::string& id, bool in, bool out, bool err) override {
    // A TTY container's command has the terminal itself (as /dev/pts/0, like under
    // docker): attaching to it stays with the monitor, which holds the terminal's master.
    if (auto ep = agent_of(id); ep && !ep_tty(id))
      return agents_->attach(*ep, in, out, err, false, ep_stdin_once(id));
    return monitor::connect_attach(state_dir(id), in, out, err);
  }

  void resize(const std::string& id, int height, int width) override {
    // Under an agent too, a TTY command has the monitor's terminal itself.
    monitor::resize(state_dir(id), height, width);
  }

  UniqueFd exec(const std::string& id, const engine::ExecLaunch& l) override {
    if (auto ep = agent_of(id)) return agents_->exec(*ep, l);
    monitor::ExecRequest r;
    r.id = l.id;
    r.argv = l.argv;
    r.env = l.env;
    r.working_dir = l.working_dir;
    r.user = l.user;
    r.tty = l.tty;
    r.privileged = l.privileged;
    r.attach_stdin = l.attach_stdin;
    r.height = l.height;
    r.width = l.width;
    return monitor::launch_exec(exe_, state_dir(id), r);
  }

  void resize_exec(const std::string& id, const std::string& exec_id, int height,
                   int width) override {
    if (agent_of(id)) return agents_->resize_exec(exec_id, height, width);
    monitor::resize_exec(state_dir(id), exec_id, height, width);
  }

  void update_resources(const engine::ContainerLaunch& l) override {
    auto spec = spec_of(l.id);
    spec.resources = to_spec_resources(l);
    sandbox::update_resources(spec);
  }
  void pause(const std::string& id) override {
    sandbox::pause(spec_of(id), pid_of(id));
    std::lock_guard lock(mu_);
    paused_.insert(id);
  }
  void unpause(const std::string& id) override {
    sandbox::resume(spec_of(id), pid_of(id));
    std::lock_guard lock(mu_);
    paused_.erase(id);
  }

  void write_changes(const engine::ContainerLaunch& l,
                     const std::function<void(const char*, std::size_t)>& sink) override {
    sandbox::StateLayout layout(state_dir(l.id));
    image::pack_layer(layout.upper, sandbox_owned, sink);
  }

  std::vector<std::pair<std::string, int>> changes(const engine::ContainerLaunch& l) override {
    // The overlay's upper directory holds exactly what changed: whiteouts (0/0 character
    // devices) are deletions; anything else is added, or modified when a lower layer has it.
    sandbox::ContainerSpec spec = to_spec(l, state_dir(l.id));
    sandbox::StateLayout layout(spec.state_dir);
    std::vector<std::pair<std::string, int>> out;
    std::error_code ec;
    if (!fs::exists(layout.upper, ec)) return out;
    auto in_lower = [&](const std::string& rel) {
      for (const auto& dir : spec.lower_dirs) {
        std::error_code e;
        if (fs::symlink_status(dir + rel, e).type() != fs::file_type::not_found && !e) return true;
      }
      return false;
    };
    std::vector<std::pair<std::string, int>> all;
    for (auto it = fs::recursive_directory_iterator(layout.upper, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      std::string rel = "/" + fs::relative(it->path(), layout.upper, ec).string();
      if (sandbox_owned(rel)) continue;
      struct stat st {};
      if (::lstat(it->path().c_str(), &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == 0) {
        all.emplace_back(rel, 2);
        continue;
      }
      all.emplace_back(rel, in_lower(rel) ? 0 : 1);
    }
    // A directory that only "changed" because of ignored entries is not a change.
    for (const auto& [path, kind] : all) {
      if (kind == 0 && fs::is_directory(layout.upper + path, ec)) {
        bool has_child = false;
        for (const auto& [other, k] : all)
          if (other.size() > path.size() && other.rfind(path + "/", 0) == 0) has_child = true;
        if (!has_child) continue;
      }
      out.emplace_back(path, kind);
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  std::int64_t changes_size(const engine::ContainerLaunch& l) override {
    sandbox::StateLayout layout(state_dir(l.id));
    std::int64_t total = 0;
    std::set<std::pair<dev_t, ino_t>> seen;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(layout.upper, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      struct stat st {};
      if (::lstat(it->path().c_str(), &st) != 0 || S_ISDIR(st.st_mode) || st.st_size == 0) continue;
      if (sandbox_owned("/" + fs::relative(it->path(), layout.upper, ec).string())) continue;
      if (seen.insert({st.st_dev, st.st_ino}).second) total += st.st_size;
    }
    return total;
  }

  engine::ResourceUsage stats(const std::string& id) override {
    engine::ResourceUsage u;
    auto spec = spec_of(id);
    auto read_u64 = [](const std::string& path) -> std::optional<std::uint64_t> {
      std::ifstream in(path);
      std::uint64_t v;
      if (in >> v) return v;
      return std::nullopt;
    };
    auto read_keyed = [](const std::string& path,
                         const std::string& key) -> std::optional<std::uint64_t> {
      std::ifstream in(path);
      std::string k;
      std::uint64_t v;
      while (in >> k >> v)
        if (k == key) return v;
      return std::nullopt;
    };
    for (const auto& h : sandbox::existing_cgroups(spec)) {
      std::string dir = sandbox::container_cgroup(h, spec);
      if (h.unified) {
        if (auto v = read_keyed(dir + "/cpu.stat", "usage_usec"); v && !u.cpu_total_ns) {
          u.cpu_total_ns = *v * 1000;
          u.cpu_user_ns = read_keyed(dir + "/cpu.stat", "user_usec").value_or(0) * 1000;
          u.cpu_system_ns = read_keyed(dir + "/cpu.stat", "system_usec").value_or(0) * 1000;
        }
        if (auto v = read_u64(dir + "/memory.current"); v && !u.memory_usage) {
          u.memory_usage = *v;
          u.memory_limit = read_u64(dir + "/memory.max").value_or(0);
          u.memory_inactive_file = read_keyed(dir + "/memory.stat", "inactive_file").value_or(0);
        }
        if (auto v = read_u64(dir + "/pids.current"); v && !u.pids) u.pids = *v;
        continue;
      }
      if (h.has("cpuacct")) {
        u.cpu_total_ns = read_u64(dir + "/cpuacct.usage").value_or(0);
        std::ifstream per(dir + "/cpuacct.usage_percpu");
        std::uint64_t v;
        while (per >> v)
          u.cpu_per_core_ns.push_back(v);
        // cpuacct.stat counts in USER_HZ ticks.
        long hz = ::sysconf(_SC_CLK_TCK);
        u.cpu_user_ns = read_keyed(dir + "/cpuacct.stat", "user").value_or(0) * 1'000'000'000ULL /
                        static_cast<std::uint64_t>(hz);
        u.cpu_system_ns = read_keyed(dir + "/cpuacct.stat", "system").value_or(0) *
                          1'000'000'000ULL / static_cast<std::uint64_t>(hz);
      }
      if (h.has("memory")) {
        u.memory_usage = read_u64(dir + "/memory.usage_in_bytes").value_or(0);
        u.memory_max_usage = read_u64(dir + "/memory.max_usage_in_bytes").value_or(0);
        u.memory_limit = read_u64(dir + "/memory.limit_in_bytes").value_or(0);
        u.memory_inactive_file =
            read_keyed(dir + "/memory.stat", "total_inactive_file").value_or(0);
      }
      if (h.has("pids")) u.pids = read_u64(dir + "/pids.current").value_or(0);
    }
    return u;
  }

  std::optional<TopTable> top(const std::string& id, const std::string& ps_args) override {
    if (auto ep = agent_of(id)) return agents_->top(*ep, ps_args);
    return std::nullopt;
  }

  std::vector<int> processes(const std::string& id) override {
    // Every process in the container's pid namespace.
    pid_t init = pid_of(id);
    std::error_code ec;
    auto ns = fs::read_symlink("/proc/" + std::to_string(init) + "/ns/pid", ec);
    if (ec) return {};
    std::vector<int> out;
    for (const auto& entry : fs::directory_iterator("/proc", ec)) {
      std::string name = entry.path().filename().string();
      if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
      std::error_code e2;
      if (fs::read_symlink(entry.path() / "ns" / "pid", e2) == ns && !e2)
        out.push_back(std::stoi(name));
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  engine::PathStat archive_stat(const engine::ContainerLaunch& l, int pid,
                                const std::string& path) override {
    if (auto ep = pid > 0 ? agent_of(l.id) : std::nullopt)
      return agents_->archive_stat(*ep, l, path);
    auto conn = archive(l, pid, "stat", path);
    return read_stat(conn.get(), l.name);
  }

  UniqueFd archive_get(const engine::ContainerLaunch& l, int pid, const std::string& path,
                       engine::PathStat& stat) override {
    // docker export (an empty path) stays with the daemon: it wants the root without volumes.
    if (auto ep = pid > 0 && !path.empty() ? agent_of(l.id) : std::nullopt)
      return agents_->archive_get(*ep, l, path, stat);
    auto conn = archive(l, pid, "get", path);
    stat = read_stat(conn.get(), l.name);
    return conn;
  }

  void archive_put(const engine::ContainerLaunch& l, int pid, const std::string& dir, int tar_fd,
                   bool no_overwrite_dir_non_dir, bool copy_uid_gid) override {
    if (auto ep = pid > 0 ? agent_of(l.id) : std::nullopt)
      return agents_->archive_put(*ep, l, dir, tar_fd, no_overwrite_dir_non_dir, copy_uid_gid);
    nlohmann::json extra = {{"no_overwrite_dir_non_dir", no_overwrite_dir_non_dir},
                            {"copy_uid_gid", copy_uid_gid}};
    auto conn = archive(l, pid, "put", dir, extra);
    char buf[64 * 1024];
    for (;;) {
      ssize_t n = ::read(tar_fd, buf, sizeof buf);
      if (n <= 0) break;
      if (!write_all(conn.get(), buf, static_cast<std::size_t>(n)))
        break;  // the relay answered early
    }
    ::shutdown(conn.get(), SHUT_WR);
    read_stat(conn.get(), l.name, true);
  }

  std::string log_path(const std::string& id) override { return state_dir(id) + "/container.log"; }

  void remove(const std::string& id) override {
    if (agents_) {
      agents_->forget(id);
      std::lock_guard lock(mu_);
      endpoints_.erase(id);
      paused_.erase(id);
    }
    std::string dir = state_dir(id);
    std::error_code ec;
    if (fs::exists(dir + "/monitor.json", ec)) {
      try {
        std::ifstream in(dir + "/monitor.json");
        std::stringstream text;
        text << in.rdbuf();
        auto config = monitor::config_from_json(nlohmann::json::parse(text.str()));
        sandbox::cleanup(config.spec, true);
      } catch (const std::exception&) {
      }
    }
    fs::remove_all(dir, ec);
    {
      std::lock_guard lock(mu_);
      pids_.erase(id);
    }
    if (ec) throw Internal(ec.message() + ": " + dir);
  }

 private:
  std::string state_dir(const std::string& id) const { return containers_dir_ + "/" + id; }

  UniqueFd archive(const engine::ContainerLaunch& l, int pid, const std::string& op,
                   const std::string& path, nlohmann::json extra = nlohmann::json::object()) {
    std::string dir = state_dir(l.id);
    fs::create_directories(dir);
    monitor::MonitorConfig config;
    config.spec = to_spec(l, dir);
    nlohmann::json req = extra;
    req["op"] = op;
    req["path"] = path;
    req["running"] = pid > 0;
    req["pid"] = pid;
    req["container"] = l.name;
    req["spec"] = monitor::to_json(config)["spec"];
    return monitor::launch_archive(exe_, dir, req);
  }

  static bool write_all(int fd, const char* data, std::size_t n) {
    while (n > 0) {
      ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      data += w;
      n -= static_cast<std::size_t>(w);
    }
    return true;
  }

  // The relay's answer line: a stat, or an error with its status.
  static engine::PathStat read_stat(int fd, const std::string& container, bool ok_only = false) {
    std::string line;
    char c;
    while (::read(fd, &c, 1) == 1 && c != '\n')
      line += c;
    auto doc = nlohmann::json::parse(line, nullptr, false);
    if (!doc.is_object())
      throw Internal("docker cp in " + container + ": the archive helper gave no answer");
    if (doc.contains("error")) {
      std::string message = doc["error"].get<std::string>();
      int status = doc.value("status", 500);
      if (status == 404) throw NotFound(message);
      if (status == 400) throw InvalidArgument(message);
      throw Internal(message);
    }
    if (ok_only) return engine::PathStat{};
    return engine::path_stat_from_json(doc.at("stat"));
  }

  sandbox::ContainerSpec spec_of(const std::string& id) {
    std::ifstream in(state_dir(id) + "/monitor.json");
    std::stringstream text;
    text << in.rdbuf();
    return monitor::config_from_json(nlohmann::json::parse(text.str())).spec;
  }

  pid_t pid_of(const std::string& id) {
    {
      std::lock_guard lock(mu_);
      if (auto it = pids_.find(id); it != pids_.end()) return it->second;
    }
    std::ifstream in(state_dir(id) + "/pid");
    pid_t pid = 0;
    in >> pid;
    return pid;
  }

  // --- --agent-mode: each container's command runs under sockerless-agent, and exec,
  // attach and cp go through it (the path cloud backends take), forward or reverse.

  struct AgentInfo {
    engine::AgentEndpoint endpoint;
    bool tty = false, stdin_once = false;
  };

  static constexpr const char* kAgentDir = "/.sockerless";

  void start_agent_support() {
    std::string sibling = (fs::path(self_exe()).parent_path() / "sockerless-agent").string();
    if (::access(sibling.c_str(), X_OK) != 0)
      throw std::runtime_error(
          "--agent-mode needs the sockerless-agent binary next to sockerlessd (" + sibling + ")");
    agent_exe_ = sibling;
    if (agent_mode_ != AgentMode::Reverse) return;
    // Agents dial back on a socket of their own, whose directory is bind-mounted into each
    // container (the directory, so that a restarted daemon's new socket is seen): it
    // serves only the agent route, never the Docker API.
    agent_socket_dir_ = options_.data_root + "/agent";
    fs::create_directories(agent_socket_dir_);
    agent_socket_ = agent_socket_dir_ + "/daemon.sock";
    agent_listener_ = agent::listen_on("unix:" + agent_socket_);
    ::chmod(agent_socket_.c_str(), 0666);
    agent_accept_ = std::thread([this] {
      for (;;) {
        int fd = ::accept4(agent_listener_.get(), nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) {
          if (errno == EINTR || errno == ECONNABORTED) continue;
          return;
        }
        std::thread([this, fd] { accept_agent(UniqueFd(fd)); }).detach();
      }
    });
  }

  void accept_agent(UniqueFd fd) {
    try {
      std::string rest;
      auto req = agent::read_upgrade_request(fd.get(), rest);
      std::string path = req.target.substr(0, req.target.find('?'));
      if (path != agent::kConnectPath) return agent::refuse(fd.get(), 404, "no such path: " + path);
      std::string container = agent::query_param(req.target, "container");
      std::string token = agent::bearer_token(req.headers);
      if (!agents_->accepts(container, token))
        return agent::refuse(fd.get(), 401, "wrong or missing agent token");
      std::string answer = agent::upgrade_answer(req, token);
      if (::send(fd.get(), answer.data(), answer.size(), MSG_NOSIGNAL) !=
          static_cast<ssize_t>(answer.size()))
        return;
      agents_->adopt(container, std::move(fd), std::move(rest));
    } catch (const std::exception& e) {
      spdlog::debug("agent connection: {}", e.what());
    }
  }

  static std::string new_token() {
    std::string bytes(32, '\0');
    std::ifstream random("/dev/urandom", std::ios::binary);
    random.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!random) throw Internal("cannot read /dev/urandom for an agent token");
    std::string t = agent::base64(bytes);
    for (auto& c : t) {
      if (c == '+') c = '-';
      if (c == '/') c = '_';
    }
    while (!t.empty() && t.back() == '=')
      t.pop_back();
    return t;
  }

  // The launch with the agent as the container's first process. Its token reaches it in
  // the environment of the process only: the container's recorded config never has it.
  engine::ContainerLaunch under_agent(const engine::ContainerLaunch& in, const std::string& dir) {
    engine::ContainerLaunch l = in;
    AgentInfo info;
    info.endpoint.container = in.id;
    info.endpoint.token = new_token();
    info.tty = in.tty;
    info.stdin_once = in.stdin_once;
    std::string run_dir = dir + "/agent";
    fs::create_directories(run_dir);
    std::vector<std::string> argv = {std::string(kAgentDir) + "/agent", "--container", in.id};
    if (agent_mode_ == AgentMode::Forward) {
      info.endpoint.address = "unix:" + run_dir + "/agent.sock";
      argv.insert(argv.end(), {"--listen", std::string("unix:") + kAgentDir + "/run/agent.sock"});
    } else {
      argv.insert(argv.end(),
                  {"--callback", std::string("ws+unix://%2F.sockerless%2Fdaemon%2Fdaemon.sock") +
                                     agent::kConnectPath + "?container=" + in.id});
      engine::ContainerLaunch::Mount m;
      m.type = "bind";
      m.source = agent_socket_dir_;
      m.target = std::string(kAgentDir) + "/daemon";
      m.readonly = true;
      l.mounts.push_back(m);
      agents_->expect(in.id, info.endpoint.token);
    }
    // The agent does an init's work (reaping, forwarding signals), so --init adds none.
    l.init = false;
    // The agent stays root so that exec -u can be anyone; the command runs as the user.
    if (!in.user.empty()) {
      argv.insert(argv.end(), {"--user", in.user});
      l.user.clear();
    }
    // It applies --group-add to the command and to execs as docker does; it has the
    // groups itself too (the sandbox gives them to the container's first process).
    for (const auto& g : in.group_add)
      argv.insert(argv.end(), {"--group-add", g});
    argv.push_back("--");
    argv.insert(argv.end(), in.argv.begin(), in.argv.end());
    l.argv = argv;
    l.env.push_back(std::string(agent::kTokenEnv) + "=" + info.endpoint.token);
    engine::ContainerLaunch::Mount exe;
    exe.type = "bind";
    exe.source = agent_exe_;
    exe.target = std::string(kAgentDir) + "/agent";
    exe.readonly = true;
    l.mounts.push_back(exe);
    engine::ContainerLaunch::Mount run;
    run.type = "bind";
    run.source = run_dir;
    run.target = std::string(kAgentDir) + "/run";
    l.mounts.push_back(run);
    nlohmann::json doc = {{"token", info.endpoint.token},
                          {"address", info.endpoint.address},
                          {"tty", info.tty},
                          {"stdin_once", info.stdin_once}};
    {
      std::ofstream out(dir + "/agent.json");
      out << doc.dump();
    }
    ::chmod((dir + "/agent.json").c_str(), 0600);
    std::lock_guard lock(mu_);
    endpoints_[in.id] = info;
    return l;
  }

  // The container's agent, when it runs under one (found again after a daemon restart).
  std::optional<AgentInfo> agent_info(const std::string& id) {
    if (!agents_) return std::nullopt;
    {
      std::lock_guard lock(mu_);
      if (auto it = endpoints_.find(id); it != endpoints_.end()) return it->second;
    }
    std::ifstream in(state_dir(id) + "/agent.json");
    if (!in) return std::nullopt;
    std::stringstream text;
    text << in.rdbuf();
    auto doc = nlohmann::json::parse(text.str(), nullptr, false);
    if (!doc.is_object()) return std::nullopt;
    AgentInfo info;
    info.endpoint.container = id;
    info.endpoint.token = doc.value("token", "");
    info.endpoint.address = doc.value("address", "");
    info.tty = doc.value("tty", false);
    info.stdin_once = doc.value("stdin_once", false);
    if (info.endpoint.address.empty()) agents_->expect(id, info.endpoint.token);
    std::lock_guard lock(mu_);
    endpoints_[id] = info;
    return info;
  }
  // The agent to ask, unless there is none or it is frozen with its container (docker cp
  // and top of a paused container then take the daemon's own way).
  std::optional<engine::AgentEndpoint> agent_of(const std::string& id) {
    {
      std::lock_guard lock(mu_);
      if (paused_.count(id)) return std::nullopt;
    }
    auto info = agent_info(id);
    if (!info) return std::nullopt;
    return info->endpoint;
  }
  bool ep_tty(const std::string& id) {
    auto info = agent_info(id);
    return info && info->tty;
  }
  bool ep_stdin_once(const std::string& id) {
    auto info = agent_info(id);
    return info && info->stdin_once;
  }

  enum class AgentMode { Off, Forward, Reverse } agent_mode_ = AgentMode::Off;
  std::unique_ptr<engine::AgentClients> agents_;
  std::string agent_exe_, agent_socket_dir_, agent_socket_;
  UniqueFd agent_listener_;
  std::thread agent_accept_;
  std::map<std::string, AgentInfo> endpoints_;
  std::set<std::string> paused_;

  engine::BackendOptions options_;
  std::string containers_dir_;
  std::string exe_;
  sandbox::HostSupport host_;
  std::mutex mu_;
  std::map<std::string, pid_t> pids_;
};

}  // namespace

std::unique_ptr<engine::Backend> make_memory_backend(const engine::BackendOptions& options) {
  return std::make_unique<MemoryBackend>(options);
}

}  // namespace sockerless::backends
