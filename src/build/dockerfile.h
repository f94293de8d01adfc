// Dockerfile parsing as dockerd's classic builder does it: parser directives (# escape=,
// # syntax=), comments, line continuations, heredocs, case-insensitive instruction names,
// exec (JSON) versus shell form, builder flags, and each instruction's arguments. Nothing
// is expanded here: substitution depends on ARG/ENV state and happens at dispatch.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sockerless::build {

enum class Kind {
  Add,
  Arg,
  Cmd,
  Copy,
  Entrypoint,
  Env,
  Expose,
  From,
  Healthcheck,
  Label,
  Maintainer,
  Onbuild,
  Run,
  Shell,
  Stopsignal,
  User,
  Volume,
  Workdir,
};

// "RUN", "COPY", … (upper case).
std::string kind_name(Kind kind);

// A heredoc attached to RUN, COPY or ADD (`<<EOF`, `<<-EOF`, `<<"EOF"`).
struct Heredoc {
  std::string name;     // the delimiter, quotes removed
  std::string content;  // the body, every line ending in '\n' (leading tabs gone for <<-)
  bool expand = true;   // false when the delimiter was quoted
  bool chomp = false;   // <<-
  std::string word;     // the word as written on the instruction line ("<<-EOF")
};

// ENV, LABEL and ARG entries, unexpanded (quotes still in place).
struct KeyValue {
  std::string key;
  std::optional<std::string> value;  // ARG without a default has none
};

// HEALTHCHECK, validated; durations in nanoseconds, 0 meaning "inherit/default".
struct HealthSpec {
  std::vector<std::string> test;  // {"NONE"}, {"CMD", argv…} or {"CMD-SHELL", command}
  std::int64_t interval = 0;
  std::int64_t timeout = 0;
  std::int64_t start_period = 0;
  std::int64_t start_interval = 0;
  int retries = 0;
};

struct Instruction {
  Kind kind = Kind::Run;
  std::string keyword;   // as written ("run")
  std::string original;  // the logical line, continuations joined: "Step N/M : <original>"
  int line = 0;          // 1-based line the instruction starts on
  // Builder flags without their dashes: {"from", "builder"}; a bare boolean flag is "true".
  std::map<std::string, std::string> flags;
  bool json = false;  // exec form (RUN CMD ENTRYPOINT SHELL) or JSON list (ADD COPY VOLUME)
  // RUN/CMD/ENTRYPOINT: argv (exec form) or {command} (shell form); SHELL: argv;
  // ADD/COPY: sources…, dest; FROM: {image}; EXPOSE/VOLUME: items; USER, WORKDIR,
  // STOPSIGNAL, MAINTAINER: {text}; ONBUILD: {trigger text after the keyword}.
  std::vector<std::string> args;
  std::vector<KeyValue> pairs;    // ENV, LABEL, ARG
  std::vector<Heredoc> heredocs;  // RUN, COPY, ADD
  std::optional<HealthSpec> health;
  std::string stage_name;  // FROM … AS <name>, lower-cased

  std::string flag(const std::string& name) const {
    auto it = flags.find(name);
    return it == flags.end() ? "" : it->second;
  }
};

struct Stage {
  std::size_t index = 0;
  std::string name;  // lower-cased; empty when unnamed
  Instruction from;
  std::vector<Instruction> commands;
};

struct Dockerfile {
  char escape = '\\';
  std::string syntax;                  // # syntax= directive, recorded and otherwise ignored
  std::vector<Instruction> meta_args;  // ARGs before the first FROM
  std::vector<Stage> stages;
  std::vector<std::string> warnings;  // e.g. empty continuation lines
};

// Parses a whole Dockerfile. Throws InvalidArgument ("Dockerfile parse error line N: …",
// "unknown instruction: FOO", "no build stage in current context", …) as dockerd words it.
Dockerfile parse_dockerfile(std::string_view text, const std::string& name = "Dockerfile");

// Parses instructions without the stage rules: ONBUILD triggers of a base image, or
// `changes`. Same errors as parse_dockerfile.
std::vector<Instruction> parse_instructions(std::string_view text, char escape = '\\');

}  // namespace sockerless::build
