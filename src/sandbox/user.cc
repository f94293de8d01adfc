#include "sandbox/user.h"

#include <grp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <fstream>
#include <sstream>

namespace sockerless::sandbox {
namespace {

constexpr long long kMaxId = 2147483647;  // runc: ids must be in range 0-2147483647
const char* const kRangeError = "uids and gids must be in range 0-2147483647";

struct Entry {
  std::vector<std::string> fields;
};

std::vector<Entry> parse_colon_file(const std::optional<std::string>& text) {
  std::vector<Entry> out;
  if (!text) return out;
  std::istringstream in(*text);
  std::string line;
  while (std::getline(in, line)) {
    auto first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') continue;
    Entry e;
    std::size_t start = 0;
    for (;;) {
      auto colon = line.find(':', start);
      e.fields.push_back(line.substr(start, colon - start));
      if (colon == std::string::npos) break;
      start = colon + 1;
    }
    out.push_back(std::move(e));
  }
  return out;
}

std::string field(const Entry& e, std::size_t i) {
  return i < e.fields.size() ? e.fields[i] : "";
}

std::optional<long long> number(std::string_view s) {
  long long v = 0;
  if (s.empty()) return std::nullopt;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

bool id_equals(const std::string& text, long long id) {
  auto n = number(text);
  return n && *n == id;
}

std::vector<std::string> split_members(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream in(list);
  std::string m;
  while (std::getline(in, m, ',')) {
    if (!m.empty()) out.push_back(m);
  }
  return out;
}

std::optional<std::string> read_file(const char* path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

std::variant<ExecUser, std::string> resolve_user(std::string_view spec,
                                                 const std::vector<std::string>& additional_groups,
                                                 const std::optional<std::string>& passwd_text,
                                                 const std::optional<std::string>& group_text) {
  ExecUser user;
  auto colon = spec.find(':');
  std::string user_arg(spec.substr(0, colon));
  std::string group_arg;
  if (colon != std::string_view::npos) {
    auto rest = spec.substr(colon + 1);
    group_arg = std::string(rest.substr(0, rest.find(':')));
  }
  auto uid_arg = number(user_arg);
  auto gid_arg = number(group_arg);

  auto passwd = parse_colon_file(passwd_text);
  auto group = parse_colon_file(group_text);

  // Find the user: by uid when numeric (or uid 0 when unspecified), else by name.
  const Entry* match = nullptr;
  for (const auto& e : passwd) {
    bool hit = user_arg.empty() ? id_equals(field(e, 2), 0)
               : uid_arg        ? id_equals(field(e, 2), *uid_arg)
                                : field(e, 0) == user_arg;
    if (hit) {
      match = &e;
      break;
    }
  }
  std::string matched_name;
  if (match) {
    matched_name = field(*match, 0);
    auto uid = number(field(*match, 2));
    auto gid = number(field(*match, 3));
    if (!uid || !gid || *uid < 0 || *uid > kMaxId || *gid < 0 || *gid > kMaxId) return kRangeError;
    user.uid = static_cast<uid_t>(*uid);
    user.gid = static_cast<gid_t>(*gid);
    user.home = field(*match, 5);
  } else if (!user_arg.empty()) {
    if (!uid_arg) return "unable to find user " + user_arg + ": no matching entries in passwd file";
    if (*uid_arg < 0 || *uid_arg > kMaxId) return kRangeError;
    user.uid = static_cast<uid_t>(*uid_arg);
  }

  if (!group_arg.empty()) {
    const Entry* g = nullptr;
    for (const auto& e : group) {
      if (gid_arg ? id_equals(field(e, 2), *gid_arg) : field(e, 0) == group_arg) {
        g = &e;
        break;
      }
    }
    if (g) {
      auto gid = number(field(*g, 2));
      if (!gid || *gid < 0 || *gid > kMaxId) return kRangeError;
      user.gid = static_cast<gid_t>(*gid);
    } else {
      if (!gid_arg)
        return "unable to find group " + group_arg + ": no matching entries in group file";
      if (*gid_arg < 0 || *gid_arg > kMaxId) return kRangeError;
      user.gid = static_cast<gid_t>(*gid_arg);
    }
  } else if (!matched_name.empty()) {
    // Supplementary groups only come from /etc/group in the implicit form.
    for (const auto& e : group) {
      for (const auto& member : split_members(field(e, 3))) {
        if (member != matched_name) continue;
        if (auto gid = number(field(e, 2)); gid && *gid >= 0 && *gid <= kMaxId)
          user.groups.push_back(static_cast<gid_t>(*gid));
        break;
      }
    }
  }

  // Each extra group once, as under dockerd, also one the user is a member of anyway.
  auto add_group = [&](gid_t gid) {
    if (std::find(user.groups.begin(), user.groups.end(), gid) == user.groups.end())
      user.groups.push_back(gid);
  };
  for (const auto& extra : additional_groups) {
    const Entry* g = nullptr;
    auto n = number(extra);
    for (const auto& e : group) {
      if (field(e, 0) == extra || (n && id_equals(field(e, 2), *n))) {
        g = &e;
        break;
      }
    }
    if (g) {
      auto gid = number(field(*g, 2));
      if (!gid || *gid < 0 || *gid > kMaxId) return kRangeError;
      add_group(static_cast<gid_t>(*gid));
    } else if (n) {
      if (*n < 0 || *n > kMaxId) return kRangeError;
      add_group(static_cast<gid_t>(*n));
    } else {
      return "Unable to find group " + extra + ": no matching entries in group file";
    }
  }
  // Like dockerd (not bare runc): the primary group always leads the supplementary ones,
  // so `id` shows groups=<gid> too.
  user.groups.insert(user.groups.begin(), user.gid);
  if (user.home.empty()) user.home = "/";
  return user;
}

std::variant<ExecUser, std::string> resolve_user_in_root(
    std::string_view spec, const std::vector<std::string>& additional_groups) {
  return resolve_user(spec, additional_groups, read_file("/etc/passwd"), read_file("/etc/group"));
}

int switch_user(const ExecUser& user) {
  // A user namespace mapped without newgidmap forbids setgroups(2) (setgroups "deny"): the
  // process keeps the groups it has, which are the namespace's root group only.
  if (::setgroups(user.groups.size(), user.groups.data()) != 0) {
    int err = errno;
    if (err != EPERM || read_file("/proc/self/setgroups").value_or("").rfind("deny", 0) != 0)
      return err;
  }
  if (::setgid(user.gid) != 0) return errno;
  if (::setuid(user.uid) != 0) return errno;
  return 0;
}

}  // namespace sockerless::sandbox
