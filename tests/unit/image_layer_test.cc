#include "image/layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/digest.h"
#include "common/errors.h"

namespace sockerless::image {
namespace {

namespace fs = std::filesystem;

struct Entry {
  std::string name;
  std::string content;
  bool dir = false;
  std::string symlink;
};

// Writes a tar (gzip when asked) and returns the uncompressed bytes' digest.
std::string write_tar(const std::string& path, const std::vector<Entry>& entries, bool gzip) {
  std::string raw;
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_open_memory(a, nullptr, 0, nullptr);  // placeholder replaced below
  archive_write_free(a);
  a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  std::vector<char> buf(1 << 20);
  size_t used = 0;
  archive_write_open_memory(a, buf.data(), buf.size(), &used);
  for (const auto& e : entries) {
    archive_entry* ae = archive_entry_new();
    archive_entry_set_pathname(ae, e.name.c_str());
    if (e.dir) {
      archive_entry_set_filetype(ae, AE_IFDIR);
      archive_entry_set_perm(ae, 0755);
    } else if (!e.symlink.empty()) {
      archive_entry_set_filetype(ae, AE_IFLNK);
      archive_entry_set_symlink(ae, e.symlink.c_str());
      archive_entry_set_perm(ae, 0777);
    } else {
      archive_entry_set_filetype(ae, AE_IFREG);
      archive_entry_set_perm(ae, 0644);
      archive_entry_set_size(ae, static_cast<la_int64_t>(e.content.size()));
    }
    archive_write_header(a, ae);
    if (!e.dir && e.symlink.empty()) archive_write_data(a, e.content.data(), e.content.size());
    archive_entry_free(ae);
  }
  archive_write_close(a);
  archive_write_free(a);
  raw.assign(buf.data(), used);
  if (!gzip) {
    std::ofstream(path, std::ios::binary) << raw;
  } else {
    archive* g = archive_write_new();
    archive_write_add_filter_gzip(g);
    archive_write_set_format_raw(g);
    archive_write_open_filename(g, path.c_str());
    archive_entry* ae = archive_entry_new();
    archive_entry_set_filetype(ae, AE_IFREG);
    archive_write_header(g, ae);
    archive_write_data(g, raw.data(), raw.size());
    archive_entry_free(ae);
    archive_write_close(g);
    archive_write_free(g);
  }
  return sha256_digest(raw);
}

class LayerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sockerless-layer-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(LayerTest, ScanGivesDiffIdAndSize) {
  std::string blob = (dir_ / "l.tgz").string();
  std::string diff = write_tar(blob, {{"etc", "", true}, {"etc/a", "12345"}, {"b", "xy"}}, true);
  auto info = scan_layer(blob);
  EXPECT_EQ(info.diff_id, diff);
  EXPECT_EQ(info.size, 7u);
}

TEST_F(LayerTest, ScanRejectsGarbage) {
  std::string blob = (dir_ / "bad").string();
  std::ofstream(blob) << std::string(1000, 'x');
  EXPECT_THROW(scan_layer(blob), InvalidArgument);
}

TEST_F(LayerTest, UnpackWritesOverlayWhiteouts) {
  if (::geteuid() != 0) GTEST_SKIP() << "whiteout devices need root";
  std::string blob = (dir_ / "l.tar").string();
  write_tar(blob,
            {{"etc", "", true},
             {"etc/.wh.removed", ""},
             {"opaque", "", true},
             {"opaque/.wh..wh..opq", ""},
             {"opaque/kept", "k"},
             {"./link", "", false, "etc"}},
            false);
  std::string dest = (dir_ / "out").string();
  unpack_layer(blob, dest);
  struct stat st {};
  ASSERT_EQ(::lstat((dest + "/etc/removed").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(0, 0));
  char value[8] = {};
  ASSERT_EQ(::getxattr((dest + "/opaque").c_str(), "trusted.overlay.opaque", value, sizeof value),
            1);
  EXPECT_EQ(value[0], 'y');
  EXPECT_TRUE(fs::exists(dest + "/opaque/kept"));
  EXPECT_FALSE(fs::exists(dest + "/opaque/.wh..wh..opq"));
  EXPECT_TRUE(fs::is_symlink(dest + "/link"));
}

TEST_F(LayerTest, UnpackRefusesEscapes) {
  std::string blob = (dir_ / "evil.tar").string();
  write_tar(blob, {{"../escaped", "x"}}, false);
  EXPECT_THROW(unpack_layer(blob, (dir_ / "out").string()), InvalidArgument);
  EXPECT_FALSE(fs::exists(dir_ / "escaped"));
  std::string blob2 = (dir_ / "evil2.tar").string();
  write_tar(blob2, {{"sub", "", false, "/"}, {"sub/etc/passwd-sockerless-test", "x"}}, false);
  // A symlinked parent is never followed out of the root: libarchive replaces the link
  // with a directory (ARCHIVE_EXTRACT_UNLINK + SECURE_SYMLINKS), so the file lands inside.
  unpack_layer(blob2, (dir_ / "out2").string());
  EXPECT_FALSE(fs::exists("/etc/passwd-sockerless-test"));
  EXPECT_TRUE(fs::exists(dir_ / "out2" / "sub" / "etc" / "passwd-sockerless-test"));
}

}  // namespace
}  // namespace sockerless::image
