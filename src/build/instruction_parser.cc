#include "build/instruction_parser.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <set>

#include "build/go_format.h"
#include "common/errors.h"

namespace sockerless::build {

namespace {

const std::string kNeedsBuildKit =
    " option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ to learn how "
    "to build images with BuildKit enabled";

bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

std::string trim(std::string_view s) {
  std::size_t b = 0, e = s.size();
  while (b < e && is_blank(s[b]))
    ++b;
  while (e > b && is_blank(s[e - 1]))
    --e;
  return std::string(s.substr(b, e - b));
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
  return s;
}

// Whitespace-separated words, no quote handling (FROM, EXPOSE, ADD/COPY shell form).
std::vector<std::string> fields(std::string_view s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_blank(s[i]))
      ++i;
    std::size_t b = i;
    while (i < s.size() && !is_blank(s[i]))
      ++i;
    if (i > b) out.emplace_back(s.substr(b, i - b));
  }
  return out;
}

// Whitespace-separated words that keep their quotes and escapes (ENV, LABEL, ARG, heredoc
// markers): a b="c d" e\ f → a, b="c d", e\ f.
std::vector<std::string> quoted_words(std::string_view s, char escape) {
  std::vector<std::string> out;
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (!quote && is_blank(c)) {
      if (in_word) out.push_back(word), word.clear(), in_word = false;
      continue;
    }
    in_word = true;
    if (c == escape && i + 1 < s.size()) {
      word += c;
      word += s[++i];
      continue;
    }
    if (quote && c == quote)
      quote = 0;
    else if (!quote && (c == '"' || c == '\''))
      quote = c;
    word += c;
  }
  if (in_word) out.push_back(word);
  return out;
}

// A JSON array of strings, or nothing (the caller falls back to the shell form).
std::optional<std::vector<std::string>> json_list(const std::string& rest) {
  if (rest.empty() || rest[0] != '[') return std::nullopt;
  auto parsed = nlohmann::json::parse(rest, nullptr, false);
  if (!parsed.is_array()) return std::nullopt;
  std::vector<std::string> out;
  for (const auto& v : parsed) {
    if (!v.is_string()) return std::nullopt;
    out.push_back(v.get<std::string>());
  }
  return out;
}

enum class FlagType { String, Bool };

// Leading --name[=value] words; "--" ends them. Quotes in a value are removed.
std::map<std::string, std::optional<std::string>> take_flags(std::string& rest) {
  std::map<std::string, std::optional<std::string>> flags;
  std::size_t i = 0;
  while (true) {
    while (i < rest.size() && is_blank(rest[i]))
      ++i;
    if (rest.compare(i, 2, "--") != 0) break;
    std::string word;
    char quote = 0;
    for (; i < rest.size() && (quote || !is_blank(rest[i])); ++i) {
      char c = rest[i];
      if (quote && c == quote)
        quote = 0;
      else if (!quote && (c == '"' || c == '\''))
        quote = c;
      else
        word += c;
    }
    if (word == "--") break;
    auto body = word.substr(2);
    auto eq = body.find('=');
    auto name = lower(body.substr(0, eq));
    if (flags.count(name)) throw InvalidArgument("Duplicate flag specified: " + name);
    flags[name] = eq == std::string::npos ? std::nullopt : std::optional(body.substr(eq + 1));
  }
  rest = trim(std::string_view(rest).substr(i));
  return flags;
}

std::map<std::string, std::string> check_flags(
    const std::map<std::string, std::optional<std::string>>& given,
    const std::map<std::string, FlagType>& allowed) {
  std::map<std::string, std::string> out;
  for (const auto& [name, value] : given) {
    auto it = allowed.find(name);
    if (it == allowed.end()) throw InvalidArgument("unknown flag: " + name);
    if (it->second == FlagType::Bool) {
      std::string v = value ? lower(*value) : "true";
      if (v != "true" && v != "false")
        throw InvalidArgument("expecting boolean value for flag " + name + ", not: " + *value);
      out[name] = v;
    } else {
      if (!value) throw InvalidArgument("Missing a value on flag: " + name);
      out[name] = *value;
    }
  }
  return out;
}

