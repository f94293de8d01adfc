#include "http/router.h"

namespace sockerless::http {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  while (true) {
    auto slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

namespace {

bool is_param(std::string_view seg) {
  return seg.size() > 2 && seg.front() == '{' && seg.back() == '}';
}
bool is_greedy(std::string_view seg) {
  return is_param(seg) && seg[seg.size() - 2] == '*';
}
std::string param_name(std::string_view seg) {
  seg = seg.substr(1, seg.size() - 2);
  if (!seg.empty() && seg.back() == '*') seg.remove_suffix(1);
  return std::string(seg);
}

bool match_from(const std::vector<std::string>& pat, std::size_t pi,
                const std::vector<std::string_view>& segs, std::size_t si,
                std::map<std::string, std::string>& params) {
  if (pi == pat.size()) return si == segs.size();
  if (si == segs.size()) return false;
  const std::string& p = pat[pi];
  if (is_greedy(p)) {
    // Longest first, as a greedy ".*" would.
    for (std::size_t end = segs.size(); end > si; --end) {
      std::map<std::string, std::string> trial = params;
      if (match_from(pat, pi + 1, segs, end, trial)) {
        std::string value;
        for (std::size_t k = si; k < end; ++k) {
          if (k > si) value += '/';
          value += segs[k];
        }
        if (value.empty()) return false;
        trial[param_name(p)] = std::move(value);
        params = std::move(trial);
        return true;
      }
    }
    return false;
  }
  if (is_param(p)) {
    if (segs[si].empty()) return false;
    params[param_name(p)] = std::string(segs[si]);
    return match_from(pat, pi + 1, segs, si + 1, params);
  }
  if (p != segs[si]) return false;
  return match_from(pat, pi + 1, segs, si + 1, params);
}

}  // namespace

void Router::add(std::string method, std::string pattern, RouteTarget target) {
  Compiled c{Route{std::move(method), std::move(pattern), std::move(target)}, {}};
  for (auto seg : split_path(c.route.pattern))
    c.segments.emplace_back(seg);
  routes_.push_back(c.route);
  compiled_.push_back(std::move(c));
}

RouteMatch Router::match(std::string_view method, std::string_view path) const {
  RouteMatch result;
  auto segs = split_path(path);
  for (const auto& c : compiled_) {
    std::map<std::string, std::string> params;
    if (!match_from(c.segments, 0, segs, 0, params)) continue;
    if (c.route.method != method) {
      result.path_known = true;
      continue;
    }
    result.route = &c.route;
    result.params = std::move(params);
    return result;
  }
  return result;
}

}  // namespace sockerless::http
