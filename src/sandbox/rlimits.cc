#include "sandbox/rlimits.h"

#include <cerrno>
#include <string_view>
#include <utility>

namespace sockerless::sandbox {
namespace {

constexpr std::pair<std::string_view, int> kNames[] = {
    {"as", RLIMIT_AS},           {"core", RLIMIT_CORE},         {"cpu", RLIMIT_CPU},
    {"data", RLIMIT_DATA},       {"fsize", RLIMIT_FSIZE},       {"locks", RLIMIT_LOCKS},
    {"memlock", RLIMIT_MEMLOCK}, {"msgqueue", RLIMIT_MSGQUEUE}, {"nice", RLIMIT_NICE},
    {"nofile", RLIMIT_NOFILE},   {"nproc", RLIMIT_NPROC},       {"rss", RLIMIT_RSS},
    {"rtprio", RLIMIT_RTPRIO},   {"rttime", RLIMIT_RTTIME},     {"sigpending", RLIMIT_SIGPENDING},
    {"stack", RLIMIT_STACK},
};

rlim_t to_rlim(std::int64_t v) {
  return v < 0 ? RLIM_INFINITY : static_cast<rlim_t>(v);
}

}  // namespace

std::vector<Rlimit> parse_rlimits(const std::vector<Ulimit>& ulimits) {
  std::vector<Rlimit> out;
  for (const auto& u : ulimits) {
    int resource = -1;
    for (const auto& [name, number] : kNames)
      if (name == u.name) resource = number;
    if (resource < 0) throw SandboxError("rlimits", "invalid ulimit type: " + u.name);
    rlimit limit{to_rlim(u.soft), to_rlim(u.hard)};
    if (limit.rlim_cur > limit.rlim_max)
      throw SandboxError("rlimits",
                         "ulimit soft limit must be less than or equal to hard limit: " + u.name);
    out.push_back({resource, limit});
  }
  return out;
}

int apply_rlimits(const std::vector<Rlimit>& limits) {
  for (const auto& l : limits)
    if (::setrlimit(l.resource, &l.limit) != 0) return errno;
  return 0;
}

}  // namespace sockerless::sandbox
