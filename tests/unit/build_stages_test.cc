#include <gtest/gtest.h>

#include "build/config.h"
#include "build/dockerfile.h"
#include "build/stages.h"
#include "common/errors.h"

namespace sockerless::build {
namespace {

using Opts = std::map<std::string, std::optional<std::string>>;

const char* kMultiStage =
    "ARG VERSION=3.18\n"
    "ARG REG=docker.io\n"
    "FROM $REG/alpine:${VERSION} AS base\n"
    "RUN echo base\n"
    "FROM golang AS Build\n"
    "COPY --from=base /etc/os-release /\n"
    "FROM busybox AS unused\n"
    "RUN echo unused\n"
    "FROM base AS final\n"
    "COPY --from=build /go /go\n"
    "COPY --from=nginx:latest /etc/nginx /n\n";

TEST(BuildStages, MetaArgsExpandFromLines) {
  auto df = parse_dockerfile(kMultiStage);
  BuildArgs args(Opts{{"VERSION", "3.19"}});
  for (const auto& a : df.meta_args)
    args.declare_meta(a);
  auto base = resolve_base(df, 0, args);
  EXPECT_EQ(base.image, "docker.io/alpine:3.19");
  EXPECT_FALSE(base.stage);
  auto final_base = resolve_base(df, 3, args);
  ASSERT_TRUE(final_base.stage);
  EXPECT_EQ(*final_base.stage, 0u);
  EXPECT_TRUE(args.unconsumed().empty());
}

TEST(BuildStages, TargetAndNeededStages) {
  auto df = parse_dockerfile(kMultiStage);
  BuildArgs args;
  for (const auto& a : df.meta_args)
    args.declare_meta(a);
  EXPECT_EQ(target_stage(df, ""), 3u);
  EXPECT_EQ(target_stage(df, "BUILD"), 1u);
  try {
    target_stage(df, "nope");
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_STREQ(e.what(), "failed to reach build target nope in Dockerfile");
  }
  EXPECT_EQ(stages_to_build(df, 1), (std::vector<std::size_t>{0, 1}));
  EXPECT_EQ(needed_stages(df, 3, args), (std::vector<std::size_t>{0, 1, 3}));
  EXPECT_EQ(needed_stages(df, 2, args), (std::vector<std::size_t>{2}));
  EXPECT_EQ(total_steps(df, 3), 2u + 8u + 1u);
  EXPECT_EQ(total_steps(df, 0), 2u + 2u);
  EXPECT_EQ(step_line(3, 11, df.stages[0].from), "Step 3/11 : FROM $REG/alpine:${VERSION} AS base");
}

TEST(BuildStages, CopyFromReferences) {
  auto df = parse_dockerfile(kMultiStage);
  EXPECT_EQ(find_stage(df, "build", 3, true), std::optional<std::size_t>(1));
  EXPECT_EQ(find_stage(df, "Base", 3, true), std::optional<std::size_t>(0));
  EXPECT_EQ(find_stage(df, "0", 3, true), std::optional<std::size_t>(0));
  EXPECT_FALSE(find_stage(df, "nginx:latest", 3, true));
  EXPECT_FALSE(find_stage(df, "final", 3, true));  // not an earlier stage: an image
  EXPECT_THROW(find_stage(df, "3", 3, true), InvalidArgument);
  EXPECT_FALSE(find_stage(df, "0", 3, false));  // FROM 0 names an image
}

TEST(BuildStages, ArgScoping) {
  auto df = parse_dockerfile(
      "ARG GLOBAL=g\n"
      "FROM a\n"
      "RUN echo\n");
  BuildArgs args(Opts{{"LOCAL", "from-cli"}, {"unused", "x"}, {"HTTP_PROXY", "http://p"}});
  for (const auto& a : df.meta_args)
    args.declare_meta(a);
  StageArgs stage(args);
  // A meta ARG is not visible in a stage until re-declared.
  EXPECT_EQ(stage.vars({}).count("GLOBAL"), 0u);
  stage.declare("GLOBAL", std::nullopt);
  EXPECT_EQ(stage.vars({})["GLOBAL"], "g");
  stage.declare("LOCAL", std::string("default"));
  EXPECT_EQ(stage.vars({})["LOCAL"], "from-cli");
  stage.declare("NOVALUE", std::nullopt);
  EXPECT_EQ(stage.vars({}).count("NOVALUE"), 0u);
  // ENV wins over ARG.
  EXPECT_EQ(stage.vars({"LOCAL=env"})["LOCAL"], "env");
  EXPECT_EQ(stage.run_env({}),
            (std::vector<std::string>{"GLOBAL=g", "HTTP_PROXY=http://p", "LOCAL=from-cli"}));
  EXPECT_EQ(stage.run_env({"LOCAL=env"}),
            (std::vector<std::string>{"GLOBAL=g", "HTTP_PROXY=http://p"}));
  // Proxy args reach RUN but are not recorded unless declared.
  EXPECT_EQ(stage.history_env({}), (std::vector<std::string>{"GLOBAL=g", "LOCAL=from-cli"}));
  EXPECT_EQ(args.unconsumed(), std::vector<std::string>{"unused"});
  EXPECT_EQ(args.unconsumed_warning(),
            "[Warning] One or more build-args [unused] were not consumed");
  // A second stage starts with nothing in scope.
  StageArgs next(args);
  EXPECT_EQ(next.run_env({}), std::vector<std::string>{"HTTP_PROXY=http://p"});
}

TEST(BuildStages, PlatformArgs) {
  BuildArgs args({}, Platform{"linux", "arm64", "v8"}, Platform{"linux", "amd64", ""});
  auto vars = args.meta_vars();
  EXPECT_EQ(vars["TARGETPLATFORM"], "linux/arm64/v8");
  EXPECT_EQ(vars["TARGETARCH"], "arm64");
  EXPECT_EQ(vars["BUILDPLATFORM"], "linux/amd64");
  StageArgs stage(args);
  EXPECT_EQ(stage.vars({}).count("TARGETARCH"), 0u);
  stage.declare("TARGETARCH", std::nullopt);
  EXPECT_EQ(stage.vars({})["TARGETARCH"], "arm64");
  EXPECT_TRUE(args.unconsumed().empty());
}

TEST(BuildStages, MetaArgDefaultsExpandEarlierOnes) {
  auto df = parse_dockerfile("ARG A=1\nARG B=${A}.2\nFROM img:$B\n");
  BuildArgs args;
  for (const auto& a : df.meta_args)
    args.declare_meta(a);
  EXPECT_EQ(resolve_base(df, 0, args).image, "img:1.2");
  auto blank = parse_dockerfile("FROM $NOTHING\n");
  try {
    resolve_base(blank, 0, args);
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_STREQ(e.what(), "base name ($NOTHING) should not be blank");
  }
}

}  // namespace
}  // namespace sockerless::build
