#include <gtest/gtest.h>

#include "build/dockerfile.h"
#include "common/errors.h"

namespace sockerless::build {
namespace {

std::string parse_error(std::string_view text) {
  try {
    parse_dockerfile(text);
  } catch (const InvalidArgument& e) {
    return e.what();
  }
  return "(no error)";
}

const Instruction& only_command(const Dockerfile& df) {
  EXPECT_EQ(df.stages.size(), 1u);
  EXPECT_EQ(df.stages[0].commands.size(), 1u);
  return df.stages[0].commands.at(0);
}

TEST(DockerfileParse, StagesCommentsAndCase) {
  auto df = parse_dockerfile(
      "# a comment\n"
      "ARG BASE=busybox\n"
      "from $BASE AS Builder\n"
      "  # indented comment\n"
      "run echo hi\n"
      "\n"
      "FROM scratch\n"
      "Copy --from=builder /x /y\n");
  ASSERT_EQ(df.meta_args.size(), 1u);
  ASSERT_EQ(df.stages.size(), 2u);
  EXPECT_EQ(df.stages[0].name, "builder");
  EXPECT_EQ(df.stages[0].from.args, std::vector<std::string>{"$BASE"});
  EXPECT_EQ(df.stages[0].from.original, "from $BASE AS Builder");
  EXPECT_EQ(df.stages[0].commands[0].kind, Kind::Run);
  EXPECT_EQ(df.stages[0].commands[0].keyword, "run");
  EXPECT_EQ(df.stages[0].commands[0].line, 5);
  EXPECT_EQ(df.stages[1].index, 1u);
  EXPECT_EQ(df.stages[1].commands[0].flag("from"), "builder");
  EXPECT_EQ(df.stages[1].commands[0].args, (std::vector<std::string>{"/x", "/y"}));
}

TEST(DockerfileParse, ContinuationsKeepWhitespaceAndSkipCommentLines) {
  auto df = parse_dockerfile(
      "FROM busybox\n"
      "RUN apt-get update && \\\n"
      "    apt-get install -y x \\\n"
      "# a comment inside\n"
      "\n"
      "    && echo done\n");
  const auto& run = only_command(df);
  EXPECT_EQ(run.original, "RUN apt-get update &&     apt-get install -y x     && echo done");
  EXPECT_EQ(run.args, std::vector<std::string>{
                          "apt-get update &&     apt-get install -y x     && echo done"});
  EXPECT_EQ(run.line, 2);
  ASSERT_EQ(df.warnings.size(), 1u);
  EXPECT_NE(df.warnings[0].find("Empty continuation line"), std::string::npos);
}

TEST(DockerfileParse, BacktickEscapeDirective) {
  auto df = parse_dockerfile(
      "# escape=`\n"
      "\n"
      "FROM mcr.microsoft.com/windows\n"
      "COPY testfile.txt c:\\\n"
      "RUN dir c:\\ `\n"
      "    /w\n");
  EXPECT_EQ(df.escape, '`');
  ASSERT_EQ(df.stages[0].commands.size(), 2u);
  EXPECT_EQ(df.stages[0].commands[0].args, (std::vector<std::string>{"testfile.txt", "c:\\"}));
  EXPECT_EQ(df.stages[0].commands[1].args, std::vector<std::string>{"dir c:\\     /w"});
}

TEST(DockerfileParse, DirectivesOnlyAtTheTop) {
  auto df = parse_dockerfile("# syntax=docker/dockerfile:1\n#escape = \\\nFROM a\n");
  EXPECT_EQ(df.syntax, "docker/dockerfile:1");
  // After a comment, "# escape=`" is just a comment.
  df = parse_dockerfile("# hello\n# escape=`\nFROM a\nRUN x \\\n y\n");
  EXPECT_EQ(df.escape, '\\');
  EXPECT_EQ(df.stages[0].commands[0].args, std::vector<std::string>{"x  y"});
  // Unknown directives end directive parsing too.
  df = parse_dockerfile("# foo=bar\n# escape=`\nFROM a\n");
  EXPECT_EQ(df.escape, '\\');
  EXPECT_EQ(parse_error("# escape=x\nFROM a\n"),
            "Dockerfile parse error line 1: invalid escape token 'x' does not match ` or \\");
  EXPECT_EQ(parse_error("# escape=`\n# escape=`\nFROM a\n"),
            "Dockerfile parse error line 2: only one escape parser directive can be used");
}

TEST(DockerfileParse, Heredocs) {
  auto df = parse_dockerfile(
      "FROM busybox\n"
      "RUN <<EOF\n"
      "echo $HOME\n"
      "echo two\n"
      "EOF\n"
      "RUN <<-'END' cat > /a && cat <<B2 > /b\n"
      "\t\tindented\n"
      "\tEND\n"
      "second\n"
      "B2\n"
      "COPY <<EOF /dest/file\n"
      "content\n"
      "EOF\n"
      "RUN echo after\n");
  const auto& cmds = df.stages[0].commands;
  ASSERT_EQ(cmds.size(), 4u);
  ASSERT_EQ(cmds[0].heredocs.size(), 1u);
  EXPECT_EQ(cmds[0].heredocs[0].name, "EOF");
  EXPECT_EQ(cmds[0].heredocs[0].content, "echo $HOME\necho two\n");
  EXPECT_TRUE(cmds[0].heredocs[0].expand);
  EXPECT_EQ(cmds[0].original, "RUN <<EOF");
  ASSERT_EQ(cmds[1].heredocs.size(), 2u);
  EXPECT_EQ(cmds[1].heredocs[0].name, "END");
  EXPECT_TRUE(cmds[1].heredocs[0].chomp);
  EXPECT_FALSE(cmds[1].heredocs[0].expand);
  EXPECT_EQ(cmds[1].heredocs[0].content, "indented\n");
  EXPECT_EQ(cmds[1].heredocs[1].content, "second\n");
  EXPECT_EQ(cmds[2].kind, Kind::Copy);
  EXPECT_EQ(cmds[2].args, (std::vector<std::string>{"<<EOF", "/dest/file"}));
  EXPECT_EQ(cmds[2].heredocs.at(0).content, "content\n");
  EXPECT_EQ(cmds[3].args, std::vector<std::string>{"echo after"});
  EXPECT_EQ(cmds[3].line, 14);
  EXPECT_NE(parse_error("FROM a\nRUN <<EOF\nno end\n").find("unterminated heredoc"),
            std::string::npos);
  // Exec form and other instructions take no heredocs.
  df = parse_dockerfile("FROM a\nRUN [\"echo\", \"<<EOF\"]\nENV x=<<EOF\n");
  EXPECT_TRUE(df.stages[0].commands[0].heredocs.empty());
  EXPECT_TRUE(df.stages[0].commands[1].heredocs.empty());
}

TEST(DockerfileParse, ExecAndShellForms) {
  auto df = parse_dockerfile(
      "FROM a\n"
      "CMD [\"echo\", \"hi\"]\n"
      "ENTRYPOINT echo hi\n"
      "RUN [\"echo\", 1]\n"
      "RUN [ \"broken\"\n"
      "SHELL [\"/bin/bash\", \"-c\"]\n"
      "VOLUME [\"/a\", \"/b c\"]\n"
      "VOLUME /x /y\n"
      "COPY [\"a b\", \"/dst/\"]\n");
  const auto& c = df.stages[0].commands;
  EXPECT_TRUE(c[0].json);
  EXPECT_EQ(c[0].args, (std::vector<std::string>{"echo", "hi"}));
  EXPECT_FALSE(c[1].json);
  EXPECT_EQ(c[1].args, std::vector<std::string>{"echo hi"});
  EXPECT_FALSE(c[2].json);  // a non-string element: shell form
  EXPECT_EQ(c[2].args, std::vector<std::string>{"[\"echo\", 1]"});
  EXPECT_FALSE(c[3].json);  // malformed JSON: shell form
  EXPECT_EQ(c[4].args, (std::vector<std::string>{"/bin/bash", "-c"}));
  EXPECT_EQ(c[5].args, (std::vector<std::string>{"/a", "/b c"}));
  EXPECT_EQ(c[6].args, (std::vector<std::string>{"/x", "/y"}));
  EXPECT_EQ(c[7].args, (std::vector<std::string>{"a b", "/dst/"}));
  EXPECT_EQ(parse_error("FROM a\nSHELL /bin/bash -c\n"),
            "Dockerfile parse error line 2: SHELL requires the arguments to be in JSON form");
}

TEST(DockerfileParse, EnvLabelArg) {
  auto df = parse_dockerfile(
      "FROM a\n"
      "ENV k=v k2=\"v 2\" k3=a\\ b\n"
      "ENV legacy value with  spaces\n"
      "LABEL \"com.x\"=y\n"
      "ARG name\n"
      "ARG v=1 w\n");
  const auto& c = df.stages[0].commands;
  ASSERT_EQ(c[0].pairs.size(), 3u);
  EXPECT_EQ(c[0].pairs[1].key, "k2");
  EXPECT_EQ(*c[0].pairs[1].value, "\"v 2\"");
  EXPECT_EQ(*c[0].pairs[2].value, "a\\ b");
  ASSERT_EQ(c[1].pairs.size(), 1u);
  EXPECT_EQ(c[1].pairs[0].key, "legacy");
  EXPECT_EQ(*c[1].pairs[0].value, "value with  spaces");
  EXPECT_EQ(c[2].pairs[0].key, "\"com.x\"");
  EXPECT_FALSE(c[3].pairs[0].value.has_value());
  ASSERT_EQ(c[4].pairs.size(), 2u);
  EXPECT_EQ(*c[4].pairs[0].value, "1");
  EXPECT_FALSE(c[4].pairs[1].value);
  EXPECT_EQ(parse_error("FROM a\nENV onlykey\n"),
            "Dockerfile parse error line 2: ENV must have two arguments");
  EXPECT_EQ(parse_error("FROM a\nENV a=b c\n"),
            "Dockerfile parse error line 2: Syntax error - can't find = in \"c\". Must be of "
            "the form: name=value");
  EXPECT_EQ(parse_error("FROM a\nLABEL =x\n"),
            "Dockerfile parse error line 2: LABEL names can not be blank");
  EXPECT_EQ(parse_error("FROM a\nARG\n"),
            "Dockerfile parse error line 2: ARG requires at least one argument");
}

TEST(DockerfileParse, FlagsAndFrom) {
  auto df = parse_dockerfile(
      "FROM --platform=linux/arm64 alpine:3 as base\n"
      "COPY --chown=1:2 --chmod=0755 --link a b /d/\n"
      "ADD --chown=\"app\" x /y\n");
  EXPECT_EQ(df.stages[0].from.flag("platform"), "linux/arm64");
  const auto& c = df.stages[0].commands;
  EXPECT_EQ(c[0].flag("chown"), "1:2");
  EXPECT_EQ(c[0].flag("chmod"), "0755");
  EXPECT_EQ(c[0].flag("link"), "true");
  EXPECT_EQ(c[0].args, (std::vector<std::string>{"a", "b", "/d/"}));
  EXPECT_EQ(c[1].flag("chown"), "app");
  EXPECT_EQ(parse_error("FROM a b\n"),
            "Dockerfile parse error line 1: FROM requires either one or three arguments");
  EXPECT_EQ(parse_error("FROM a to b\n"),
            "Dockerfile parse error line 1: FROM requires either one or three arguments");
  EXPECT_NE(parse_error("FROM a AS 1x\n").find("invalid name for build stage"), std::string::npos);
  EXPECT_EQ(parse_error("FROM a\nCOPY --bogus=1 a b\n"),
            "Dockerfile parse error line 2: unknown flag: bogus");
  EXPECT_EQ(parse_error("FROM a\nCOPY --from a b\n"),
            "Dockerfile parse error line 2: Missing a value on flag: from");
  EXPECT_EQ(parse_error("FROM a\nCOPY --from=x --from=y a b\n"),
            "Dockerfile parse error line 2: Duplicate flag specified: from");
  EXPECT_EQ(parse_error("FROM a\nRUN --mount=type=cache,target=/x make\n"),
            "Dockerfile parse error line 2: the --mount option requires BuildKit. Refer to "
            "https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit "
            "enabled");
  EXPECT_EQ(parse_error("FROM a\nCOPY onlyone\n"),
            "Dockerfile parse error line 2: COPY requires at least two arguments, but only one "
            "was provided. Destination could not be determined.");
  EXPECT_EQ(parse_error("FROM a AS x\nFROM b AS X\n"),
            "Dockerfile parse error line 2: duplicate stage name \"x\"");
}

TEST(DockerfileParse, Healthcheck) {
  auto df = parse_dockerfile(
      "FROM a\n"
      "HEALTHCHECK --interval=30s --timeout=1m30s --start-period=1.5s --retries=3 CMD curl -f x\n"
      "HEALTHCHECK cmd [\"/bin/check\", \"-q\"]\n"
      "HEALTHCHECK NONE\n");
  const auto& c = df.stages[0].commands;
  ASSERT_TRUE(c[0].health);
  EXPECT_EQ(c[0].health->test, (std::vector<std::string>{"CMD-SHELL", "curl -f x"}));
  EXPECT_EQ(c[0].health->interval, 30'000'000'000);
  EXPECT_EQ(c[0].health->timeout, 90'000'000'000);
  EXPECT_EQ(c[0].health->start_period, 1'500'000'000);
  EXPECT_EQ(c[0].health->retries, 3);
  EXPECT_EQ(c[1].health->test, (std::vector<std::string>{"CMD", "/bin/check", "-q"}));
  EXPECT_EQ(c[2].health->test, std::vector<std::string>{"NONE"});
  EXPECT_EQ(parse_error("FROM a\nHEALTHCHECK NONE x\n"),
            "Dockerfile parse error line 2: HEALTHCHECK NONE takes no arguments");
  EXPECT_EQ(parse_error("FROM a\nHEALTHCHECK RUN x\n"),
            "Dockerfile parse error line 2: Unknown type \"RUN\" in HEALTHCHECK (try CMD)");
  EXPECT_EQ(parse_error("FROM a\nHEALTHCHECK --interval=10us CMD x\n"),
            "Dockerfile parse error line 2: Interval \"interval\" cannot be less than 1ms");
  EXPECT_EQ(parse_error("FROM a\nHEALTHCHECK --retries=-1 CMD x\n"),
            "Dockerfile parse error line 2: --retries cannot be negative (-1)");
  EXPECT_EQ(parse_error("FROM a\nHEALTHCHECK --timeout=abc CMD x\n"),
            "Dockerfile parse error line 2: time: invalid duration \"abc\"");
}

TEST(DockerfileParse, OnbuildAndSimpleInstructions) {
  auto df = parse_dockerfile(
      "FROM a\n"
      "ONBUILD RUN echo $x\n"
      "EXPOSE 80 443/udp\n"
      "USER app:app\n"
      "WORKDIR /srv\n"
      "STOPSIGNAL SIGKILL\n"
      "MAINTAINER Jane <j@x>\n");
  const auto& c = df.stages[0].commands;
  EXPECT_EQ(c[0].args, std::vector<std::string>{"RUN echo $x"});
  EXPECT_EQ(c[1].args, (std::vector<std::string>{"80", "443/udp"}));
  EXPECT_EQ(c[2].args, std::vector<std::string>{"app:app"});
  EXPECT_EQ(c[5].args, std::vector<std::string>{"Jane <j@x>"});
  EXPECT_EQ(parse_error("FROM a\nONBUILD ONBUILD RUN x\n"),
            "Dockerfile parse error line 2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
  EXPECT_EQ(parse_error("FROM a\nONBUILD FROM x\n"),
            "Dockerfile parse error line 2: FROM isn't allowed as an ONBUILD trigger");
  EXPECT_EQ(parse_error("FROM a\nONBUILD BOGUS x\n"),
            "Dockerfile parse error line 2: unknown instruction: BOGUS");
  EXPECT_EQ(parse_error("FROM a\nUSER\n"),
            "Dockerfile parse error line 2: USER requires exactly one argument");
  EXPECT_EQ(parse_error("FROM a\nEXPOSE\n"),
            "Dockerfile parse error line 2: EXPOSE requires at least one argument");
}

TEST(DockerfileParse, StructuralErrors) {
  EXPECT_EQ(parse_error("FROM a\nfoo bar\n"),
            "Dockerfile parse error line 2: unknown instruction: FOO");
  EXPECT_EQ(parse_error("# c\n\nRUN x\nFROM a\n"),
            "Dockerfile parse error line 3: no build stage in current context");
  EXPECT_EQ(parse_error("# only a comment\n\n"), "the Dockerfile (Dockerfile) cannot be empty");
  EXPECT_EQ(parse_error("FROM a\nRUN x \\\n  \\\nUSER\n"), "(no error)");  // USER joined in
}

TEST(DockerfileParse, CrLfAndTriggers) {
  auto df = parse_dockerfile("FROM a\r\nRUN echo \\\r\n hi\r\n");
  EXPECT_EQ(df.stages[0].commands[0].args, std::vector<std::string>{"echo  hi"});
  auto triggers = parse_instructions("RUN echo 1\nCOPY . /app\n");
  ASSERT_EQ(triggers.size(), 2u);
  EXPECT_EQ(triggers[1].kind, Kind::Copy);
  EXPECT_EQ(kind_name(Kind::Healthcheck), "HEALTHCHECK");
}

}  // namespace
}  // namespace sockerless::build
