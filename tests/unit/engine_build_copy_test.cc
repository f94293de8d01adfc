#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>

#include <fcntl.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "common/errors.h"
#include "common/unique_fd.h"
#include "engine/build_copy.h"

namespace sockerless::engine::build_files {
namespace {

namespace fs = std::filesystem;

struct Context {
  Context() : dir(fs::temp_directory_path() / ("build-copy-test-" + std::to_string(::getpid()))) {
    write("a.txt", "a");
    write("b.txt", "b");
    write("dir/c.txt", "c");
    write("dir/skip.log", "s");
  }
  void write(const std::string& rel, const std::string& text) {
    fs::create_directories((fs::path(dir.path()) / rel).parent_path());
    std::ofstream(dir.path() + "/" + rel) << text;
  }
  TempDir dir;
};

std::vector<std::string> tar_names(const std::string& path) {
  std::vector<std::string> names;
  struct archive* a = archive_read_new();
  archive_read_support_format_tar(a);
  EXPECT_EQ(archive_read_open_filename(a, path.c_str(), 10240), ARCHIVE_OK);
  struct archive_entry* e = nullptr;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK)
    names.push_back(std::string(archive_entry_pathname(e)) + ":" +
                    std::to_string(archive_entry_uid(e)));
  archive_read_free(a);
  return names;
}

TEST(BuildCopy, GlobsAndDockerignore) {
  Context ctx;
  build::Dockerignore ignore({"**/*.log"});
  auto items = context_items(ctx.dir.path(), ignore, {"*.txt"}, "COPY");
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].name, "a.txt");
  EXPECT_EQ(items[1].name, "b.txt");
  EXPECT_THROW(context_items(ctx.dir.path(), ignore, {"dir/skip.log"}, "COPY"), InvalidArgument);
  EXPECT_THROW(context_items(ctx.dir.path(), ignore, {"../x"}, "COPY"), InvalidArgument);
  auto dir = context_items(ctx.dir.path(), ignore, {"dir"}, "COPY");
  ASSERT_EQ(dir.size(), 1u);
  EXPECT_TRUE(dir[0].dir);
  EXPECT_EQ(source_label(dir, &ignore).rfind("dir:", 0), 0u);
  EXPECT_EQ(source_label(items, &ignore).rfind("multi:", 0), 0u);
  EXPECT_EQ(source_label({items[0]}, &ignore).rfind("file:", 0), 0u);
  // The label follows content: an ignored file changing leaves it alone.
  auto before = source_label(dir, &ignore);
  ctx.write("dir/skip.log", "changed");
  EXPECT_EQ(source_label(dir, &ignore), before);
  ctx.write("dir/c.txt", "changed");
  EXPECT_NE(source_label(dir, &ignore), before);
}

TEST(BuildCopy, TarPutsDirectoryContentsUnderDest) {
  Context ctx;
  build::Dockerignore ignore({"**/*.log"});
  auto dir = context_items(ctx.dir.path(), ignore, {"dir"}, "COPY");
  CopyDest dest;
  dest.dir = "app/x";
  dest.missing_dirs = {"app", "app/x"};
  Ownership owner;
  owner.uid = 7;
  owner.gid = 8;
  std::string tar = ctx.dir.path() + "/out.tar";
  write_copy_tar(dir, dest, owner, &ignore, tar);
  EXPECT_EQ(tar_names(tar), (std::vector<std::string>{"app/:7", "app/x/:7", "app/x/c.txt:7"}));
}

// A ustar member: header block (name, mode, size, checksum) and its data, unpadded.
std::string tar_member(const std::string& name, const std::string& data) {
  std::string h(512, '\0');
  h.replace(0, name.size(), name);
  h.replace(100, 7, "0000644");
  char size[12];
  std::snprintf(size, sizeof size, "%011o", static_cast<unsigned>(data.size()));
  h.replace(124, 11, size);
  h[156] = '0';
  h.replace(257, 5, "ustar");
  h.replace(263, 2, "00");
  h.replace(148, 8, "        ");
  unsigned sum = 0;
  for (unsigned char c : h)
    sum += c;
  char chk[8];
  std::snprintf(chk, sizeof chk, "%06o", sum);
  h.replace(148, 7, std::string(chk, 6) + '\0');
  return h + data;
}

std::string padded(const std::string& member) {
  return member + std::string((512 - member.size() % 512) % 512, '\0');
}

TEST(BuildCopy, CompletesATarCutAfterItsLastMember) {
  TempDir dir(fs::temp_directory_path() / ("tar-end-test-" + std::to_string(::getpid())));
  auto write = [&](const std::string& bytes) {
    std::ofstream(dir.path() + "/t.tar", std::ios::binary) << bytes;
    complete_tar_end(dir.path() + "/t.tar");
    std::ifstream in(dir.path() + "/t.tar", std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  // What the docker CLI sends with a Dockerfile from outside the context.
  std::string cut = padded(tar_member("a.txt", "a\n")) + tar_member(".dockerignore", "x\n");
  std::string fixed = write(cut);
  EXPECT_EQ(fixed, padded(cut) + std::string(1024, '\0'));
  TempDir out(dir.path() + "/out");
  UniqueFd fd(::open((dir.path() + "/t.tar").c_str(), O_RDONLY));
  extract_tar(fd.get(), out.path());
  EXPECT_TRUE(fs::exists(out.path() + "/.dockerignore"));
  // Complete archives, other bodies and archives cut inside a member stay as they are.
  EXPECT_EQ(write(fixed), fixed);
  EXPECT_EQ(write("FROM busybox\n"), "FROM busybox\n");
  EXPECT_EQ(write(""), "");
  std::string inside = padded(tar_member("a.txt", std::string(600, 'a'))).substr(0, 900);
  EXPECT_EQ(write(inside), inside);
}

TEST(BuildCopy, LookupIdInPasswd) {
  std::string passwd = "root:x:0:0:root:/root:/bin/sh\napp:x:1234:99::/home/app:/bin/sh\n";
  EXPECT_EQ(lookup_id(passwd, "app"), 1234u);
  EXPECT_EQ(lookup_id(passwd, "root"), 0u);
  EXPECT_FALSE(lookup_id(passwd, "nobody"));
}

}  // namespace
}  // namespace sockerless::engine::build_files
