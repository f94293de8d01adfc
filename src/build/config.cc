#include "build/config.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "build/go_format.h"
#include "common/errors.h"

namespace sockerless::build {

using nlohmann::json;

namespace {

const std::vector<std::string> kDefaultShell = {"/bin/sh", "-c"};

std::vector<std::string> strings(const json& value) {
  std::vector<std::string> out;
  if (value.is_array())
    for (const auto& v : value)
      if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}

json& object_field(json& config, const char* key) {
  if (!config.contains(key) || !config[key].is_object()) config[key] = json::object();
  return config[key];
}

std::vector<std::string> resolve_command(const StageState& state, const Instruction& in) {
  if (in.json) return in.args;
  auto argv = state.shell();
  argv.push_back(in.args.empty() ? "" : in.args[0]);
  return argv;
}

bool all_digits(std::string_view s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

void check_signal(const std::string& raw) {
  static const std::set<std::string> names = {
      "ABRT", "ALRM",   "BUS",  "CHLD",   "CLD",   "CONT", "FPE",  "HUP",   "ILL",
      "INT",  "IO",     "IOT",  "KILL",   "PIPE",  "POLL", "PROF", "PWR",   "QUIT",
      "SEGV", "STKFLT", "STOP", "SYS",    "TERM",  "TRAP", "TSTP", "TTIN",  "TTOU",
      "URG",  "USR1",   "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ", "RTMIN", "RTMAX"};
  auto invalid = InvalidArgument("Invalid signal: " + raw);
  if (all_digits(raw)) {
    if (raw.size() > 3 || std::stoi(raw) == 0) throw invalid;
    return;
  }
  std::string name = raw;
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return std::toupper(c); });
  if (name.rfind("SIG", 0) == 0) name.erase(0, 3);
  auto offset = name.find_first_of("+-");
  if (offset != std::string::npos) {
    auto base = name.substr(0, offset);
    if ((base != "RTMIN" && base != "RTMAX") || !all_digits(name.substr(offset + 1))) throw invalid;
    return;
  }
  if (!names.count(name)) throw invalid;
}

// "80", "80/udp", "8000-8010/tcp", "1.2.3.4:8080:80" → "port/proto" keys.
std::vector<std::string> port_keys(const std::string& spec) {
  std::string port = spec, proto = "tcp";
  if (auto slash = port.rfind('/'); slash != std::string::npos) {
    proto = port.substr(slash + 1);
    port.erase(slash);
  }
  std::transform(proto.begin(), proto.end(), proto.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (proto != "tcp" && proto != "udp" && proto != "sctp")
    throw InvalidArgument("invalid proto: " + proto);
  if (auto colon = port.rfind(':'); colon != std::string::npos) port.erase(0, colon + 1);
  auto dash = port.find('-');
  auto first = port.substr(0, dash);
  auto last = dash == std::string::npos ? first : port.substr(dash + 1);
  if (!all_digits(first) || !all_digits(last) || first.size() > 5 || last.size() > 5 ||
      std::stoi(first) > 65535 || std::stoi(last) > 65535)
    throw InvalidArgument("invalid containerPort: " + port);
  int lo = std::stoi(first), hi = std::stoi(last);
  if (hi < lo) throw InvalidArgument("invalid range specified for containerPort: " + port);
  std::vector<std::string> keys;
  for (int p = lo; p <= hi; ++p)
    keys.push_back(std::to_string(p) + "/" + proto);
  return keys;
}

// Sets each pair (expanded against the variables as they were before the instruction).
std::string apply_pairs(StageState& state, const Instruction& in) {
  auto vars = state.vars();
  std::string comment = kind_name(in.kind);
  for (const auto& kv : in.pairs) {
    auto key = expand_word(kv.key, vars, state.escape);
    auto value = expand_word(kv.value.value_or(""), vars, state.escape);
    if (key.empty()) throw InvalidArgument(kind_name(in.kind) + " names can not be blank");
    comment += " " + key + "=" + value;
    if (in.kind == Kind::Label) {
      object_field(state.config, "Labels")[key] = value;
      continue;
    }
    json env = json::array();
    for (const auto& e : state.env())
      if (e.substr(0, e.find('=')) != key) env.push_back(e);
    env.push_back(key + "=" + value);
    state.config["Env"] = env;
  }
  return comment;
}

json health_json(const HealthSpec& h) {
  json out = {{"Test", h.test}};
  if (h.interval) out["Interval"] = h.interval;
  if (h.timeout) out["Timeout"] = h.timeout;
  if (h.start_period) out["StartPeriod"] = h.start_period;
  if (h.start_interval) out["StartInterval"] = h.start_interval;
  if (h.retries) out["Retries"] = h.retries;
  return out;
}

// fmt's %q of *container.HealthConfig: &{["CMD-SHELL" "x"] "30s" "0s" "0s" "0s" '\x03'}
std::string health_comment(const HealthSpec& h) {
  return "HEALTHCHECK &{" + go_quote_list(h.test) + " " + go_quote(go_duration(h.interval)) + " " +
         go_quote(go_duration(h.timeout)) + " " + go_quote(go_duration(h.start_period)) + " " +
         go_quote(go_duration(h.start_interval)) + " " + go_quote_rune(h.retries) + "}";
}

}  // namespace

std::vector<std::string> StageState::env() const {
  return config.contains("Env") ? strings(config["Env"]) : std::vector<std::string>{};
}

Vars StageState::vars() const {
  return args.vars(env());
}

std::vector<std::string> StageState::shell() const {
  auto shell = config.contains("Shell") ? strings(config["Shell"]) : std::vector<std::string>{};
  return shell.empty() ? kDefaultShell : shell;
}

std::vector<std::string> nop_cmd(const std::string& comment) {
  return {kDefaultShell[0], kDefaultShell[1], "#(nop) ", comment};
}

std::vector<std::string> nop_cmd_string(const std::string& comment) {
  return {kDefaultShell[0], kDefaultShell[1], "#(nop) " + comment};
}

std::string created_by(const std::vector<std::string>& container_cmd) {
  std::string out;
  for (std::size_t i = 0; i < container_cmd.size(); ++i)
    out += (i ? " " : "") + container_cmd[i];
  return out;
}

std::string join_workdir(const std::string& current, const std::string& requested) {
  if (requested.empty()) throw InvalidArgument("cannot normalize nothing");
  std::string path =
      requested[0] == '/' ? requested : (current.empty() ? "/" : current) + "/" + requested;
  std::vector<std::string> parts;
  std::size_t i = 0;
  while (i <= path.size()) {
    auto slash = path.find('/', i);
    if (slash == std::string::npos) slash = path.size();
    auto part = path.substr(i, slash - i);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    i = slash + 1;
  }
  std::string out;
  for (const auto& p : parts)
    out += "/" + p;
  return out.empty() ? "/" : out;
}

std::vector<std::string> apply_instruction(StageState& state, const Instruction& in) {
  auto& config = state.config;
  auto expand = [&](const std::string& word) {
    return expand_word(word, state.vars(), state.escape);
  };
  switch (in.kind) {
    case Kind::Arg: {
      std::string comment = "ARG ";
      for (std::size_t i = 0; i < in.pairs.size(); ++i) {
        const auto& kv = in.pairs[i];
        std::optional<std::string> value;
        if (kv.value) value = expand(*kv.value);
        comment += (i ? " " : "") + kv.key + (value ? "=" + *value : "");
        state.args.declare(kv.key, value);
      }
      return nop_cmd(comment);
    }
    case Kind::Env:
    case Kind::Label:
      return nop_cmd(apply_pairs(state, in));
    case Kind::Expose: {
      auto vars = state.vars();
      std::vector<std::string> ports;
      for (const auto& raw : in.args)
        for (auto& p : expand_words(raw, vars, state.escape))
          ports.push_back(p);
      auto& exposed = object_field(config, "ExposedPorts");
      for (const auto& p : ports)
        for (const auto& key : port_keys(p))
          exposed[key] = json::object();
      std::string comment = "EXPOSE";
      for (const auto& p : ports)
        comment += " " + p;
      return nop_cmd(comment);
    }
    case Kind::User:
      config["User"] = expand(in.args.at(0));
      return nop_cmd("USER " + config["User"].get<std::string>());
    case Kind::Workdir: {
      std::string current = config.value("WorkingDir", "");
      config["WorkingDir"] = join_workdir(current, expand(in.args.at(0)));
      return nop_cmd_string("WORKDIR " + config["WorkingDir"].get<std::string>());
    }
    case Kind::Volume: {
      std::vector<std::string> volumes;
      auto& vols = object_field(config, "Volumes");
      for (const auto& raw : in.args) {
        auto v = expand(raw);
        auto b = v.find_first_not_of(" \t\r\n"), e = v.find_last_not_of(" \t\r\n");
        v = b == std::string::npos ? "" : v.substr(b, e - b + 1);
        if (v.empty()) throw InvalidArgument("VOLUME specified can not be an empty string");
        vols[v] = json::object();
        volumes.push_back(v);
      }
      return nop_cmd("VOLUME " + go_list(volumes));
    }
    case Kind::Stopsignal: {
      auto sig = expand(in.args.at(0));
      check_signal(sig);
      config["StopSignal"] = sig;
      return nop_cmd("STOPSIGNAL " + sig);
    }
    case Kind::Maintainer:
      state.author = in.args.at(0);
      return nop_cmd("MAINTAINER " + state.author);
    case Kind::Cmd: {
      auto cmd = resolve_command(state, in);
      config["Cmd"] = cmd;
      if (!in.args.empty()) state.cmd_set = true;
      return nop_cmd("CMD " + go_quote_list(cmd));
    }
    case Kind::Entrypoint: {
      auto entrypoint = resolve_command(state, in);
      config["Entrypoint"] = entrypoint;
      if (!state.cmd_set) config["Cmd"] = nullptr;
      return nop_cmd("ENTRYPOINT " + go_quote_list(entrypoint));
    }
    case Kind::Shell:
      config["Shell"] = in.args;
      return nop_cmd("SHELL " + go_list(in.args));
    case Kind::Healthcheck:
      config["Healthcheck"] = health_json(*in.health);
      return nop_cmd(health_comment(*in.health));
    case Kind::Onbuild:
      if (!config.contains("OnBuild") || !config["OnBuild"].is_array())
        config["OnBuild"] = json::array();
      config["OnBuild"].push_back(in.args.at(0));
      return nop_cmd("ONBUILD " + in.args.at(0));
    case Kind::From:
    case Kind::Run:
    case Kind::Copy:
    case Kind::Add:
      break;
  }
  throw InvalidArgument(kind_name(in.kind) + " is not a metadata instruction");
}

RunPlan plan_run(const StageState& state, const Instruction& in) {
  RunPlan plan;
  const auto& command = in.args.empty() ? std::string() : in.args[0];
  auto sole = in.heredocs.size() == 1 && !in.json ? &in.heredocs[0] : nullptr;
  if (sole && command == sole->word) {
    if (sole->content.rfind("#!", 0) == 0) {
      plan.files.push_back({"/dev/pipes/" + sole->name, sole->content, 0755});
      plan.argv = {plan.files[0].path};
    } else {
      plan.argv = state.shell();
      plan.argv.push_back(sole->content);
    }
  } else if (!in.heredocs.empty() && !in.json) {
    std::string script = command;
    for (const auto& h : in.heredocs)
      script += "\n" + h.content + h.name;
    plan.argv = state.shell();
    plan.argv.push_back(script + "\n");
  } else {
    plan.argv = resolve_command(state, in);
  }
  auto env = state.env();
  auto arg_env = state.args.run_env(env);
  plan.env = env;
  plan.env.insert(plan.env.end(), arg_env.begin(), arg_env.end());
  plan.container_cmd = plan.argv;
  if (!arg_env.empty()) {
    auto recorded = state.args.history_env(env);
    std::vector<std::string> prefix = {"|" + std::to_string(recorded.size())};
    prefix.insert(prefix.end(), recorded.begin(), recorded.end());
    plan.container_cmd.insert(plan.container_cmd.begin(), prefix.begin(), prefix.end());
  }
  return plan;
}

CopyPlan plan_copy(const StageState& state, const Instruction& in) {
  if (in.kind != Kind::Copy && in.kind != Kind::Add)
    throw InvalidArgument(kind_name(in.kind) + " is not COPY or ADD");
  auto vars = state.vars();
  auto expand = [&](const std::string& w) { return expand_word(w, vars, state.escape); };
  CopyPlan plan;
  for (std::size_t i = 0; i + 1 < in.args.size(); ++i) {
    auto heredoc = std::find_if(in.heredocs.begin(), in.heredocs.end(),
                                [&](const Heredoc& h) { return h.word == in.args[i]; });
    if (heredoc == in.heredocs.end()) {
      plan.sources.push_back(expand(in.args[i]));
      continue;
    }
    plan.inline_files.push_back(
        {heredoc->name, heredoc->expand ? expand_heredoc(heredoc->content, vars, state.escape)
                                        : heredoc->content});
  }
  plan.dest = expand(in.args.back());
  plan.from = expand(in.flag("from"));
  plan.chown = expand(in.flag("chown"));
  plan.chmod = expand(in.flag("chmod"));
  plan.link = in.flag("link") == "true";
  return plan;
}

std::vector<std::string> copy_container_cmd(Kind kind, const CopyPlan& plan,
                                            const std::string& label) {
  std::string chown = plan.chown.empty() ? "" : "--chown=" + plan.chown;
  return nop_cmd_string(kind_name(kind) + " " + chown + label + " in " + plan.dest + " ");
}

}  // namespace sockerless::build
