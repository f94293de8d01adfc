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
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "common/errors.h"
#include "common/time.h"
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
      "/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/dev", "/proc", "/sys", "/.dockerenv"};
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
      : options_(std::move(options)), containers_dir_(options_.data_root + "/containers") {}

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
  }

  engine::StartResult start(const engine::ContainerLaunch& launch) override {
    std::string dir = state_dir(launch.id);
    fs::create_directories(dir);
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
    return monitor::connect_attach(state_dir(id), in, out, err);
  }

  void resize(const std::string& id, int height, int width) override {
    monitor::resize(state_dir(id), height, width);
  }

  UniqueFd exec(const std::string& id, const engine::ExecLaunch& l) override {
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
    monitor::resize_exec(state_dir(id), exec_id, height, width);
  }

  void update_resources(const engine::ContainerLaunch& l) override {
    auto spec = spec_of(l.id);
    spec.resources = to_spec_resources(l);
    sandbox::update_resources(spec);
  }
  void pause(const std::string& id) override { sandbox::pause(spec_of(id), pid_of(id)); }
  void unpause(const std::string& id) override { sandbox::resume(spec_of(id), pid_of(id)); }

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
    auto conn = archive(l, pid, "stat", path);
    return read_stat(conn.get(), l.name);
  }

  UniqueFd archive_get(const engine::ContainerLaunch& l, int pid, const std::string& path,
                       engine::PathStat& stat) override {
    auto conn = archive(l, pid, "get", path);
    stat = read_stat(conn.get(), l.name);
    return conn;
  }

  void archive_put(const engine::ContainerLaunch& l, int pid, const std::string& dir, int tar_fd,
                   bool no_overwrite_dir_non_dir, bool copy_uid_gid) override {
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
    std::lock_guard lock(mu_);
    pids_.erase(id);
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
    engine::PathStat st;
    if (ok_only) return st;
    const auto& j = doc.at("stat");
    st.name = j.value("name", "");
    st.size = j.value("size", std::int64_t{0});
    st.mode = j.value("mode", std::uint32_t{0});
    st.mtime = j.value("mtime", "");
    st.link_target = j.value("linkTarget", "");
    return st;
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