const std::map<std::string, Kind>& kinds() {
  static const std::map<std::string, Kind> table = {
      {"add", Kind::Add},
      {"arg", Kind::Arg},
      {"cmd", Kind::Cmd},
      {"copy", Kind::Copy},
      {"entrypoint", Kind::Entrypoint},
      {"env", Kind::Env},
      {"expose", Kind::Expose},
      {"from", Kind::From},
      {"healthcheck", Kind::Healthcheck},
      {"label", Kind::Label},
      {"maintainer", Kind::Maintainer},
      {"onbuild", Kind::Onbuild},
      {"run", Kind::Run},
      {"shell", Kind::Shell},
      {"stopsignal", Kind::Stopsignal},
      {"user", Kind::User},
      {"volume", Kind::Volume},
      {"workdir", Kind::Workdir},
  };
  return table;
}

// ENV and LABEL: k=v pairs, or the legacy `k value with spaces`.
std::vector<KeyValue> name_values(const std::string& name, const std::string& rest, char escape) {
  auto words = quoted_words(rest, escape);
  if (words.empty()) throw InvalidArgument(name + " requires at least one argument");
  std::vector<KeyValue> out;
  if (words[0].find('=') == std::string::npos) {
    auto space = rest.find_first_of(" \t");
    if (space == std::string::npos) throw InvalidArgument(name + " must have two arguments");
    out.push_back({rest.substr(0, space), trim(std::string_view(rest).substr(space))});
    return out;
  }
  for (const auto& w : words) {
    auto eq = w.find('=');
    if (eq == std::string::npos)
      throw InvalidArgument("Syntax error - can't find = in " + go_quote(w) +
                            ". Must be of the form: name=value");
    if (eq == 0) throw InvalidArgument(name + " names can not be blank");
    out.push_back({w.substr(0, eq), w.substr(eq + 1)});
  }
  return out;
}

// The heredoc markers on a RUN/COPY/ADD line: [n]<<[-]NAME with NAME possibly quoted.
std::vector<Heredoc> heredoc_markers(const std::string& rest, char escape) {
  std::vector<Heredoc> out;
  for (const auto& word : quoted_words(rest, escape)) {
    std::size_t i = 0;
    while (i < word.size() && std::isdigit(static_cast<unsigned char>(word[i])))
      ++i;
    if (word.compare(i, 2, "<<") != 0) continue;
    i += 2;
    Heredoc h;
    h.word = word;
    if (i < word.size() && word[i] == '-') h.chomp = true, ++i;
    std::string raw = word.substr(i);
    if (raw.empty() || raw.find('<') != std::string::npos) continue;
    for (std::size_t k = 0; k < raw.size(); ++k) {
      char c = raw[k];
      if (c == '"' || c == '\'')
        h.expand = false;
      else if (c == escape && k + 1 < raw.size())
        h.expand = false, h.name += raw[++k];
      else
        h.name += c;
    }
    if (!h.name.empty()) out.push_back(std::move(h));
  }
  return out;
}

std::int64_t interval(const std::map<std::string, std::string>& flags, const std::string& name) {
  auto it = flags.find(name);
  if (it == flags.end() || it->second.empty()) return 0;
  auto d = parse_go_duration(it->second);
  if (d < 0) throw InvalidArgument("Interval " + go_quote(name) + " cannot be negative");
  if (d > 0 && d < 1000000)
    throw InvalidArgument("Interval " + go_quote(name) + " cannot be less than 1ms");
  return d;
}

