#include "sandbox/cgroups.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <set>
#include <sstream>
#include <thread>

#include "common/files.h"
#include "common/unique_fd.h"
#include "sandbox/mountinfo.h"

namespace sockerless::sandbox {
namespace {

bool exists(const std::string& path) {
  return ::access(path.c_str(), F_OK) == 0;
}

// cgroupfs wants the value in one write(2); returns 0 or an errno.
int write_value(const std::string& path, const std::string& value) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return errno;
  if (::write(fd.get(), value.data(), value.size()) < 0) return errno;
  return 0;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string part;
  while (std::getline(in, part, sep)) {
    if (!part.empty()) out.push_back(part);
  }
  return out;
}

std::string trim_slashes(const std::string& s) {
  auto b = s.find_first_not_of('/');
  if (b == std::string::npos) return "";
  auto e = s.find_last_not_of('/');
  return s.substr(b, e - b + 1);
}

const Hierarchy* with_controller(const std::vector<Hierarchy>& hs, std::string_view c) {
  for (const auto& h : hs)
    if (h.has(c)) return &h;
  return nullptr;
}

// mkdir -p below the hierarchy's mount; a new v1 cpuset cgroup starts with no cpus and
// mems and takes no processes until they are copied from its parent (ENOSPC). Also for a
// level that exists already: another process may have made it an instant ago and not yet
// copied them (two daemons, or tests, starting containers side by side).
int make_cgroup_dirs(const Hierarchy& h, const std::string& relative) {
  auto blank = [](const std::string& v) { return v.find_first_not_of(" \n") == std::string::npos; };
  std::string path = h.mount;
  for (const auto& part : split(relative, '/')) {
    std::string parent = path;
    path += "/" + part;
    if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) return errno;
    if (!h.unified && h.has("cpuset")) {
      for (const char* file : {"cpuset.cpus", "cpuset.mems"}) {
        if (!blank(read_file(path + "/" + file))) continue;
        std::string value = read_file(parent + "/" + file);
        if (!blank(value)) write_value(path + "/" + file, value);
      }
    }
  }
  return 0;
}

// v2: a child only gets a controller's files once every ancestor delegates it.
void enable_v2_controllers(const Hierarchy& h, const std::string& parent_relative) {
  std::string path = h.mount;
  std::vector<std::string> levels = {path};
  for (const auto& part : split(parent_relative, '/'))
    levels.push_back(path += "/" + part);
  for (const auto& level : levels) {
    for (const char* c : {"cpu", "memory", "pids", "io"}) {
      if (h.has(c)) write_value(level + "/cgroup.subtree_control", std::string("+") + c);
    }
  }
}

void set_limit(const std::string& dir, const char* file, const std::string& value) {
  if (int err = write_value(dir + "/" + file, value))
    throw SandboxError("cgroups",
                       "writing " + value + " to " + dir + "/" + file + ": " + std::strerror(err));
}

void write_limits(const std::vector<Hierarchy>& hs, const ContainerSpec& spec) {
  const Resources& r = spec.resources;
  auto dir_for = [&](const char* controller) -> std::string {
    const Hierarchy* h = with_controller(hs, controller);
    return h ? container_cgroup(*h, spec) : std::string();
  };
  if (r.memory > 0) {
    if (auto dir = dir_for("memory"); !dir.empty()) {
      bool v2 = with_controller(hs, "memory")->unified;
      // docker: without MemorySwap, swap may add as much again as the memory limit.
      std::int64_t total = r.memory_swap > 0   ? r.memory_swap
                           : r.memory_swap < 0 ? -1
                                               : 2 * r.memory;
      if (v2) {
        set_limit(dir, "memory.max", std::to_string(r.memory));
        if (exists(dir + "/memory.swap.max"))
          set_limit(dir, "memory.swap.max",
                    total < 0 ? std::string("max") : std::to_string(total - r.memory));
      } else if (!exists(dir + "/memory.memsw.limit_in_bytes")) {
        set_limit(dir, "memory.limit_in_bytes", std::to_string(r.memory));
      } else {
        // v1 keeps memory <= memory+swap at every moment: which goes first depends on
        // whether the limits grow or shrink.
        std::string memsw = std::to_string(total);
        if (write_value(dir + "/memory.memsw.limit_in_bytes", memsw) == 0) {
          set_limit(dir, "memory.limit_in_bytes", std::to_string(r.memory));
        } else {
          set_limit(dir, "memory.limit_in_bytes", std::to_string(r.memory));
          set_limit(dir, "memory.memsw.limit_in_bytes", memsw);
        }
      }
    }
  }
  if (r.cpu_shares > 0 || r.cpu_quota > 0 || r.cpu_period > 0) {
    if (auto dir = dir_for("cpu"); !dir.empty()) {
      std::int64_t period = r.cpu_period > 0 ? r.cpu_period : 100000;
      if (with_controller(hs, "cpu")->unified) {
        if (r.cpu_shares > 0) {
          // runc's conversion of shares [2, 262144] to weight [1, 10000].
          std::int64_t shares = std::clamp<std::int64_t>(r.cpu_shares, 2, 262144);
          set_limit(dir, "cpu.weight", std::to_string(1 + ((shares - 2) * 9999) / 262142));
        }
        if (r.cpu_quota > 0 || r.cpu_period > 0)
          set_limit(dir, "cpu.max",
                    (r.cpu_quota > 0 ? std::to_string(r.cpu_quota) : "max") + " " +
                        std::to_string(period));
      } else {
        if (r.cpu_shares > 0) set_limit(dir, "cpu.shares", std::to_string(r.cpu_shares));
        if (r.cpu_period > 0) set_limit(dir, "cpu.cfs_period_us", std::to_string(period));
        if (r.cpu_quota > 0) set_limit(dir, "cpu.cfs_quota_us", std::to_string(r.cpu_quota));
      }
    }
  }
  if (r.pids_limit > 0) {
    if (auto dir = dir_for("pids"); !dir.empty())
      set_limit(dir, "pids.max", std::to_string(r.pids_limit));
  }
}

