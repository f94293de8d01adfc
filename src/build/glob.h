// Glob matching shared by .dockerignore patterns and ${var#pattern} substitutions.
#pragma once

#include <string_view>

namespace sockerless::build {

struct GlobRules {
  // Path globs (.dockerignore, Go's filepath.Match): * and ? never match '/', and "**"
  // matches any number of whole path segments. Otherwise (shell word patterns) * and ?
  // match any character.
  bool path = false;
  char escape = '\\';
};

// Whole-string match of `text` against `pattern`: * ? [abc] [a-z] [^a] [!a] and
// escape-quoted characters. A malformed class matches nothing.
bool glob_match(std::string_view pattern, std::string_view text, GlobRules rules = {});

}  // namespace sockerless::build
