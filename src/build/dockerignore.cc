#include "build/dockerignore.h"

#include <algorithm>

#include "build/glob.h"

namespace sockerless::build {

namespace {

std::string trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t\r\n\v\f");
  if (b == std::string_view::npos) return "";
  auto e = s.find_last_not_of(" \t\r\n\v\f");
  return std::string(s.substr(b, e - b + 1));
}

// Relative to the context root: leading "/" dropped after cleaning.
std::string context_path(std::string_view path) {
  auto p = clean_path(path);
  while (p.size() > 1 && p[0] == '/')
    p.erase(0, 1);
  return p;
}

bool matches(const std::string& glob, const std::string& path) {
  return glob_match(glob, path, GlobRules{true, '\\'});
}

}  // namespace

std::string clean_path(std::string_view path) {
  bool rooted = !path.empty() && path[0] == '/';
  std::vector<std::string> parts;
  std::size_t i = 0;
  while (i <= path.size()) {
    auto slash = path.find('/', i);
    if (slash == std::string_view::npos) slash = path.size();
    std::string part(path.substr(i, slash - i));
    if (part == "..") {
      if (!parts.empty() && parts.back() != "..")
        parts.pop_back();
      else if (!rooted)
        parts.push_back(part);
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    i = slash + 1;
  }
  std::string out = rooted ? "/" : "";
  for (std::size_t k = 0; k < parts.size(); ++k)
    out += (k ? "/" : "") + parts[k];
  return out.empty() ? "." : out;
}

std::vector<std::string> parse_dockerignore(std::string_view text) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size();
    auto line = text.substr(start, nl - start);
    start = nl + 1;
    if (!line.empty() && line[0] == '#') continue;
    auto pattern = trim(line);
    if (pattern.empty()) continue;
    bool exception = pattern[0] == '!';
    if (exception) pattern = trim(std::string_view(pattern).substr(1));
    if (!pattern.empty()) {
      pattern = clean_path(pattern);
      if (pattern.size() > 1 && pattern[0] == '/') pattern.erase(0, 1);
    }
    out.push_back(exception ? "!" + pattern : pattern);
  }
  return out;
}

Dockerignore::Dockerignore(std::vector<std::string> patterns, const std::string& dockerfile)
    : Dockerignore(std::move(patterns), dockerfile, true) {}

Dockerignore::Dockerignore(std::vector<std::string> patterns, const std::string& dockerfile,
                           bool keep_build_files)
    : patterns_(std::move(patterns)) {
  for (const auto& p : patterns_) {
    Pattern c;
    c.exception = !p.empty() && p[0] == '!';
    c.glob = c.exception ? p.substr(1) : p;
    if (c.glob.empty()) continue;  // "!" alone re-includes nothing
    compiled_.push_back(std::move(c));
  }
  if (!keep_build_files) return;
  if (excluded(".dockerignore")) compiled_.push_back({".dockerignore", true});
  auto df = context_path(dockerfile);
  if (excluded(df)) compiled_.push_back({df, true});
}

std::vector<std::string> build_files_to_remove(const std::vector<std::string>& patterns,
                                               const std::string& dockerfile) {
  Dockerignore plain(patterns, "", false);
  std::vector<std::string> out;
  for (auto path : {std::string(".dockerignore"), context_path(dockerfile)})
    if (plain.excluded(path) && std::find(out.begin(), out.end(), path) == out.end())
      out.push_back(path);
  return out;
}

bool Dockerignore::excluded(std::string_view raw) const {
  auto path = context_path(raw);
  if (path == "." || path == "/") return false;
  // The path's ancestors: "a", "a/b" for "a/b/c".
  std::vector<std::string> parents;
  for (auto slash = path.find('/'); slash != std::string::npos; slash = path.find('/', slash + 1))
    parents.push_back(path.substr(0, slash));
  bool excluded = false;
  for (const auto& p : compiled_) {
    // An exclusion cannot change an excluded path, nor an exception an included one.
    if (p.exception != excluded) continue;
    bool hit = matches(p.glob, path);
    for (std::size_t i = 0; !hit && i < parents.size(); ++i)
      hit = matches(p.glob, parents[i]);
    if (hit) excluded = !p.exception;
  }
  return excluded;
}

bool Dockerignore::must_descend(std::string_view raw) const {
  auto dir = context_path(raw) + "/";
  for (const auto& p : compiled_) {
    if (!p.exception) continue;
    // Walk the pattern's segments against the directory's: a wildcard segment (or "**")
    // may match, so stop there and descend.
    const auto& g = p.glob;
    auto wild = g.find_first_of("*?[\\");
    auto literal = g.substr(0, wild);
    if ((literal + "/").rfind(dir, 0) == 0) return true;  // pattern is beneath dir
    if (wild != std::string::npos && dir.rfind(literal, 0) == 0) return true;
  }
  return false;
}

}  // namespace sockerless::build
