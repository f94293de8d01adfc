#include <gtest/gtest.h>

#include "build/config.h"
#include "build/dockerfile.h"
#include "build/go_format.h"
#include "common/errors.h"

namespace sockerless::build {
namespace {

using nlohmann::json;
using Opts = std::map<std::string, std::optional<std::string>>;

// Applies every metadata instruction of the last stage; returns created_by for each.
struct Dispatched {
  explicit Dispatched(const std::string& text, BuildArgs a = BuildArgs())
      : df(parse_dockerfile(text)), args(std::move(a)), state(args, df.escape) {
    for (const auto& m : df.meta_args)
      args.declare_meta(m, df.escape);
    for (const auto& in : df.stages.back().commands) {
      if (in.kind == Kind::Run) {
        runs.push_back(plan_run(state, in));
        history.push_back(created_by(runs.back().container_cmd));
      } else if (in.kind == Kind::Copy || in.kind == Kind::Add) {
        copies.push_back(plan_copy(state, in));
      } else {
        history.push_back(created_by(apply_instruction(state, in)));
      }
    }
  }
  Dockerfile df;
  BuildArgs args;
  StageState state;
  std::vector<std::string> history;
  std::vector<RunPlan> runs;
  std::vector<CopyPlan> copies;
};

TEST(BuildConfig, EnvLabelAndHistory) {
  Dispatched r(
      "FROM a\n"
      "ENV A=1 B=\"two words\"\n"
      "ENV A=${A}0 C=$A\n"
      "ENV legacy \"quoted value\"\n"
      "LABEL maintainer=\"NGINX Docker <x@y>\" v=$A\n");
  EXPECT_EQ(r.state.config["Env"], json({"B=two words", "A=10", "C=1", "legacy=quoted value"}));
  EXPECT_EQ(r.state.config["Labels"]["maintainer"], "NGINX Docker <x@y>");
  EXPECT_EQ(r.state.config["Labels"]["v"], "10");
  EXPECT_EQ(r.history[0], "/bin/sh -c #(nop)  ENV A=1 B=two words");
  EXPECT_EQ(r.history[3], "/bin/sh -c #(nop)  LABEL maintainer=NGINX Docker <x@y> v=10");
}

TEST(BuildConfig, WorkdirJoinsAndExpands) {
  Dispatched r(
      "FROM a\n"
      "ENV BASE=/srv\n"
      "WORKDIR $BASE\n"
      "WORKDIR app/../code\n"
      "WORKDIR ./sub/\n");
  EXPECT_EQ(r.state.config["WorkingDir"], "/srv/code/sub");
  EXPECT_EQ(r.history[1], "/bin/sh -c #(nop) WORKDIR /srv");
  EXPECT_EQ(join_workdir("", "rel"), "/rel");
  EXPECT_EQ(join_workdir("/a", "/b/../c"), "/c");
}

TEST(BuildConfig, EntrypointResetsCmdUnlessSetInStage) {
  StageState base_config_state = [] {
    static BuildArgs args;
    StageState s(args);
    s.config["Cmd"] = json({"sh"});
    return s;
  }();
  auto df = parse_dockerfile("FROM a\nENTRYPOINT [\"/entry\"]\n");
  apply_instruction(base_config_state, df.stages[0].commands[0]);
  EXPECT_TRUE(base_config_state.config["Cmd"].is_null());
  EXPECT_EQ(base_config_state.config["Entrypoint"], json({"/entry"}));

  Dispatched r("FROM a\nCMD [\"--help\"]\nENTRYPOINT [\"/entry\"]\n");
  EXPECT_EQ(r.state.config["Cmd"], json({"--help"}));
  EXPECT_EQ(r.history[0], "/bin/sh -c #(nop)  CMD [\"--help\"]");
  EXPECT_EQ(r.history[1], "/bin/sh -c #(nop)  ENTRYPOINT [\"/entry\"]");
}

TEST(BuildConfig, ShellAffectsShellForms) {
  Dispatched r(
      "FROM a\n"
      "RUN echo one\n"
      "SHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]\n"
      "RUN echo two | cat\n"
      "RUN [\"/bin/echo\", \"$HOME\"]\n"
      "CMD echo \"$HOME\"\n");
  EXPECT_EQ(r.runs[0].argv, (std::vector<std::string>{"/bin/sh", "-c", "echo one"}));
  EXPECT_EQ(r.runs[1].argv,
            (std::vector<std::string>{"/bin/bash", "-o", "pipefail", "-c", "echo two | cat"}));
  EXPECT_EQ(r.runs[2].argv, (std::vector<std::string>{"/bin/echo", "$HOME"}));
  EXPECT_EQ(r.state.config["Cmd"], json({"/bin/bash", "-o", "pipefail", "-c", "echo \"$HOME\""}));
  EXPECT_EQ(r.history[0], "/bin/sh -c echo one");
  EXPECT_EQ(r.history[1], "/bin/sh -c #(nop)  SHELL [/bin/bash -o pipefail -c]");
  EXPECT_EQ(
      r.history.back(),
      "/bin/sh -c #(nop)  CMD [\"/bin/bash\" \"-o\" \"pipefail\" \"-c\" \"echo \\\"$HOME\\\"\"]");
}

TEST(BuildConfig, RunSeesArgsAndRecordsThem) {
  Dispatched r(
      "FROM a\n"
      "ENV PATH=/bin\n"
      "ARG b=2\n"
      "ARG a=1\n"
      "ARG PATH=/ignored\n"
      "RUN echo $a\n",
      BuildArgs(Opts{{"a", "cli"}, {"http_proxy", "http://proxy"}}));
  ASSERT_EQ(r.runs.size(), 1u);
  EXPECT_EQ(r.runs[0].env,
            (std::vector<std::string>{"PATH=/bin", "a=cli", "b=2", "http_proxy=http://proxy"}));
  EXPECT_EQ(r.history[1], "/bin/sh -c #(nop)  ARG b=2");
  EXPECT_EQ(r.history.back(), "|2 a=cli b=2 /bin/sh -c echo $a");
  EXPECT_EQ(r.runs[0].container_cmd[0], "|2");

  Dispatched only_proxy("FROM a\nRUN true\n", BuildArgs(Opts{{"http_proxy", "http://proxy"}}));
  EXPECT_EQ(only_proxy.history[0], "|0 /bin/sh -c true");
  Dispatched none("FROM a\nRUN true\n");
  EXPECT_EQ(none.history[0], "/bin/sh -c true");
}

TEST(BuildConfig, RunHeredocs) {
  Dispatched r(
      "FROM a\n"
      "RUN <<EOF\n"
      "echo hi\n"
      "EOF\n"
      "RUN <<EOF\n"
      "#!/usr/bin/env python3\n"
      "print(1)\n"
      "EOF\n"
      "RUN cat <<A > /a\n"
      "x\n"
      "A\n");
  EXPECT_EQ(r.runs[0].argv, (std::vector<std::string>{"/bin/sh", "-c", "echo hi\n"}));
  ASSERT_EQ(r.runs[1].files.size(), 1u);
  EXPECT_EQ(r.runs[1].argv, std::vector<std::string>{"/dev/pipes/EOF"});
  EXPECT_EQ(r.runs[1].files[0].content, "#!/usr/bin/env python3\nprint(1)\n");
  EXPECT_EQ(r.runs[2].argv, (std::vector<std::string>{"/bin/sh", "-c", "cat <<A > /a\nx\nA\n"}));
}

TEST(BuildConfig, CopyPlanAndHistory) {
  Dispatched r(
      "FROM a\n"
      "ENV FILES=\"a b\" DEST=/app U=1000\n"
      "COPY --chown=$U:$U --from=builder $FILES ${DEST}/\n"
      "COPY <<EOF <<'RAW' /etc/\n"
      "value=$DEST\n"
      "EOF\n"
      "literal=$DEST\n"
      "RAW\n");
  const auto& c = r.copies[0];
  EXPECT_EQ(c.sources, std::vector<std::string>{"a b"});  // no word splitting for COPY
  EXPECT_EQ(c.dest, "/app/");
  EXPECT_EQ(c.chown, "1000:1000");
  EXPECT_EQ(c.from, "builder");
  EXPECT_EQ(created_by(copy_container_cmd(Kind::Copy, c, "file:abc")),
            "/bin/sh -c #(nop) COPY --chown=1000:1000file:abc in /app/ ");
  const auto& h = r.copies[1];
  ASSERT_EQ(h.inline_files.size(), 2u);
  EXPECT_TRUE(h.sources.empty());
  EXPECT_EQ(h.inline_files[0].name, "EOF");
  EXPECT_EQ(h.inline_files[0].content, "value=/app\n");
  EXPECT_EQ(h.inline_files[1].content, "literal=$DEST\n");
  CopyPlan plain;
  plain.dest = "/";
  EXPECT_EQ(created_by(copy_container_cmd(Kind::Add, plain, "multi:ff")),
            "/bin/sh -c #(nop) ADD multi:ff in / ");
}

TEST(BuildConfig, ExposeVolumeUserStopsignal) {
  Dispatched r(
      "FROM a\n"
      "ARG PORTS=\"80 443/udp\"\n"
      "EXPOSE $PORTS 8000-8002\n"
      "VOLUME /data [\"x\"]\n"
      "VOLUME [\"/a\", \"/b\"]\n"
      "USER ${U:-nobody}\n"
      "STOPSIGNAL SIGQUIT\n"
      "MAINTAINER me\n");
  auto ports = r.state.config["ExposedPorts"];
  for (const char* p : {"80/tcp", "443/udp", "8000/tcp", "8001/tcp", "8002/tcp"})
    EXPECT_TRUE(ports.contains(p)) << p;
  EXPECT_EQ(r.history[1], "/bin/sh -c #(nop)  EXPOSE 80 443/udp 8000-8002");
  EXPECT_TRUE(r.state.config["Volumes"].contains("/data"));
  EXPECT_EQ(r.history[2], "/bin/sh -c #(nop)  VOLUME [/data [x]]");
  EXPECT_EQ(r.history[3], "/bin/sh -c #(nop)  VOLUME [/a /b]");
  EXPECT_EQ(r.state.config["User"], "nobody");
  EXPECT_EQ(r.state.config["StopSignal"], "SIGQUIT");
  EXPECT_EQ(r.state.author, "me");
  EXPECT_EQ(r.history.back(), "/bin/sh -c #(nop)  MAINTAINER me");

  EXPECT_THROW(Dispatched("FROM a\nSTOPSIGNAL SIGNOPE\n"), InvalidArgument);
  EXPECT_THROW(Dispatched("FROM a\nSTOPSIGNAL 0\n"), InvalidArgument);
  EXPECT_NO_THROW(Dispatched("FROM a\nSTOPSIGNAL 9\n"));
  EXPECT_NO_THROW(Dispatched("FROM a\nSTOPSIGNAL RTMIN+3\n"));
  EXPECT_THROW(Dispatched("FROM a\nEXPOSE 80/xyz\n"), InvalidArgument);
  EXPECT_THROW(Dispatched("FROM a\nEXPOSE abc\n"), InvalidArgument);
  EXPECT_THROW(Dispatched("FROM a\nUSER ${U:?needs U}\n"), InvalidArgument);
}

TEST(BuildConfig, HealthcheckAndOnbuild) {
  Dispatched r(
      "FROM a\n"
      "HEALTHCHECK --interval=5m --timeout=3s --retries=3 CMD curl -f http://localhost/\n"
      "ONBUILD COPY . /app\n");
  auto hc = r.state.config["Healthcheck"];
  EXPECT_EQ(hc["Test"], json({"CMD-SHELL", "curl -f http://localhost/"}));
  EXPECT_EQ(hc["Interval"], 300'000'000'000LL);
  EXPECT_EQ(hc["Timeout"], 3'000'000'000LL);
  EXPECT_EQ(hc["Retries"], 3);
  EXPECT_FALSE(hc.contains("StartPeriod"));
  EXPECT_EQ(r.history[0],
            "/bin/sh -c #(nop)  HEALTHCHECK &{[\"CMD-SHELL\" \"curl -f http://localhost/\"] "
            "\"5m0s\" \"3s\" \"0s\" \"0s\" '\\x03'}");
  EXPECT_EQ(r.state.config["OnBuild"], json({"COPY . /app"}));
  EXPECT_EQ(r.history[1], "/bin/sh -c #(nop)  ONBUILD COPY . /app");
  Dispatched none("FROM a\nHEALTHCHECK NONE\n");
  EXPECT_EQ(none.state.config["Healthcheck"], json({{"Test", {"NONE"}}}));
}

TEST(BuildConfig, NotMetadata) {
  auto df = parse_dockerfile("FROM a\nRUN x\n");
  BuildArgs args;
  StageState s(args);
  EXPECT_THROW(apply_instruction(s, df.stages[0].commands[0]), InvalidArgument);
}

TEST(BuildGoFormat, QuotingAndDurations) {
  EXPECT_EQ(go_quote("a\"b\\c\n\x01"), "\"a\\\"b\\\\c\\n\\x01\"");
  EXPECT_EQ(go_quote("héllo"), "\"héllo\"");
  EXPECT_EQ(go_quote_rune(0), "'\\x00'");
  EXPECT_EQ(go_quote_rune(65), "'A'");
  EXPECT_EQ(go_quote_rune(7), "'\\a'");
  EXPECT_EQ(go_quote_list({"a", "b c"}), "[\"a\" \"b c\"]");
  EXPECT_EQ(go_list({"a", "b"}), "[a b]");
  EXPECT_EQ(go_duration(0), "0s");
  EXPECT_EQ(go_duration(1'500'000'000), "1.5s");
  EXPECT_EQ(go_duration(300'000'000'000), "5m0s");
  EXPECT_EQ(go_duration(3'600'000'000'000), "1h0m0s");
  EXPECT_EQ(go_duration(300'000'000), "300ms");
  EXPECT_EQ(go_duration(2'000), "2µs");
  EXPECT_EQ(go_duration(5), "5ns");
  EXPECT_EQ(parse_go_duration("1h2m3.5s"), 3'723'500'000'000);
  EXPECT_EQ(parse_go_duration("250ms"), 250'000'000);
  EXPECT_EQ(parse_go_duration("-1s"), -1'000'000'000);
  EXPECT_EQ(parse_go_duration("0"), 0);
  EXPECT_THROW(parse_go_duration("10"), InvalidArgument);
  EXPECT_THROW(parse_go_duration("5x"), InvalidArgument);
  EXPECT_THROW(parse_go_duration(""), InvalidArgument);
}

}  // namespace
}  // namespace sockerless::build