// An update may also lift a limit.
void lift_limits(const std::vector<Hierarchy>& hs, const ContainerSpec& spec) {
  const Resources& r = spec.resources;
  if (r.pids_limit <= 0)
    if (const Hierarchy* h = with_controller(hs, "pids"))
      set_limit(container_cgroup(*h, spec), "pids.max", "max");
}

bool needed_for_limits(const Hierarchy& h, const Resources& r) {
  return (r.memory > 0 && h.has("memory")) ||
         ((r.cpu_shares > 0 || r.cpu_quota > 0 || r.cpu_period > 0) && h.has("cpu")) ||
         (r.pids_limit > 0 && h.has("pids"));
}

std::vector<pid_t> procs_of(const std::string& dir) {
  std::vector<pid_t> out;
  std::istringstream in(read_file(dir + "/cgroup.procs"));
  pid_t pid;
  while (in >> pid)
    out.push_back(pid);
  return out;
}

// Waits for a state file to show `want` (the kernel freezes asynchronously).
bool wait_for_content(const std::string& path, const std::string& want) {
  for (int i = 0; i < 1000; ++i) {
    if (read_file(path).find(want) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return false;
}

}  // namespace

bool Hierarchy::has(std::string_view controller) const {
  return std::find(controllers.begin(), controllers.end(), controller) != controllers.end();
}

std::vector<Hierarchy> find_hierarchies() {
  std::vector<Hierarchy> out;
  std::set<std::string> seen;  // a hierarchy bind-mounted twice is still one
  for (const auto& m : read_mountinfo()) {
    if (m.fstype != "cgroup" && m.fstype != "cgroup2") continue;
    if (!seen.insert(m.devno).second) continue;
    Hierarchy h;
    h.mount = m.mount_point;
    h.unified = m.fstype == "cgroup2";
    if (h.unified) {
      std::istringstream controllers(read_file(h.mount + "/cgroup.controllers"));
      std::string c;
      while (controllers >> c)
        h.controllers.push_back(c);
    } else {
      for (const auto& opt : split(m.super_options, ',')) {
        bool flag = opt == "rw" || opt == "ro" || opt == "noprefix" || opt == "clone_children" ||
                    opt == "xattr" || opt == "cpuset_v2_mode" || opt == "favordynmods";
        bool setting = opt.find('=') != std::string::npos && opt.rfind("name=", 0) != 0;
        if (!flag && !setting) h.controllers.push_back(opt);
      }
    }
    out.push_back(std::move(h));
  }
  return out;
}

std::string container_cgroup(const Hierarchy& h, const ContainerSpec& spec) {
  std::string parent = trim_slashes(spec.cgroup_parent);
  return h.mount + (parent.empty() ? "" : "/" + parent) + "/" + spec.id;
}

std::vector<Hierarchy> create_cgroups(const ContainerSpec& spec) {
  auto hierarchies = find_hierarchies();
  std::vector<Hierarchy> created;
  std::string parent = trim_slashes(spec.cgroup_parent);
  for (const auto& h : hierarchies) {
    if (h.unified) enable_v2_controllers(h, parent);
    std::string relative = (parent.empty() ? "" : parent + "/") + spec.id;
    if (int err = make_cgroup_dirs(h, relative)) {
      if (needed_for_limits(h, spec.resources))
        throw SandboxError("cgroups",
                           "creating " + container_cgroup(h, spec) + ": " + std::strerror(err));
      continue;  // a hierarchy we can't write to (read-only cgroupfs): do without it
    }
    created.push_back(h);
  }
  try {
    write_limits(created, spec);
  } catch (...) {
    remove_cgroups(spec);
    throw;
  }
  return created;
}

void update_resources(const ContainerSpec& spec) {
  auto hs = existing_cgroups(spec);
  write_limits(hs, spec);
  lift_limits(hs, spec);
}

std::vector<Hierarchy> existing_cgroups(const ContainerSpec& spec) {
  std::vector<Hierarchy> out;
  for (const auto& h : find_hierarchies())
    if (exists(container_cgroup(h, spec) + "/cgroup.procs")) out.push_back(h);
  return out;
}

std::vector<std::string> procs_files(const std::vector<Hierarchy>& hierarchies,
                                     const ContainerSpec& spec) {
  std::vector<std::string> out;
  for (const auto& h : hierarchies)
    out.push_back(container_cgroup(h, spec) + "/cgroup.procs");
  return out;
}

int join_cgroups(const std::vector<std::string>& procs_files) {
  for (const auto& file : procs_files)
    if (int err = write_value(file, "0")) return err;
  return 0;
}

void remove_cgroups(const ContainerSpec& spec) {
  std::string failures;
  for (const auto& h : find_hierarchies()) {
    std::string dir = container_cgroup(h, spec);
    if (!exists(dir)) continue;
    if (exists(dir + "/freezer.state")) write_value(dir + "/freezer.state", "THAWED");
    if (exists(dir + "/cgroup.freeze")) write_value(dir + "/cgroup.freeze", "0");
    bool removed = false;
    for (int attempt = 0; attempt < 500 && !removed; ++attempt) {
      if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) {
        removed = true;
        break;
      }
      if (errno != EBUSY) break;
      // Still populated: the container's processes are normally gone by now (pid 1 took
      // them along), so what is left is dying or a straggler that must not outlive it.
      if (exists(dir + "/cgroup.kill")) {
        write_value(dir + "/cgroup.kill", "1");
      } else {
        for (pid_t pid : procs_of(dir))
          ::kill(pid, SIGKILL);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(attempt < 50 ? 2 : 10));
    }
    if (!removed) failures += (failures.empty() ? "" : "; ") + dir + ": " + std::strerror(errno);
  }
  if (!failures.empty()) throw SandboxError("remove cgroups", failures);
}

