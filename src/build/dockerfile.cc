#include "build/dockerfile.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "build/go_format.h"
#include "build/instruction_parser.h"
#include "common/errors.h"

namespace sockerless::build {

namespace {

std::vector<std::string> split_lines(std::string_view text) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    auto nl = text.find('\n', start);
    auto end = nl == std::string_view::npos ? text.size() : nl;
    std::string line(text.substr(start, end - start));
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
    start = end + 1;
  }
  return lines;
}

std::string_view trim_left(std::string_view s) {
  while (!s.empty() && (s[0] == ' ' || s[0] == '\t'))
    s.remove_prefix(1);
  return s;
}

bool is_comment(std::string_view line) {
  auto t = trim_left(line);
  return !t.empty() && t[0] == '#';
}

// Strips a trailing escape (and blanks after it); returns whether the line ends the
// instruction.
bool trim_continuation(std::string& line, char escape) {
  auto last = line.find_last_not_of(" \t");
  if (last == std::string::npos || line[last] != escape) return true;
  line.erase(last);
  return false;
}

// Parser directives: only at the very top, before any comment, blank line or instruction.
class Directives {
 public:
  // True when `line` was a directive (and so consumed).
  bool take(const std::string& line, int line_no) {
    if (done_) return false;
    auto t = trim_left(line);
    if (t.empty() || t[0] != '#') return finish();
    t.remove_prefix(1);
    t = trim_left(t);
    std::size_t i = 0;
    while (i < t.size() && std::isalnum(static_cast<unsigned char>(t[i])))
      ++i;
    if (i == 0 || !std::isalpha(static_cast<unsigned char>(t[0]))) return finish();
    std::string key(t.substr(0, i));
    std::transform(key.begin(), key.end(), key.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    auto after = trim_left(t.substr(i));
    if (after.empty() || after[0] != '=') return finish();
    std::string value(trim_left(after.substr(1)));
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
      value.pop_back();
    if (value.empty() || (key != "escape" && key != "syntax" && key != "check")) return finish();
    if (!seen_.insert(key).second)
      throw InvalidArgument("Dockerfile parse error line " + std::to_string(line_no) +
                            ": only one " + key + " parser directive can be used");
    if (key == "escape") {
      if (value != "\\" && value != "`")
        throw InvalidArgument("Dockerfile parse error line " + std::to_string(line_no) +
                              ": invalid escape token '" + value + "' does not match ` or \\");
      escape_ = value[0];
    } else if (key == "syntax") {
      syntax_ = value;
    }
    return true;
  }
  void stop() { done_ = true; }
  char escape() const { return escape_; }
  const std::string& syntax() const { return syntax_; }

 private:
  bool finish() {
    done_ = true;
    return false;
  }
  bool done_ = false;
  char escape_ = '\\';
  std::string syntax_;
  std::set<std::string> seen_;
};

struct Parsed {
  std::vector<Instruction> instructions;
  std::vector<std::string> warnings;
  char escape = '\\';
  std::string syntax;
};

InvalidArgument located(int line, const std::string& message) {
  return InvalidArgument("Dockerfile parse error line " + std::to_string(line) + ": " + message);
}

// Reads each heredoc body in turn from lines[next…], advancing next past its terminator.
void read_heredocs(Instruction& in, const std::vector<std::string>& lines, std::size_t& next) {
  for (auto& h : in.heredocs) {
    bool terminated = false;
    while (next < lines.size()) {
      std::string line = lines[next++];
      if (h.chomp)
        line.erase(0, line.find_first_not_of('\t') == std::string::npos
                          ? line.size()
                          : line.find_first_not_of('\t'));
      if (line == h.name) {
        terminated = true;
        break;
      }
      h.content += line + "\n";
    }
    if (!terminated) throw located(in.line, "unterminated heredoc " + go_quote(h.name));
  }
}

Parsed parse_lines(std::string_view text, std::optional<char> fixed_escape) {
  Parsed out;
  Directives directives;
  if (fixed_escape) directives.stop();
  auto lines = split_lines(text);
  std::size_t next = 0;
  while (next < lines.size()) {
    int line_no = static_cast<int>(next) + 1;
    const std::string& raw = lines[next++];
    if (directives.take(raw, line_no)) continue;
    char escape = fixed_escape.value_or(directives.escape());
    if (is_comment(raw)) continue;
    std::string line(trim_left(raw));
    bool ended = trim_continuation(line, escape);
    if (ended && line.find_first_not_of(" \t") == std::string::npos) continue;
    bool empty_continuation = false;
    while (!ended && next < lines.size()) {
      std::string more = lines[next++];
      if (is_comment(more)) continue;
      if (trim_left(more).empty()) {
        empty_continuation = true;
        continue;
      }
      ended = trim_continuation(more, escape);
      line += more;
    }
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    Instruction in;
    try {
      in = parse_instruction(line, line_no, escape);
    } catch (const InvalidArgument& e) {
      throw located(line_no, e.what());
    }
    if (empty_continuation)
      out.warnings.push_back("[WARNING]: Empty continuation line found in:\n    " + in.original);
    read_heredocs(in, lines, next);
    out.instructions.push_back(std::move(in));
  }
  out.escape = fixed_escape.value_or(directives.escape());
  out.syntax = directives.syntax();
  return out;
}

}  // namespace

std::vector<Instruction> parse_instructions(std::string_view text, char escape) {
  return parse_lines(text, escape).instructions;
}

Dockerfile parse_dockerfile(std::string_view text, const std::string& name) {
  auto parsed = parse_lines(text, std::nullopt);
  Dockerfile df;
  df.escape = parsed.escape;
  df.syntax = parsed.syntax;
  df.warnings = std::move(parsed.warnings);
  if (parsed.instructions.empty())
    throw InvalidArgument("the Dockerfile (" + name + ") cannot be empty");
  std::set<std::string> names;
  for (auto& in : parsed.instructions) {
    if (in.kind == Kind::From) {
      Stage stage;
      stage.index = df.stages.size();
      stage.name = in.stage_name;
      if (!stage.name.empty() && !names.insert(stage.name).second)
        throw located(in.line, "duplicate stage name " + go_quote(stage.name));
      stage.from = std::move(in);
      df.stages.push_back(std::move(stage));
    } else if (df.stages.empty()) {
      if (in.kind != Kind::Arg) throw located(in.line, "no build stage in current context");
      df.meta_args.push_back(std::move(in));
    } else {
      df.stages.back().commands.push_back(std::move(in));
    }
  }
  return df;
}

}  // namespace sockerless::build
