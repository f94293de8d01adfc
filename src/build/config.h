// Dispatching Dockerfile instructions against an image config the way the classic builder
// does: metadata instructions change the config and are committed with a "#(nop)" command;
// RUN and COPY/ADD are planned here and executed by the caller. The ContainerConfig.Cmd
// each step records is also what history (created_by) and the build cache see.
//
// Formats (dockerd's classic builder on Linux):
//   metadata:   {"/bin/sh", "-c", "#(nop) ", "ENV a=b"}  →  "/bin/sh -c #(nop)  ENV a=b"
//   WORKDIR:    {"/bin/sh", "-c", "#(nop) WORKDIR /app"} →  "/bin/sh -c #(nop) WORKDIR /app"
//   COPY/ADD:   {"/bin/sh", "-c", "#(nop) COPY file:<hex> in /dst "}
//   RUN:        {"/bin/sh", "-c", "echo hi"}, with build args {"|1", "a=b", "/bin/sh", …}
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "build/dockerfile.h"
#include "build/expand.h"
#include "build/stages.h"

namespace sockerless::build {

// One stage's state while its instructions are dispatched.
struct StageState {
  explicit StageState(BuildArgs& build, char escape_char = '\\')
      : args(build), escape(escape_char) {}

  nlohmann::json config = nlohmann::json::object();  // the image's "config" object
  std::string author;                                // MAINTAINER
  bool cmd_set = false;  // CMD seen in this stage: a later ENTRYPOINT keeps Cmd
  StageArgs args;
  char escape;

  std::vector<std::string> env() const;    // config.Env
  Vars vars() const;                       // ARGs in scope with ENV on top
  std::vector<std::string> shell() const;  // config.Shell or {"/bin/sh", "-c"}
};

// ContainerConfig.Cmd for a metadata commit: {"/bin/sh", "-c", "#(nop) ", comment}.
std::vector<std::string> nop_cmd(const std::string& comment);
// The one-string flavour WORKDIR, COPY and ADD use: {"/bin/sh", "-c", "#(nop) " + comment}.
std::vector<std::string> nop_cmd_string(const std::string& comment);
// History created_by: the ContainerConfig.Cmd joined with spaces.
std::string created_by(const std::vector<std::string>& container_cmd);

// Applies ARG ENV LABEL EXPOSE USER WORKDIR VOLUME ENTRYPOINT CMD SHELL HEALTHCHECK
// STOPSIGNAL ONBUILD MAINTAINER to `state` (expanding what dockerd expands) and returns
// the ContainerConfig.Cmd to commit with. Throws InvalidArgument for bad values (ports,
// signals, ${x:?}) and for FROM, RUN, COPY, ADD (not metadata).
std::vector<std::string> apply_instruction(StageState& state, const Instruction& in);

struct ScriptFile {
  std::string path;  // where the container must see it, e.g. /dev/pipes/EOF
  std::string content;
  int mode = 0755;
};

struct RunPlan {
  std::vector<std::string> argv;           // the container's Cmd (Entrypoint cleared)
  std::vector<std::string> env;            // config.Env, then ARG values ENV does not set
  std::vector<std::string> container_cmd;  // history and cache: "|N k=v…" + argv
  std::vector<ScriptFile> files;           // heredoc scripts to create first (#! bodies)
};

// RUN: shell form → shell + {command}; exec form → argv as written (never expanded).
// `RUN <<EOF` alone runs the body with the shell (or as a file when it starts with #!);
// other heredocs are appended to the command for the shell to read.
RunPlan plan_run(const StageState& state, const Instruction& in);

struct InlineFile {
  std::string name;     // the heredoc's name: the file's name under dest
  std::string content;  // expanded unless the delimiter was quoted
};

struct CopyPlan {
  std::vector<std::string> sources;      // expanded, one word each (no splitting)
  std::vector<InlineFile> inline_files;  // COPY <<EOF sources
  std::string dest;
  std::string from;  // --from, expanded (see find_stage)
  std::string chown;
  std::string chmod;
  bool link = false;
};
CopyPlan plan_copy(const StageState& state, const Instruction& in);

// {"/bin/sh", "-c", "#(nop) COPY [--chown=u:g]<label> in <dest> "} where `label` is the
// classic builder's source hash: "file:<hex>", "dir:<hex>" or "multi:<hex>".
std::vector<std::string> copy_container_cmd(Kind kind, const CopyPlan& plan,
                                            const std::string& label);

// WORKDIR's rule: a relative path joins the current one; the result is cleaned.
std::string join_workdir(const std::string& current, const std::string& requested);

}  // namespace sockerless::build
