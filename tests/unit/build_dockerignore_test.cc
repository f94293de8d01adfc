#include <gtest/gtest.h>

#include "build/cache_key.h"
#include "build/dockerignore.h"

#include <nlohmann/json.hpp>

namespace sockerless::build {
namespace {

TEST(Dockerignore, ParsesLikeTheCli) {
  auto patterns = parse_dockerignore(
      "# comment\n"
      "  \n"
      "/abs/path\n"
      "./rel//x/../y\n"
      " spaced \n"
      "! keep\n"
      "!/root/keep\n"
      " # not a comment\n");
  EXPECT_EQ(patterns, (std::vector<std::string>{"abs/path", "rel/y", "spaced", "!keep",
                                                "!root/keep", "# not a comment"}));
}

TEST(Dockerignore, BasicMatchingAndParents) {
  Dockerignore ig(parse_dockerignore("node_modules\n*.log\ntmp/*\n"));
  EXPECT_TRUE(ig.excluded("node_modules"));
  EXPECT_TRUE(ig.excluded("node_modules/x/y.js"));
  EXPECT_TRUE(ig.excluded("./node_modules/x"));
  EXPECT_TRUE(ig.excluded("a.log"));
  EXPECT_FALSE(ig.excluded("dir/a.log"));  // * does not cross directories
  EXPECT_TRUE(ig.excluded("tmp/file"));
  EXPECT_TRUE(ig.excluded("tmp/sub/file"));  // its parent tmp/sub matches tmp/*
  EXPECT_FALSE(ig.excluded("tmp"));
  EXPECT_FALSE(ig.excluded("src/main.cc"));
  EXPECT_FALSE(ig.excluded("."));
}

TEST(Dockerignore, DoubleStar) {
  Dockerignore ig(parse_dockerignore("**/*.o\nbuild/**\ndocs/**/draft\n"));
  EXPECT_TRUE(ig.excluded("a.o"));
  EXPECT_TRUE(ig.excluded("x/y/z.o"));
  EXPECT_TRUE(ig.excluded("build/a/b"));
  EXPECT_FALSE(ig.excluded("build"));
  EXPECT_TRUE(ig.excluded("docs/draft"));
  EXPECT_TRUE(ig.excluded("docs/a/b/draft/file.md"));
  EXPECT_FALSE(ig.excluded("docs/final"));
}

TEST(Dockerignore, ExceptionsLaterLinesWin) {
  Dockerignore ig(parse_dockerignore("*.md\n!README.md\nREADME-secret.md\n"));
  EXPECT_TRUE(ig.excluded("CHANGELOG.md"));
  EXPECT_FALSE(ig.excluded("README.md"));
  EXPECT_TRUE(ig.excluded("README-secret.md"));

  Dockerignore again(parse_dockerignore("!README.md\n*.md\n"));
  EXPECT_TRUE(again.excluded("README.md"));  // the exclusion comes last
}

TEST(Dockerignore, ExceptionsInsideExcludedDirectories) {
  Dockerignore ig(parse_dockerignore("vendor\n!vendor/keep\n"));
  EXPECT_TRUE(ig.excluded("vendor"));
  EXPECT_TRUE(ig.excluded("vendor/other"));
  EXPECT_FALSE(ig.excluded("vendor/keep"));
  EXPECT_FALSE(ig.excluded("vendor/keep/deep"));
  EXPECT_TRUE(ig.must_descend("vendor"));
  EXPECT_FALSE(ig.must_descend("other"));

  Dockerignore wild(parse_dockerignore("*\n!**/*.go\n"));
  EXPECT_TRUE(wild.excluded("a/b.txt"));
  EXPECT_FALSE(wild.excluded("a/b.go"));
  EXPECT_TRUE(wild.must_descend("anything"));

  Dockerignore none(parse_dockerignore("secret\n"));
  EXPECT_FALSE(none.must_descend("secret"));
}

TEST(Dockerignore, DockerfileAndIgnoreFileAlwaysSent) {
  Dockerignore ig(parse_dockerignore("*\n"), "build/Dockerfile.dev");
  EXPECT_TRUE(ig.excluded("Dockerfile"));  // not the Dockerfile in use
  Dockerignore root(parse_dockerignore("*\n"));
  EXPECT_FALSE(root.excluded("Dockerfile"));
  EXPECT_FALSE(root.excluded(".dockerignore"));
  EXPECT_TRUE(root.excluded("other"));
  EXPECT_FALSE(ig.excluded("build/Dockerfile.dev"));
  EXPECT_FALSE(ig.excluded(".dockerignore"));
}

TEST(Dockerignore, BuildFilesTheBuilderRemoves) {
  // What the CLI writes for a Dockerfile from outside the context.
  EXPECT_EQ(build_files_to_remove(parse_dockerignore(".dockerignore\n.dockerfile.abc\n"),
                                  ".dockerfile.abc"),
            (std::vector<std::string>{".dockerignore", ".dockerfile.abc"}));
  EXPECT_TRUE(build_files_to_remove(parse_dockerignore("secret\n"), "Dockerfile").empty());
  EXPECT_EQ(build_files_to_remove(parse_dockerignore("*\n!keep\n"), "./Dockerfile"),
            (std::vector<std::string>{".dockerignore", "Dockerfile"}));
  EXPECT_EQ(build_files_to_remove(parse_dockerignore("docker\n"), "docker/Dockerfile.dev"),
            (std::vector<std::string>{"docker/Dockerfile.dev"}));
  EXPECT_TRUE(
      build_files_to_remove(parse_dockerignore("Dockerfile\n!Dockerfile\n"), "Dockerfile").empty());
  // The Dockerfile named .dockerignore is named once.
  EXPECT_EQ(build_files_to_remove(parse_dockerignore(".*\n"), ".dockerignore"),
            (std::vector<std::string>{".dockerignore"}));
}

TEST(Dockerignore, ExceptionsWithSpacesBelowAnIgnoredDirectory) {
  Dockerignore ig(parse_dockerignore("my dir\n!my dir/keep me\n"));
  EXPECT_TRUE(ig.excluded("my dir"));
  EXPECT_TRUE(ig.excluded("my dir/drop me"));
  EXPECT_FALSE(ig.excluded("my dir/keep me"));
  EXPECT_TRUE(ig.must_descend("my dir"));
}

TEST(Dockerignore, CleanPath) {
  EXPECT_EQ(clean_path("./a//b/../c/"), "a/c");
  EXPECT_EQ(clean_path(""), ".");
  EXPECT_EQ(clean_path("/../x"), "/x");
  EXPECT_EQ(clean_path("../x"), "../x");
}

TEST(BuildCacheKey, StableAndSensitive) {
  std::vector<SourceEntry> a = {{"b", 0644, 0, 0, 3, "sha256:1"}, {"a", 0755, 0, 0, 5, "sha256:2"}};
  std::vector<SourceEntry> b = {a[1], a[0]};
  EXPECT_EQ(hash_sources(a), hash_sources(b));
  EXPECT_EQ(hash_sources(a).size(), 64u);
  b[0].mode = 0700;
  EXPECT_NE(hash_sources(a), hash_sources(b));
  b = a;
  b[1].uid = 1;
  EXPECT_NE(hash_sources(a), hash_sources(b));

  std::vector<std::string> cmd = {"/bin/sh", "-c", "echo hi"};
  auto key = step_cache_key("sha256:parent", cmd);
  EXPECT_EQ(key.rfind("sha256:", 0), 0u);
  EXPECT_EQ(key, step_cache_key("sha256:parent", cmd));
  EXPECT_NE(key, step_cache_key("sha256:other", cmd));
  EXPECT_NE(key, step_cache_key("sha256:parent", {"/bin/sh", "-c echo", "hi"}));
  EXPECT_NE(key, step_cache_key("sha256:parent", cmd, "abc"));
  nlohmann::json config = {{"Env", {"A=1"}}};
  EXPECT_NE(step_cache_key("p", cmd, "", config), step_cache_key("p", cmd, "", {{"Env", {"A=2"}}}));
  EXPECT_EQ(source_label(SourceShape::File, "ab"), "file:ab");
  EXPECT_EQ(source_label(SourceShape::Dir, "ab"), "dir:ab");
  EXPECT_EQ(source_label(SourceShape::Multi, "ab"), "multi:ab");
}

}  // namespace
}  // namespace sockerless::build
