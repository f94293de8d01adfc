#include "build/expand.h"

#include <cctype>

#include "build/glob.h"
#include "common/errors.h"

namespace sockerless::build {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// Words being built: characters from unquoted text or unquoted expansions split on
// whitespace; quoted characters never do.
class Words {
 public:
  void add(char c) {
    if (is_space(c))
      flush();
    else
      add_raw(c);
  }
  void add_raw(char c) {
    current_ += c;
    in_word_ = true;
  }
  void add(const std::string& s) {
    for (char c : s)
      add(c);
  }
  void add_raw(const std::string& s) {
    for (char c : s)
      add_raw(c);
  }
  void mark_word() { in_word_ = true; }  // "" is a word of its own
  void flush() {
    if (in_word_) words_.push_back(current_);
    current_.clear();
    in_word_ = false;
  }
  std::vector<std::string> finish() {
    flush();
    return std::move(words_);
  }
  std::string joined() const { return current_; }

 private:
  std::vector<std::string> words_;
  std::string current_;
  bool in_word_ = false;
};

class Lexer {
 public:
  Lexer(std::string_view input, const Vars& vars, char escape)
      : in_(input), vars_(vars), escape_(escape) {}

  // Processes until `stop` (not consumed) or the end. Every character goes to `out` raw
  // when `split` is false.
  void process(Words& out, bool split, char stop = 0) {
    while (pos_ < in_.size()) {
      char c = in_[pos_];
      if (stop && c == stop) return;
      ++pos_;
      if (c == escape_) {
        if (pos_ < in_.size()) out.add_raw(in_[pos_++]);
      } else if (c == '\'') {
        out.mark_word();
        single_quoted(out);
      } else if (c == '"') {
        out.mark_word();
        double_quoted(out);
      } else if (c == '$') {
        auto value = dollar();
        if (split)
          out.add(value);
        else
          out.add_raw(value);
      } else if (split) {
        out.add(c);
      } else {
        out.add_raw(c);
      }
    }
    if (stop)
      throw InvalidArgument(std::string("unexpected end of statement while looking for matching ") +
                            stop);
  }

  void heredoc(Words& out) {
    while (pos_ < in_.size()) {
      char c = in_[pos_++];
      if (c == '$') {
        out.add_raw(dollar());
        continue;
      }
      if (c == escape_ && pos_ < in_.size() && (in_[pos_] == '$' || in_[pos_] == escape_))
        c = in_[pos_++];
      out.add_raw(c);
    }
  }

 private:
  void single_quoted(Words& out) {
    while (pos_ < in_.size()) {
      char c = in_[pos_++];
      if (c == '\'') return;
      out.add_raw(c);
    }
    throw InvalidArgument("unexpected end of statement while looking for matching single-quote");
  }

  void double_quoted(Words& out) {
    while (pos_ < in_.size()) {
      char c = in_[pos_++];
      if (c == '"') return;
      if (c == '$') {
        out.add_raw(dollar());
        continue;
      }
      if (c == escape_ && pos_ < in_.size()) {
        char next = in_[pos_];
        if (next == '"' || next == '$' || next == escape_) c = in_[pos_++];
      }
      out.add_raw(c);
    }
    throw InvalidArgument("unexpected end of statement while looking for matching double-quote");
  }

  std::string name() {
    std::string n;
    if (pos_ < in_.size() && std::isdigit(static_cast<unsigned char>(in_[pos_]))) {
      while (pos_ < in_.size() && std::isdigit(static_cast<unsigned char>(in_[pos_])))
        n += in_[pos_++];
      return n;
    }
    if (pos_ < in_.size() && std::string_view("@*#?-$!").find(in_[pos_]) != std::string::npos)
      return std::string(1, in_[pos_++]);
    while (pos_ < in_.size() &&
           (std::isalnum(static_cast<unsigned char>(in_[pos_])) || in_[pos_] == '_'))
      n += in_[pos_++];
    return n;
  }

  const std::string* lookup(const std::string& n) const {
    auto it = vars_.find(n);
    return it == vars_.end() ? nullptr : &it->second;
  }

  // After '$': the expansion's value.
  std::string dollar() {
    if (pos_ < in_.size() && in_[pos_] == '{') {
      ++pos_;
      return braced();
    }
    auto n = name();
    if (n.empty()) return "$";
    auto* v = lookup(n);
    return v ? *v : "";
  }

  // The word of ${name<op>word}, expanded, up to the closing brace (consumed).
  std::string brace_word() {
    Words w;
    process(w, false, '}');
    ++pos_;
    return w.joined();
  }

  std::string braced() {
    auto n = name();
    if (n.empty()) throw InvalidArgument("bad substitution");
    if (pos_ >= in_.size())
      throw InvalidArgument("unexpected end of statement while looking for matching }");
    const std::string* v = lookup(n);
    std::string value = v ? *v : "";
    char op = in_[pos_++];
    if (op == '}') return value;
    bool colon = op == ':';
    if (colon) {
      if (pos_ >= in_.size()) throw InvalidArgument("bad substitution");
      op = in_[pos_++];
    }
    bool missing = !v || (colon && value.empty());
    switch (op) {
      case '-': {
        auto word = brace_word();
        return missing ? word : value;
      }
      case '+': {
        auto word = brace_word();
        return missing ? "" : word;
      }
      case '?': {
        auto word = brace_word();
        if (!missing) return value;
        if (word.empty()) word = !v ? "is not allowed to be unset" : "is not allowed to be empty";
        throw InvalidArgument(n + ": " + word);
      }
      case '#':
      case '%':
        if (!colon) return trim_pattern(op, value);
        break;
      default:
        break;
    }
    throw InvalidArgument(std::string("unsupported modifier (") + op + ") in substitution");
  }

  // ${v#p} ${v##p}: shortest/longest prefix removed; ${v%p} ${v%%p}: suffix.
  std::string trim_pattern(char op, const std::string& value) {
    bool longest = pos_ < in_.size() && in_[pos_] == op;
    if (longest) ++pos_;
    auto pattern = brace_word();
    GlobRules rules{false, escape_};
    std::size_t n = value.size();
    for (std::size_t k = 0; k <= n; ++k) {
      std::size_t len = longest ? n - k : k;
      bool hit = op == '#' ? glob_match(pattern, std::string_view(value).substr(0, len), rules)
                           : glob_match(pattern, std::string_view(value).substr(n - len), rules);
      if (hit) return op == '#' ? value.substr(len) : value.substr(0, n - len);
    }
    return value;
  }

  std::string_view in_;
  const Vars& vars_;
  char escape_;
  std::size_t pos_ = 0;
};

}  // namespace

Vars vars_from_env(const std::vector<std::string>& env) {
  Vars vars;
  for (const auto& e : env) {
    auto eq = e.find('=');
    if (eq == std::string::npos)
      vars[e] = "";
    else
      vars[e.substr(0, eq)] = e.substr(eq + 1);
  }
  return vars;
}

std::string expand_word(std::string_view word, const Vars& vars, char escape) {
  Words out;
  Lexer(word, vars, escape).process(out, false);
  return out.joined();
}

std::vector<std::string> expand_words(std::string_view word, const Vars& vars, char escape) {
  Words out;
  Lexer(word, vars, escape).process(out, true);
  return out.finish();
}

std::string expand_heredoc(std::string_view body, const Vars& vars, char escape) {
  Words out;
  Lexer(body, vars, escape).heredoc(out);
  return out.joined();
}

}  // namespace sockerless::build
