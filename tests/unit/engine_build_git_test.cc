#include <gtest/gtest.h>

#include "common/errors.h"
#include "engine/build_git.h"

namespace bf = sockerless::engine::build_files;

TEST(BuildGit, RecognisesGitUrlsLikeDockerd) {
  EXPECT_TRUE(bf::is_git_url("git://host/repo"));
  EXPECT_TRUE(bf::is_git_url("git@github.com:owner/repo.git"));
  EXPECT_TRUE(bf::is_git_url("github.com/owner/repo"));
  EXPECT_TRUE(bf::is_git_url("https://host/owner/repo.git"));
  EXPECT_TRUE(bf::is_git_url("https://host/owner/repo.git#main:dir"));
  EXPECT_FALSE(bf::is_git_url("https://host/context.tar.gz"));
  EXPECT_FALSE(bf::is_git_url("https://host/repo.git.tar"));
  EXPECT_FALSE(bf::is_git_url("/local/path.git"));
}

TEST(BuildGit, SplitsRefAndSubdirectory) {
  auto r = bf::parse_git_url("https://host/repo.git#v1.2:docker/app");
  EXPECT_EQ(r.remote, "https://host/repo.git");
  EXPECT_EQ(r.ref, "v1.2");
  EXPECT_EQ(r.subdir, "docker/app");

  r = bf::parse_git_url("git@host:repo.git#:sub");
  EXPECT_EQ(r.remote, "git@host:repo.git");
  EXPECT_EQ(r.ref, "master");  // dockerd 20.10's default
  EXPECT_EQ(r.subdir, "sub");

  r = bf::parse_git_url("github.com/owner/repo");
  EXPECT_EQ(r.remote, "https://github.com/owner/repo");
  EXPECT_EQ(r.ref, "master");
  EXPECT_EQ(r.subdir, "");
}

TEST(BuildGit, RefusesARefThatLooksLikeAnOption) {
  EXPECT_THROW(bf::parse_git_url("git://host/repo#--upload-pack=evil"),
               sockerless::InvalidArgument);
}
