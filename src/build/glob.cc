#include "build/glob.h"

namespace sockerless::build {

namespace {

class Matcher {
 public:
  Matcher(std::string_view pattern, GlobRules rules) : p_(pattern), rules_(rules) {}

  bool match(std::size_t pi, std::string_view text) const {
    std::size_t ti = 0;
    while (pi < p_.size()) {
      char c = p_[pi];
      if (c == '*') {
        if (rules_.path && pi + 1 < p_.size() && p_[pi + 1] == '*')
          return double_star(pi, text, ti);
        ++pi;
        // Any run of characters (not crossing '/' for paths), shortest first.
        for (std::size_t end = ti;; ++end) {
          if (match(pi, text.substr(end))) return true;
          if (end >= text.size() || (rules_.path && text[end] == '/')) return false;
        }
      }
      if (ti >= text.size()) return false;
      if (c == '?') {
        if (rules_.path && text[ti] == '/') return false;
        ++pi, ++ti;
      } else if (c == '[') {
        auto next = match_class(pi, text[ti]);
        if (next == 0) return false;
        pi = next, ++ti;
      } else {
        if (c == rules_.escape && pi + 1 < p_.size()) c = p_[++pi];
        if (text[ti] != c) return false;
        ++pi, ++ti;
      }
    }
    return ti == text.size();
  }

 private:
  // "**" eats a following '/'; at the end it matches everything left, elsewhere any
  // number of leading path segments (including none).
  bool double_star(std::size_t pi, std::string_view text, std::size_t ti) const {
    pi += 2;
    if (pi < p_.size() && p_[pi] == '/') ++pi;
    if (pi >= p_.size()) return true;
    auto rest = text.substr(ti);
    if (match(pi, rest)) return true;
    for (std::size_t i = 0; i < rest.size(); ++i)
      if (rest[i] == '/' && match(pi, rest.substr(i + 1))) return true;
    return false;
  }

  // Returns the index after the class when `ch` is in it, else 0.
  std::size_t match_class(std::size_t pi, char ch) const {
    std::size_t i = pi + 1;
    bool negate = i < p_.size() && (p_[i] == '^' || p_[i] == '!');
    if (negate) ++i;
    bool found = false;
    bool first = true;
    while (i < p_.size() && (p_[i] != ']' || first)) {
      first = false;
      char lo = p_[i];
      if (lo == rules_.escape && i + 1 < p_.size()) lo = p_[++i];
      ++i;
      char hi = lo;
      if (i + 1 < p_.size() && p_[i] == '-' && p_[i + 1] != ']') {
        hi = p_[i + 1];
        if (hi == rules_.escape && i + 2 < p_.size()) hi = p_[++i + 1];
        i += 2;
      }
      if (lo <= ch && ch <= hi) found = true;
    }
    if (i >= p_.size()) return 0;  // unterminated class
    if (rules_.path && ch == '/') return 0;
    return found != negate ? i + 1 : 0;
  }

  std::string_view p_;
  GlobRules rules_;
};

}  // namespace

bool glob_match(std::string_view pattern, std::string_view text, GlobRules rules) {
  return Matcher(pattern, rules).match(0, text);
}

}  // namespace sockerless::build
