// ARG scoping and the stage graph of a multi-stage Dockerfile, as the classic builder
// treats them: ARGs before the first FROM are visible to FROM lines only (a stage re-declares
// them with `ARG name` to inherit the value), a stage's ARG is in scope from its line to
// the end of the stage, --build-arg values override defaults, ENV beats ARG of the same
// name, and build-args no ARG consumed are reported.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "build/dockerfile.h"
#include "build/expand.h"

namespace sockerless::build {

struct Platform {
  std::string os = "linux";
  std::string arch = "amd64";
  std::string variant;
  std::string str() const { return os + "/" + arch + (variant.empty() ? "" : "/" + variant); }
};

// The proxy variables usable as build-args without an ARG (HTTP_PROXY, no_proxy, …).
bool is_builtin_build_arg(const std::string& name);

// Build-wide ARG state. TARGETPLATFORM/OS/ARCH/VARIANT and BUILDPLATFORM/OS/ARCH/VARIANT
// are predefined as if declared before the first FROM.
class BuildArgs {
 public:
  // `options`: --build-arg values; a name without a value (nullopt) overrides nothing.
  explicit BuildArgs(std::map<std::string, std::optional<std::string>> options = {},
                     Platform target = {}, Platform build = {});

  // An ARG before the first FROM; each default is expanded against the earlier ones.
  void declare_meta(const Instruction& arg, char escape = '\\');
  // What FROM lines may reference: meta ARGs (build-args override) and platform args.
  Vars meta_vars() const;

  // A --build-arg value, if the client sent one with a value.
  std::optional<std::string> option(const std::string& name) const;
  // A meta ARG's value (build-arg override applied), if it has one.
  std::optional<std::string> meta_value(const std::string& name) const;
  void mark_consumed(const std::string& name) { consumed_.insert(name); }

  // Build-args neither declared by any ARG nor builtin, sorted.
  std::vector<std::string> unconsumed() const;
  // "[Warning] One or more build-args [a b] were not consumed", or "" when all were.
  std::string unconsumed_warning() const;

 private:
  std::map<std::string, std::optional<std::string>> options_;
  std::map<std::string, std::optional<std::string>> meta_;
  std::set<std::string> consumed_;
};

// The ARGs in scope inside one stage (a fresh one per FROM).
class StageArgs {
 public:
  explicit StageArgs(BuildArgs& build) : build_(&build) {}

  // `ARG name[=default]` with the default already expanded: the value is the build-arg,
  // else the default, else the meta ARG's value, else none.
  void declare(const std::string& name, std::optional<std::string> default_value);
  bool declared(const std::string& name) const { return declared_.count(name) > 0; }

  // "k=v" for every in-scope ARG with a value plus builtin proxy build-args, leaving out
  // names `env` ("k=v" list, the image's Env) sets; sorted. What a RUN step adds to its
  // environment (dockerd's FilterAllowed).
  std::vector<std::string> run_env(const std::vector<std::string>& env) const;
  // run_env without builtin proxy args the stage did not declare: the `|N k=v` prefix
  // the classic builder records in a RUN's history (keeps proxies out of images).
  std::vector<std::string> history_env(const std::vector<std::string>& env) const;
  // Variables for expanding instructions: run_env, then `env` on top (ENV wins).
  Vars vars(const std::vector<std::string>& env) const;

 private:
  std::optional<std::string> value(const std::string& name) const;
  BuildArgs* build_;
  std::map<std::string, std::optional<std::string>> declared_;
};

// A stage a reference (FROM image, COPY --from) names, among stages [0, before): by name
// (case-insensitive) or, when `allow_index`, by number. nullopt: it names an image.
// Throws InvalidArgument for an index that is not an earlier stage.
std::optional<std::size_t> find_stage(const Dockerfile& df, std::string_view ref,
                                      std::size_t before, bool allow_index);

// The stage `--target` names (case-insensitive), or the last one when empty. Throws
// InvalidArgument "failed to reach build target <t> in Dockerfile".
std::size_t target_stage(const Dockerfile& df, const std::string& target);

struct BaseImage {
  std::optional<std::size_t> stage;  // FROM <earlier stage>
  std::string image;                 // otherwise: the expanded reference ("scratch" included)
  std::string platform;              // expanded --platform, may be empty
};
// The base of stage `index`, its FROM expanded with the meta ARGs. Throws InvalidArgument
// for an empty result ("base name (${x}) should not be blank").
BaseImage resolve_base(const Dockerfile& df, std::size_t index, const BuildArgs& args);

// The classic builder builds every stage up to and including the target, in order.
std::vector<std::size_t> stages_to_build(const Dockerfile& df, std::size_t target);
// Only the stages `target` depends on through FROM and COPY --from (BuildKit's pruning),
// ascending and including `target`. COPY --from values are expanded with meta args only.
std::vector<std::size_t> needed_stages(const Dockerfile& df, std::size_t target,
                                       const BuildArgs& args);

// The M of "Step N/M": meta ARGs, then each built stage's FROM and commands.
std::size_t total_steps(const Dockerfile& df, std::size_t target);
// "Step 3/7 : RUN echo hi" (no newline).
std::string step_line(std::size_t n, std::size_t total, const Instruction& in);

}  // namespace sockerless::build
