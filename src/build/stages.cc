#include "build/stages.h"

#include <algorithm>
#include <cctype>

#include "build/go_format.h"
#include "common/errors.h"

namespace sockerless::build {

namespace {

const std::set<std::string> kBuiltinArgs = {
    "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY",
    "ftp_proxy",  "NO_PROXY",   "no_proxy",    "ALL_PROXY",   "all_proxy",
};

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::set<std::string> env_names(const std::vector<std::string>& env) {
  std::set<std::string> names;
  for (const auto& e : env)
    names.insert(e.substr(0, e.find('=')));
  return names;
}

}  // namespace

bool is_builtin_build_arg(const std::string& name) {
  return kBuiltinArgs.count(name) > 0;
}

BuildArgs::BuildArgs(std::map<std::string, std::optional<std::string>> options, Platform target,
                     Platform build)
    : options_(std::move(options)) {
  meta_["TARGETPLATFORM"] = target.str();
  meta_["TARGETOS"] = target.os;
  meta_["TARGETARCH"] = target.arch;
  meta_["TARGETVARIANT"] = target.variant;
  meta_["BUILDPLATFORM"] = build.str();
  meta_["BUILDOS"] = build.os;
  meta_["BUILDARCH"] = build.arch;
  meta_["BUILDVARIANT"] = build.variant;
}

void BuildArgs::declare_meta(const Instruction& arg, char escape) {
  for (const auto& kv : arg.pairs) {
    std::optional<std::string> value;
    if (kv.value) value = expand_word(*kv.value, meta_vars(), escape);
    meta_[kv.key] = value;
    consumed_.insert(kv.key);
  }
}

std::optional<std::string> BuildArgs::option(const std::string& name) const {
  auto it = options_.find(name);
  return it == options_.end() ? std::nullopt : it->second;
}

std::optional<std::string> BuildArgs::meta_value(const std::string& name) const {
  auto it = meta_.find(name);
  if (it == meta_.end()) return std::nullopt;
  if (auto o = option(name)) return o;
  return it->second;
}

Vars BuildArgs::meta_vars() const {
  Vars vars;
  for (const auto& [name, _] : meta_)
    if (auto v = meta_value(name)) vars[name] = *v;
  return vars;
}

std::vector<std::string> BuildArgs::unconsumed() const {
  std::vector<std::string> out;
  for (const auto& [name, _] : options_)
    if (!consumed_.count(name) && !is_builtin_build_arg(name)) out.push_back(name);
  return out;  // std::map iteration: already sorted
}

std::string BuildArgs::unconsumed_warning() const {
  auto names = unconsumed();
  if (names.empty()) return "";
  return "[Warning] One or more build-args " + go_list(names) + " were not consumed";
}

void StageArgs::declare(const std::string& name, std::optional<std::string> default_value) {
  declared_[name] = std::move(default_value);
  build_->mark_consumed(name);
}

std::optional<std::string> StageArgs::value(const std::string& name) const {
  if (auto o = build_->option(name)) return o;
  auto it = declared_.find(name);
  if (it != declared_.end() && it->second) return it->second;
  return build_->meta_value(name);
}

std::vector<std::string> StageArgs::run_env(const std::vector<std::string>& env) const {
  auto set_by_env = env_names(env);
  std::set<std::string> names;
  for (const auto& [name, _] : declared_)
    names.insert(name);
  for (const auto& name : kBuiltinArgs)
    if (build_->option(name)) names.insert(name);
  std::vector<std::string> out;
  for (const auto& name : names) {
    if (set_by_env.count(name)) continue;
    if (!declared_.count(name)) {  // a builtin proxy arg: only a build-arg counts
      out.push_back(name + "=" + *build_->option(name));
    } else if (auto v = value(name)) {
      out.push_back(name + "=" + *v);
    }
  }
  return out;
}

std::vector<std::string> StageArgs::history_env(const std::vector<std::string>& env) const {
  std::vector<std::string> out;
  for (auto& kv : run_env(env)) {
    auto name = kv.substr(0, kv.find('='));
    if (declared_.count(name) || !is_builtin_build_arg(name)) out.push_back(kv);
  }
  return out;
}

Vars StageArgs::vars(const std::vector<std::string>& env) const {
  auto vars = vars_from_env(run_env(env));
  for (auto& [k, v] : vars_from_env(env))
    vars[k] = v;
  return vars;
}

std::optional<std::size_t> find_stage(const Dockerfile& df, std::string_view ref,
                                      std::size_t before, bool allow_index) {
  auto name = lower(ref);
  for (std::size_t i = 0; i < before && i < df.stages.size(); ++i)
    if (!df.stages[i].name.empty() && df.stages[i].name == name) return i;
  if (allow_index && !ref.empty() &&
      std::all_of(ref.begin(), ref.end(), [](unsigned char c) { return std::isdigit(c); })) {
    std::size_t index = 0;
    for (char c : ref) {
      index = index * 10 + static_cast<std::size_t>(c - '0');
      if (index > df.stages.size()) break;
    }
    if (index >= before)
      throw InvalidArgument("invalid from flag value " + std::string(ref) +
                            ": refers to current or future build stage");
    return index;
  }
  return std::nullopt;
}

std::size_t target_stage(const Dockerfile& df, const std::string& target) {
  if (target.empty()) return df.stages.size() - 1;
  auto name = lower(target);
  for (const auto& stage : df.stages)
    if (stage.name == name) return stage.index;
  throw InvalidArgument("failed to reach build target " + target + " in Dockerfile");
}

BaseImage resolve_base(const Dockerfile& df, std::size_t index, const BuildArgs& args) {
  const auto& from = df.stages.at(index).from;
  auto vars = args.meta_vars();
  BaseImage base;
  base.image = expand_word(from.args.at(0), vars, df.escape);
  if (base.image.empty())
    throw InvalidArgument("base name (" + from.args[0] + ") should not be blank");
  base.platform = expand_word(from.flag("platform"), vars, df.escape);
  base.stage = find_stage(df, base.image, index, false);
  if (base.stage) base.image.clear();
  return base;
}

std::vector<std::size_t> stages_to_build(const Dockerfile& df, std::size_t target) {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i <= target && i < df.stages.size(); ++i)
    out.push_back(i);
  return out;
}

std::vector<std::size_t> needed_stages(const Dockerfile& df, std::size_t target,
                                       const BuildArgs& args) {
  std::vector<bool> needed(df.stages.size(), false);
  needed.at(target) = true;
  auto vars = args.meta_vars();
  for (std::size_t i = target + 1; i-- > 0;) {
    if (!needed[i]) continue;
    if (auto base = resolve_base(df, i, args).stage) needed[*base] = true;
    for (const auto& cmd : df.stages[i].commands) {
      auto from = cmd.flag("from");
      if (cmd.kind != Kind::Copy || from.empty()) continue;
      if (auto dep = find_stage(df, expand_word(from, vars, df.escape), i, true))
        needed[*dep] = true;
    }
  }
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i <= target; ++i)
    if (needed[i]) out.push_back(i);
  return out;
}

std::size_t total_steps(const Dockerfile& df, std::size_t target) {
  std::size_t total = df.meta_args.size();
  for (auto i : stages_to_build(df, target))
    total += 1 + df.stages[i].commands.size();
  return total;
}

std::string step_line(std::size_t n, std::size_t total, const Instruction& in) {
  return "Step " + std::to_string(n) + "/" + std::to_string(total) + " : " + in.original;
}

}  // namespace sockerless::build