HealthSpec health(const std::map<std::string, std::string>& flags, const std::string& rest) {
  if (rest.empty()) throw InvalidArgument("HEALTHCHECK requires at least one argument");
  auto space = rest.find_first_of(" \t");
  auto type = upper(rest.substr(0, space));
  auto cmd = space == std::string::npos ? "" : trim(std::string_view(rest).substr(space));
  HealthSpec h;
  if (type == "NONE") {
    if (!cmd.empty()) throw InvalidArgument("HEALTHCHECK NONE takes no arguments");
    h.test = {"NONE"};
    return h;
  }
  if (type != "CMD")
    throw InvalidArgument("Unknown type " + go_quote(type) + " in HEALTHCHECK (try CMD)");
  if (cmd.empty()) throw InvalidArgument("Missing command after HEALTHCHECK CMD");
  if (auto argv = json_list(cmd)) {
    h.test = {"CMD"};
    h.test.insert(h.test.end(), argv->begin(), argv->end());
  } else {
    h.test = {"CMD-SHELL", cmd};
  }
  h.interval = interval(flags, "interval");
  h.timeout = interval(flags, "timeout");
  h.start_period = interval(flags, "start-period");
  h.start_interval = interval(flags, "start-interval");
  if (auto it = flags.find("retries"); it != flags.end() && !it->second.empty()) {
    long long retries = 0;
    try {
      std::size_t used = 0;
      retries = std::stoll(it->second, &used);
      if (used != it->second.size()) throw std::invalid_argument("trailing");
    } catch (const std::exception&) {
      throw InvalidArgument("strconv.ParseInt: parsing " + go_quote(it->second) +
                            ": invalid syntax");
    }
    if (retries < 0)
      throw InvalidArgument("--retries cannot be negative (" + std::to_string(retries) + ")");
    h.retries = static_cast<int>(retries);
  }
  return h;
}

