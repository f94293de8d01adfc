// The tar streams of docker cp in a temporary directory standing in for a container's root:
// what GET writes (Go's layout: order, names, modes with the file type, hard links, PAX for
// long names), which uploads are refused whole, and how PUT unpacks (dockerd's Unpack).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <map>

#include "common/unique_fd.h"
#include "monitor/archive_extract.h"
#include "monitor/archive_tar.h"
#include "sandbox_test_support.h"

namespace sockerless::monitor {
namespace {

using sandbox::testing::read_file;
using sandbox::testing::TempDir;
using sandbox::testing::write_file;
namespace fs = std::filesystem;

struct Entry {
  std::string name;
  char type = '0';
  long mode = 0;
  long uid = 0, gid = 0;
  std::string linkname, uname, content;
  long mtime = 0;
};

long octal(const char* field, std::size_t width) {
  return std::strtol(std::string(field, strnlen(field, width)).c_str(), nullptr, 8);
}

// Enough of a tar reader for what write_archive writes: USTAR with prefix, PAX "path".
std::vector<Entry> read_tar(const std::string& data) {
  std::vector<Entry> out;
  std::string pax_path;
  for (std::size_t off = 0; off + 512 <= data.size();) {
    const char* b = data.data() + off;
    if (b[0] == '\0') break;
    Entry e;
    e.name = std::string(b, strnlen(b, 100));
    std::string prefix(b + 345, strnlen(b + 345, 155));
    if (!prefix.empty()) e.name = prefix + "/" + e.name;
    e.mode = octal(b + 100, 8);
    e.uid = octal(b + 108, 8);
    e.gid = octal(b + 116, 8);
    long size = octal(b + 124, 12);
    e.mtime = octal(b + 136, 12);
    e.type = b[156];
    e.linkname = std::string(b + 157, strnlen(b + 157, 100));
    e.uname = std::string(b + 265, strnlen(b + 265, 32));
    e.content = data.substr(off + 512, static_cast<std::size_t>(size));
    off += 512 + (static_cast<std::size_t>(size) + 511) / 512 * 512;
    if (e.type == 'x') {
      auto at = e.content.find(" path=");
      pax_path = e.content.substr(at + 6, e.content.find('\n', at) - at - 6);
      continue;
    }
    if (!pax_path.empty()) e.name = std::exchange(pax_path, "");
    out.push_back(e);
  }
  return out;
}

// A USTAR archive for uploads: (name, type, body-or-link) with the given owners and mode.
std::string make_tar(const std::vector<Entry>& entries) {
  std::string out;
  for (const auto& e : entries) {
    char b[512] = {};
    std::strncpy(b, e.name.c_str(), 100);
    std::snprintf(b + 100, 8, "%07lo", e.mode ? e.mode : (e.type == '5' ? 0755 : 0644));
    std::snprintf(b + 108, 8, "%07lo", e.uid);
    std::snprintf(b + 116, 8, "%07lo", e.gid);
    std::snprintf(b + 124, 12, "%011lo", e.type == '0' ? static_cast<long>(e.content.size()) : 0L);
    std::snprintf(b + 136, 12, "%011lo", e.mtime ? e.mtime : 981173106L);
    b[156] = e.type;
    std::strncpy(b + 157, e.linkname.c_str(), 100);
    std::memcpy(b + 257,
                "ustar\0"
                "00",
                8);
    std::memset(b + 148, ' ', 8);
    unsigned sum = 0;
    for (unsigned char c : b)
      sum += c;
    std::snprintf(b + 148, 8, "%06o", sum);
    out.append(b, 512);
    if (e.type == '0') {
      out += e.content;
      out.append((512 - e.content.size() % 512) % 512, '\0');
    }
  }
  out.append(1024, '\0');
  return out;
}

class ArchiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = UniqueFd(::open(dir_.path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(root_);
  }

  std::string path(const std::string& rel) const { return dir_.path() + rel; }

  std::string get(const std::string& source, const std::string& rebase) {
    std::string out = scratch_.path() + "/out.tar";
    UniqueFd fd(::open(out.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    EXPECT_TRUE(write_archive(root_.get(), source, rebase, fd.get()));
    std::string data = read_file(out);
    ::unlink(out.c_str());
    return data;
  }

  UniqueFd upload(const std::string& tar) {
    UniqueFd fd(::open(dir_.path().c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
    EXPECT_EQ(::write(fd.get(), tar.data(), tar.size()), static_cast<ssize_t>(tar.size()));
    return fd;
  }

  std::optional<UploadProblem> refused(const std::vector<Entry>& entries, const std::string& dest) {
    return refuse_upload(upload(make_tar(entries)).get(), dest);
  }

  void put(const std::vector<Entry>& entries, const std::string& dest,
           ExtractOptions options = {}) {
    UniqueFd tar = upload(make_tar(entries));
    ASSERT_FALSE(refuse_upload(tar.get(), dest));
    extract_upload(root_.get(), dest, tar.get(), options);
  }

  struct stat lstat_of(const std::string& rel) {
    struct stat st {};
    EXPECT_EQ(::lstat(path(rel).c_str(), &st), 0) << rel;
    return st;
  }

  TempDir dir_, scratch_;
  UniqueFd root_;
};

TEST_F(ArchiveTest, WritesEntriesInOrderWithTypesInTheModeAndHardLinks) {
  fs::create_directories(path("/d/sub"));
  write_file(path("/d/b"), "bee");
  write_file(path("/d/a"), "aye");
  ::chmod(path("/d/a").c_str(), 0640);
  ::chmod(path("/d").c_str(), 0750);
  fs::create_hard_link(path("/d/a"), path("/d/h"));
  fs::create_symlink("a", path("/d/l"));
  write_file(path("/etc/passwd"), "root:x:0:0::/root:/bin/sh\n");

  auto entries = read_tar(get("/d", "renamed"));
  std::vector<std::string> names;
  for (const auto& e : entries)
    names.push_back(e.name);
  EXPECT_EQ(names, (std::vector<std::string>{"renamed/", "renamed/a", "renamed/b", "renamed/h",
                                             "renamed/l", "renamed/sub/"}));
  EXPECT_EQ(entries[0].type, '5');
  EXPECT_EQ(entries[0].mode, 040750);
  EXPECT_EQ(entries[0].uname, "root");
  EXPECT_EQ(entries[1].mode, 0100640);
  EXPECT_EQ(entries[1].content, "aye");
  EXPECT_EQ(entries[3].type, '1');
  EXPECT_EQ(entries[3].linkname, "renamed/a");
  EXPECT_EQ(entries[3].content, "");
  EXPECT_EQ(entries[4].type, '2');
  EXPECT_EQ(entries[4].mode, 0120777);
  EXPECT_EQ(entries[4].linkname, "a");

  EXPECT_EQ(read_tar(get("/d", "."))[1].name, "./a");
  EXPECT_EQ(read_tar(get("/d/l", "l")).size(), 1u);  // a link is not followed
  auto whole = read_tar(get("/", "/"));
  EXPECT_EQ(whole[0].name, "/");
  EXPECT_EQ(whole[1].name, "/d/");
  auto exported = read_tar(get("/", ""));
  EXPECT_EQ(exported[0].name, "d/");
}

TEST_F(ArchiveTest, LongNamesSplitIntoThePrefixOrGoToPax) {
  std::string mid(90, 'm');
  fs::create_directories(path("/" + mid));
  write_file(path("/" + mid + "/" + std::string(20, 'f')), "x");
  std::string deep = std::string(120, 'n');
  fs::create_directories(path("/" + deep));
  auto split = read_tar(get("/" + mid, mid));
  EXPECT_EQ(split[1].name, mid + "/" + std::string(20, 'f'));
  std::string raw = get("/" + deep, deep);
  EXPECT_EQ(raw[156], 'x');  // an extended header first
  EXPECT_EQ(read_tar(raw)[0].name, deep + "/");
}

TEST_F(ArchiveTest, RefusesArchivesThatWouldLeaveTheDestination) {
  ASSERT_TRUE(refused({{"../x"}}, "/d"));
  EXPECT_EQ(refused({{"../x"}}, "/d")->status, 400);
  ASSERT_TRUE(refused({{"a/../../x"}}, "/d"));
  EXPECT_EQ(refused({{"a/../../x"}}, "/d")->message, "\"a/../../x\" is outside of \"/d\"");
  // Absolute names and hard link targets are taken beneath the destination, as dockerd.
  EXPECT_FALSE(refused({{"/abs"}}, "/d"));
  EXPECT_FALSE(refused({{"/../abs"}, {"h", '1', 0, 0, 0, "/abs"}}, "/d"));
  EXPECT_FALSE(refused({{"/abs/../../x"}}, "/d"));  // "/x" after cleaning
  EXPECT_TRUE(refused({{"l", '2', 0, 0, 0, "/etc"}, {"l/x"}}, "/d"));
  EXPECT_TRUE(refused({{"h", '1', 0, 0, 0, "../x"}}, "/d"));
  ASSERT_TRUE(refused({{"l", '2', 0, 0, 0, "../../x"}}, "/d"));
  EXPECT_EQ(refused({{"l", '2', 0, 0, 0, "../../x"}}, "/d")->message,
            "invalid symlink \"/d/l\" -> \"../../x\"");
  EXPECT_FALSE(refused({{"l", '2', 0, 0, 0, "../../x"}}, "/"));  // the root stops it
  EXPECT_FALSE(refused({{"l", '2', 0, 0, 0, "/etc"}, {"a/../b"}, {"l", '5'}, {"l/x"}}, "/d"));
  UniqueFd garbage = upload(std::string(1024, 'x'));
  auto problem = refuse_upload(garbage.get(), "/d");
  ASSERT_TRUE(problem);
  EXPECT_EQ(problem->status, 500);
  EXPECT_EQ(problem->message, "archive/tar: invalid tar header");
  std::string whole = make_tar({{"big", '0', 0, 0, 0, "", "", std::string(4000, 'y')}});
  UniqueFd truncated = upload(whole.substr(0, 2048));
  problem = refuse_upload(truncated.get(), "/d");
  ASSERT_TRUE(problem);
  EXPECT_EQ(problem->message, "unexpected EOF");
  UniqueFd empty = upload("");
  EXPECT_FALSE(refuse_upload(empty.get(), "/d"));
}

TEST_F(ArchiveTest, AbsoluteNamesLandBeneathTheDestination) {
  if (::geteuid() != 0) GTEST_SKIP() << "owners need root";
  fs::create_directories(path("/dest"));
  put({{"/var/run/act/f", '0', 0644, 0, 0, "", "", "x"},
       {"/../up", '0', 0644, 0, 0, "", "", "y"},
       {"/h", '1', 0644, 0, 0, "/var/run/act/f"}},
      "/dest");
  EXPECT_EQ(lstat_of("/dest/var/run/act/f").st_nlink, 2u);
  EXPECT_EQ(lstat_of("/dest/h").st_ino, lstat_of("/dest/var/run/act/f").st_ino);
  EXPECT_TRUE(fs::exists(path("/dest/up")));
  EXPECT_FALSE(fs::exists(path("/var")));
}

TEST_F(ArchiveTest, UnpacksLikeDockerd) {
  if (::geteuid() != 0) GTEST_SKIP() << "owners need root";
  fs::create_directories(path("/dest/existing"));
  write_file(path("/dest/file"), "old");
  put({{"top", '5', 0750, 1000, 1000},
       {"top/f", '0', 04711, 12, 34, "", "", "content"},
       {"top/h", '1', 04711, 12, 34, "top/f"},
       {"top/l", '2', 0, 5, 6, "f"},
       {"deep/er/f", '0', 0, 0, 0, "", "", "x"},
       {"file", '5'},
       {".", '5', 0700}},
      "/dest");
  EXPECT_EQ(lstat_of("/dest/top").st_mode, static_cast<mode_t>(040750));
  EXPECT_EQ(lstat_of("/dest/top").st_uid, 1000u);
  EXPECT_EQ(lstat_of("/dest/top").st_mtime, 981173106);
  // As with dockerd: the hard link's lchown clears set-uid, and its chmod is skipped
  // (its target is looked up from the root, not from the destination).
  EXPECT_EQ(lstat_of("/dest/top/f").st_mode, static_cast<mode_t>(0100711));
  EXPECT_EQ(lstat_of("/dest/top/f").st_gid, 34u);
  EXPECT_EQ(lstat_of("/dest/top/f").st_nlink, 2u);
  EXPECT_EQ(fs::read_symlink(path("/dest/top/l")), "f");
  EXPECT_EQ(lstat_of("/dest/top/l").st_uid, 5u);
  EXPECT_EQ(lstat_of("/dest/deep").st_mode, static_cast<mode_t>(040755));  // made on the way
  EXPECT_EQ(read_file(path("/dest/deep/er/f")), "x");
  EXPECT_TRUE(S_ISDIR(lstat_of("/dest/file").st_mode));  // the file in the way replaced
  EXPECT_EQ(lstat_of("/dest").st_mode & 07777, 0755u);   // "." is left alone

  ExtractOptions no_overwrite;
  no_overwrite.no_overwrite_dir_non_dir = true;
  try {
    put({{"existing"}}, "/dest", no_overwrite);
    ADD_FAILURE() << "a directory replaced by a file";
  } catch (const ExtractError& e) {
    EXPECT_STREQ(e.what(),
                 "cannot overwrite directory \"/dest/existing\" with non-directory \"/dest\"");
  }
  EXPECT_THROW(put({{"top/f", '5'}}, "/dest", no_overwrite), ExtractError);

  ExtractOptions owner;
  owner.owner = std::make_pair(uid_t{7}, gid_t{8});
  put({{"owned", '0', 0, 1, 2, "", "", "o"}}, "/dest", owner);
  EXPECT_EQ(lstat_of("/dest/owned").st_uid, 7u);
  EXPECT_EQ(lstat_of("/dest/owned").st_gid, 8u);
}

}  // namespace
}  // namespace sockerless::monitor
