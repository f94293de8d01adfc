#include "sandbox/userns.h"

#include <fcntl.h>
#include <pwd.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

#include "common/files.h"
#include "common/unique_fd.h"

extern char** environ;

namespace sockerless::sandbox {
namespace {

// The "name:start:count" lines of /etc/subuid (or subgid) that belong to the user, by
// name or by number, one after the other from container id 1.
std::vector<IdRange> subordinate_ranges(const std::string& text, const std::string& name,
                                        unsigned long id) {
  std::vector<IdRange> out;
  unsigned long next_inside = 1;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto a = line.find(':'), b = line.find(':', a == std::string::npos ? a : a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string who = line.substr(0, a);
    if (who != name && who != std::to_string(id)) continue;
    try {
      unsigned long start = std::stoul(line.substr(a + 1, b - a - 1));
      unsigned long count = std::stoul(line.substr(b + 1));
      if (count == 0) continue;
      out.push_back({next_inside, start, count});
      next_inside += count;
    } catch (const std::exception&) {
    }
  }
  return out;
}

std::string find_in_path(const std::string& name, const std::string& path) {
  std::istringstream in(path);
  std::string dir;
  while (std::getline(in, dir, ':')) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

std::string map_text(const std::vector<IdRange>& ranges) {
  std::string out;
  for (const auto& r : ranges)
    out += std::to_string(r.inside) + " " + std::to_string(r.outside) + " " +
           std::to_string(r.count) + "\n";
  return out;
}

std::string write_proc(pid_t pid, const char* file, const std::string& text) {
  std::string path = "/proc/" + std::to_string(pid) + "/" + file;
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd || ::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
    return "writing " + path + ": " + std::strerror(errno);
  return "";
}

// `helper <pid> inside outside count …`, waited for.
std::string run_helper(const std::string& helper, pid_t pid, const std::vector<IdRange>& ranges) {
  std::vector<std::string> args = {helper, std::to_string(pid)};
  for (const auto& r : ranges)
    for (unsigned long v : {r.inside, r.outside, r.count})
      args.push_back(std::to_string(v));
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t child = 0;
  if (int rc = ::posix_spawn(&child, helper.c_str(), nullptr, nullptr, argv.data(), environ))
    return helper + ": " + std::strerror(rc);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0)
    if (errno != EINTR) return helper + ": " + std::strerror(errno);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return helper + " failed (see its message in the monitor's log)";
  return "";
}

}  // namespace

bool needs_user_namespace() {
  return ::geteuid() != 0;
}

IdMapping plan_id_mapping(uid_t uid, gid_t gid, const std::string& user_name,
                          const std::string& subuid, const std::string& subgid,
                          const std::string& path) {
  IdMapping m;
  m.uids.push_back({0, uid, 1});
  m.gids.push_back({0, gid, 1});
  auto uid_ranges = subordinate_ranges(subuid, user_name, uid);
  auto gid_ranges = subordinate_ranges(subgid, user_name, uid);
  std::string newuidmap = find_in_path("newuidmap", path);
  std::string newgidmap = find_in_path("newgidmap", path);
  // Both or neither: a container with users but no groups for them would be odd.
  if (uid_ranges.empty() || gid_ranges.empty() || newuidmap.empty() || newgidmap.empty()) return m;
  m.uids.insert(m.uids.end(), uid_ranges.begin(), uid_ranges.end());
  m.gids.insert(m.gids.end(), gid_ranges.begin(), gid_ranges.end());
  m.newuidmap = newuidmap;
  m.newgidmap = newgidmap;
  return m;
}

IdMapping own_id_mapping() {
  uid_t uid = ::geteuid();
  std::string name = std::to_string(uid);
  passwd pw{}, *found = nullptr;
  char buf[4096];
  if (::getpwuid_r(uid, &pw, buf, sizeof buf, &found) == 0 && found) name = pw.pw_name;
  const char* path = ::getenv("PATH");
  return plan_id_mapping(
      uid, ::getegid(), name, read_file("/etc/subuid"), read_file("/etc/subgid"),
      std::string(path ? path : "/usr/local/bin:/usr/bin:/bin") + ":/usr/sbin:/sbin");
}

std::string write_id_mapping(pid_t pid, const IdMapping& m) {
  if (!m.newuidmap.empty()) {
    if (auto e = run_helper(m.newuidmap, pid, m.uids); !e.empty()) return e;
    return run_helper(m.newgidmap, pid, m.gids);
  }
  if (auto e = write_proc(pid, "uid_map", map_text(m.uids)); !e.empty()) return e;
  // An unprivileged writer may map its group only once setgroups(2) is off in there.
  if (auto e = write_proc(pid, "setgroups", "deny"); !e.empty()) return e;
  return write_proc(pid, "gid_map", map_text(m.gids));
}

UniqueFd foreign_user_namespace(pid_t pid) {
  UniqueFd theirs(
      ::open(("/proc/" + std::to_string(pid) + "/ns/user").c_str(), O_RDONLY | O_CLOEXEC));
  struct stat a, b;
  if (!theirs || ::fstat(theirs.get(), &a) != 0 || ::stat("/proc/self/ns/user", &b) != 0 ||
      (a.st_dev == b.st_dev && a.st_ino == b.st_ino))
    return {};
  return theirs;
}

std::string describe_rootless(const IdMapping& m) {
  std::string ids =
      m.uids.size() > 1
          ? "container ids 1-" + std::to_string(m.uids.back().inside + m.uids.back().count - 1) +
                " map to the subordinate ids of /etc/subuid and /etc/subgid"
          : "no other user exists in there (no range for this user in /etc/subuid and "
            "/etc/subgid, or no newuidmap/newgidmap), so `--user` other than root fails";
  return "not running as root: containers run in a user namespace whose root is uid " +
         std::to_string(m.uids.front().outside) + "; " + ids +
         "; no resource limits, stats or freezer without a cgroup delegated to this user; no "
         "bridge networks or published ports; image files lose their owners";
}

}  // namespace sockerless::sandbox