bool oom_killed(const ContainerSpec& spec) {
  // v2 counts kills in memory.events, v1 (kernel 4.13+) in memory.oom_control; both as an
  // "oom_kill N" line. Only the hierarchy that holds the memory controller has one.
  for (const auto& h : find_hierarchies()) {
    if (!h.has("memory")) continue;
    std::string dir = container_cgroup(h, spec);
    std::istringstream in(read_file(dir + (h.unified ? "/memory.events" : "/memory.oom_control")));
    std::string key;
    std::uint64_t value = 0;
    while (in >> key >> value)
      if (key == "oom_kill" && value > 0) return true;
  }
  return false;
}

bool freeze_cgroups(const ContainerSpec& spec, bool frozen) {
  auto hierarchies = find_hierarchies();
  for (const auto& h : hierarchies) {
    if (h.unified || !h.has("freezer")) continue;
    std::string state = container_cgroup(h, spec) + "/freezer.state";
    if (!exists(state)) continue;
    const char* want = frozen ? "FROZEN" : "THAWED";
    if (int err = write_value(state, want))
      throw SandboxError(frozen ? "pause" : "unpause", state + ": " + std::strerror(err));
    if (!wait_for_content(state, want))
      throw SandboxError(frozen ? "pause" : "unpause", "timed out waiting for " + state);
    return true;
  }
  for (const auto& h : hierarchies) {
    if (!h.unified) continue;
    std::string dir = container_cgroup(h, spec);
    if (!exists(dir + "/cgroup.freeze")) continue;
    if (int err = write_value(dir + "/cgroup.freeze", frozen ? "1" : "0"))
      throw SandboxError(frozen ? "pause" : "unpause",
                         dir + "/cgroup.freeze: " + std::strerror(err));
    if (!wait_for_content(dir + "/cgroup.events", frozen ? "frozen 1" : "frozen 0"))
      throw SandboxError(frozen ? "pause" : "unpause", "timed out waiting for " + dir);
    return true;
  }
  return false;
}

}  // namespace sockerless::sandbox
