// docker cp's path rules against a temporary directory standing in for a container's root:
// cleaning that keeps a trailing "/" or "/.", links followed inside the root and never
// above it, what HEAD/GET report and where PUT extracts.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/unique_fd.h"
#include "sandbox/archive_path.h"
#include "sandbox_test_support.h"

namespace sockerless::sandbox::testing {
namespace {

TEST(ArchivePath, CleansLikeGo) {
  EXPECT_EQ(clean_path("/a/./b/../c/"), "/a/c");
  EXPECT_EQ(clean_path("/../x"), "/x");
  EXPECT_EQ(clean_path("a/../../x"), "../x");
  EXPECT_EQ(clean_path("./"), ".");
  EXPECT_EQ(clean_path(""), ".");
  EXPECT_EQ(clean_path("//a//b"), "/a/b");
  EXPECT_EQ(base_name("/a/b/"), "b");
  EXPECT_EQ(base_name("/a/."), ".");
  EXPECT_EQ(base_name("/"), "/");
  EXPECT_EQ(base_name("x"), "x");
}

TEST(ArchivePath, KeepsATrailingSeparatorOrDot) {
  EXPECT_EQ(container_abs_path("dir/."), "/dir/.");
  EXPECT_EQ(container_abs_path("/a/../b/"), "/b/");
  EXPECT_EQ(container_abs_path("/a/./"), "/a/./");
  EXPECT_EQ(container_abs_path("/"), "/");
  EXPECT_EQ(container_abs_path("."), "/.");
  EXPECT_EQ(container_abs_path("/a/b/.."), "/a");
  EXPECT_EQ(container_abs_path("rel/file"), "/rel/file");
}

class ArchiveRoot : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_.path() + "/a/sub");
    write_file(dir_.path() + "/a/f", "content");
    fs::create_symlink("f", dir_.path() + "/a/rel");
    fs::create_symlink("/a", dir_.path() + "/abs");
    fs::create_symlink("../../../a", dir_.path() + "/a/up");
    fs::create_symlink("/nowhere/x", dir_.path() + "/dangling");
    fs::create_symlink("loop2", dir_.path() + "/loop1");
    fs::create_symlink("loop1", dir_.path() + "/loop2");
    root_ = UniqueFd(::open(dir_.path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(root_);
  }

  int error_of(void (*f)(int)) {
    try {
      f(root_.get());
    } catch (const PathError& e) {
      return e.error();
    }
    return 0;
  }

  TempDir dir_;
  UniqueFd root_;
};

TEST_F(ArchiveRoot, ResolvesLinksInsideTheRoot) {
  int root = root_.get();
  EXPECT_EQ(resolve_in_root(root, "/abs/rel"), "/a/f");
  EXPECT_EQ(resolve_in_root(root, "/a/up/f"), "/a/f");  // ".." stops at the root
  EXPECT_EQ(resolve_in_root(root, "/dangling"), "/nowhere/x");
  EXPECT_EQ(resolve_in_root(root, "/abs/missing/../sub"), "/a/sub");
  EXPECT_EQ(resolve_in_root(root, "/"), "/");
  EXPECT_EQ(error_of([](int r) { resolve_in_root(r, "/a/f/x"); }), ENOTDIR);
  EXPECT_EQ(error_of([](int r) { resolve_in_root(r, "/loop1"); }), ELOOP);
}

TEST_F(ArchiveRoot, StatsTheLinkButLooksThroughATrailingSlash) {
  int root = root_.get();
  auto link = stat_for_archive(root, "/abs");
  EXPECT_TRUE(S_ISLNK(link.st.st_mode));
  EXPECT_EQ(link.name, "abs");
  EXPECT_EQ(link.link_target, "/a");
  EXPECT_EQ(link.source, "/abs");
  EXPECT_EQ(stat_for_archive(root, "/a/up").link_target, "/a");

  auto through = stat_for_archive(root, "/abs/");
  EXPECT_TRUE(S_ISDIR(through.st.st_mode));
  EXPECT_EQ(through.name, "abs");
  EXPECT_EQ(through.source, "/a");
  EXPECT_EQ(through.link_target, "");

  auto contents = stat_for_archive(root, "abs/.");
  EXPECT_EQ(contents.name, ".");
  EXPECT_EQ(contents.source, "/a");

  auto file = stat_for_archive(root, "/abs/rel");  // a link's parent is followed, not itself
  EXPECT_TRUE(S_ISLNK(file.st.st_mode));
  EXPECT_EQ(file.source, "/a/rel");
  EXPECT_EQ(file.link_target, "/a/f");

  EXPECT_EQ(stat_for_archive(root, "/").name, "/");
  EXPECT_EQ(error_of([](int r) { stat_for_archive(r, "/nope"); }), ENOENT);
  EXPECT_EQ(error_of([](int r) { stat_for_archive(r, "/dangling/"); }), ENOENT);
  EXPECT_EQ(error_of([](int r) { stat_for_archive(r, "/a/f/"); }), ENOTDIR);
  try {
    stat_for_archive(root, "/a/f/.");
    ADD_FAILURE() << "a file looked into";
  } catch (const PathError& e) {
    EXPECT_STREQ(e.what(), "lstat /a/f/.: not a directory");
  }
}

TEST_F(ArchiveRoot, ExtractsIntoTheDirectoryALinkLeadsTo) {
  int root = root_.get();
  EXPECT_EQ(extraction_dir(root, "/abs"), "/a");
  EXPECT_EQ(extraction_dir(root, "/a/up/sub/"), "/a/sub");
  EXPECT_EQ(error_of([](int r) { extraction_dir(r, "/nope"); }), ENOENT);
  EXPECT_EQ(error_of([](int r) { extraction_dir(r, "/dangling"); }), ENOENT);
  try {
    extraction_dir(root, "/abs/rel");
    ADD_FAILURE() << "a file taken for a directory";
  } catch (const PathError& e) {
    EXPECT_STREQ(e.what(), "extraction point is not a directory");
  }
}

}  // namespace
}  // namespace sockerless::sandbox::testing