void parse_arguments(Instruction& in, const std::string& rest, char escape,
                     const std::map<std::string, std::optional<std::string>>& flags) {
  const auto name = kind_name(in.kind);
  auto no_flags = [&] { in.flags = check_flags(flags, {}); };
  auto exactly_one = [&] {
    no_flags();
    if (rest.empty()) throw InvalidArgument(name + " requires exactly one argument");
    in.args = {rest};
  };
  auto maybe_json = [&] {
    if (auto argv = json_list(rest)) {
      in.json = true;
      in.args = *argv;
    } else {
      in.args = {rest};
    }
  };
  auto maybe_json_list = [&] {
    if (auto list = json_list(rest)) {
      in.json = true;
      in.args = *list;
    } else {
      in.args = fields(rest);
    }
  };
  switch (in.kind) {
    case Kind::From: {
      in.flags = check_flags(flags, {{"platform", FlagType::String}});
      auto words = fields(rest);
      if (words.size() != 1 && !(words.size() == 3 && lower(words[1]) == "as"))
        throw InvalidArgument("FROM requires either one or three arguments");
      in.args = {words[0]};
      if (words.size() == 3) {
        in.stage_name = lower(words[2]);
        const auto& n = in.stage_name;
        bool ok = std::islower(static_cast<unsigned char>(n[0])) &&
                  std::all_of(n.begin(), n.end(), [](unsigned char c) {
                    return std::islower(c) || std::isdigit(c) || c == '-' || c == '_' || c == '.';
                  });
        if (!ok)
          throw InvalidArgument("invalid name for build stage: " + go_quote(words[2]) +
                                ", name can't start with a number or contain symbols");
      }
      break;
    }
    case Kind::Arg: {
      no_flags();
      auto words = quoted_words(rest, escape);
      if (words.empty()) throw InvalidArgument("ARG requires at least one argument");
      for (const auto& w : words) {
        auto eq = w.find('=');
        if (eq == 0) throw InvalidArgument("ARG names can not be blank");
        if (eq == std::string::npos)
          in.pairs.push_back({w, std::nullopt});
        else
          in.pairs.push_back({w.substr(0, eq), w.substr(eq + 1)});
      }
      break;
    }
    case Kind::Env:
    case Kind::Label:
      no_flags();
      in.pairs = name_values(name, rest, escape);
      break;
    case Kind::Expose:
      no_flags();
      in.args = fields(rest);
      if (in.args.empty()) throw InvalidArgument("EXPOSE requires at least one argument");
      break;
    case Kind::User:
    case Kind::Workdir:
    case Kind::Stopsignal:
    case Kind::Maintainer:
      exactly_one();
      break;
    case Kind::Volume:
      no_flags();
      maybe_json_list();
      if (in.args.empty()) throw InvalidArgument("VOLUME requires at least one argument");
      break;
    case Kind::Add:
    case Kind::Copy: {
      if (in.kind == Kind::Copy)
        in.flags = check_flags(flags, {{"from", FlagType::String},
                                       {"chown", FlagType::String},
                                       {"chmod", FlagType::String},
                                       {"link", FlagType::Bool},
                                       {"parents", FlagType::Bool},
                                       {"exclude", FlagType::String}});
      else
        in.flags = check_flags(flags, {{"chown", FlagType::String},
                                       {"chmod", FlagType::String},
                                       {"link", FlagType::Bool},
                                       {"keep-git-dir", FlagType::Bool},
                                       {"checksum", FlagType::String},
                                       {"exclude", FlagType::String}});
      maybe_json_list();
      if (in.args.empty()) throw InvalidArgument(name + " requires at least two arguments");
      if (in.args.size() == 1)
        throw InvalidArgument(name +
                              " requires at least two arguments, but only one was provided. "
                              "Destination could not be determined.");
      break;
    }
    case Kind::Run:
      for (const auto& [flag, value] : flags) {
        if (flag == "mount" || flag == "network" || flag == "security")
          throw InvalidArgument("the --" + flag + kNeedsBuildKit);
        throw InvalidArgument("unknown flag: " + flag);
      }
      if (rest.empty()) throw InvalidArgument("RUN requires at least one argument");
      maybe_json();
      break;
    case Kind::Cmd:
    case Kind::Entrypoint:
      no_flags();
      maybe_json();
      break;
    case Kind::Shell:
      no_flags();
      if (rest.empty()) throw InvalidArgument("SHELL requires at least one argument");
      if (auto argv = json_list(rest)) {
        in.json = true;
        in.args = *argv;
      } else {
        throw InvalidArgument("SHELL requires the arguments to be in JSON form");
      }
      if (in.args.empty()) throw InvalidArgument("SHELL requires at least one argument");
      break;
    case Kind::Healthcheck:
      in.flags = check_flags(flags, {{"interval", FlagType::String},
                                     {"timeout", FlagType::String},
                                     {"start-period", FlagType::String},
                                     {"start-interval", FlagType::String},
                                     {"retries", FlagType::String}});
      in.health = health(in.flags, rest);
      break;
    case Kind::Onbuild: {
      if (rest.empty()) throw InvalidArgument("ONBUILD requires at least one argument");
      auto trigger = upper(fields(rest)[0]);
      if (trigger == "ONBUILD")
        throw InvalidArgument("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
      if (trigger == "FROM" || trigger == "MAINTAINER")
        throw InvalidArgument(trigger + " isn't allowed as an ONBUILD trigger");
      parse_instruction(rest, in.line, escape);  // the trigger must itself be valid
      in.args = {rest};
      break;
    }
  }
}

}  // namespace

std::string kind_name(Kind kind) {
  for (const auto& [name, k] : kinds())
    if (k == kind) return upper(name);
  return "";
}

Instruction parse_instruction(const std::string& line, int line_no, char escape) {
  Instruction in;
  in.original = trim(line);
  in.line = line_no;
  auto space = in.original.find_first_of(" \t");
  in.keyword = in.original.substr(0, space);
  auto it = kinds().find(lower(in.keyword));
  if (it == kinds().end()) throw InvalidArgument("unknown instruction: " + upper(in.keyword));
  in.kind = it->second;
  std::string rest = space == std::string::npos ? "" : trim(in.original.substr(space));
  // ONBUILD keeps its trigger verbatim, flags and all.
  auto flags = in.kind == Kind::Onbuild ? decltype(take_flags(rest)){} : take_flags(rest);
  parse_arguments(in, rest, escape, flags);
  bool heredoc_kind = in.kind == Kind::Run || in.kind == Kind::Copy || in.kind == Kind::Add;
  if (heredoc_kind && !in.json) in.heredocs = heredoc_markers(rest, escape);
  return in;
}

}  // namespace sockerless::build
