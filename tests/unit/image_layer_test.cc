#include "image/layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>

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

// One tar header block as Go's archive/tar writes it (USTAR).
std::string ustar_block(const std::string& name, char type, std::size_t size,
                        const std::string& link = "") {
  std::string b(512, '\0');
  auto put = [&](std::size_t at, std::size_t width, const std::string& v) {
    b.replace(at, std::min(width, v.size()), v.substr(0, width));
  };
  auto octal = [](std::uint64_t v, int width) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%0*llo", width - 1, static_cast<unsigned long long>(v));
    return std::string(buf);
  };
  put(0, 100, name);
  put(100, 8, octal(0644, 8));
  put(108, 8, octal(0, 8));
  put(116, 8, octal(0, 8));
  put(124, 12, octal(size, 12));
  put(136, 12, octal(981173106, 12));
  b[156] = type;
  put(157, 100, link);
  put(257, 6, std::string("ustar\0", 6));
  put(263, 2, "00");
  put(148, 8, "        ");
  unsigned sum = 0;
  for (unsigned char c : b)
    sum += c;
  put(148, 8, octal(sum, 7));
  return b;
}

std::string padded(const std::string& data) {
  return data + std::string((512 - data.size() % 512) % 512, '\0');
}

// A PAX record: "<length> key=value\n", the length counting itself.
std::string pax_record(const std::string& key, const std::string& value) {
  std::size_t n = key.size() + value.size() + 3;
  std::size_t len = n + std::to_string(n).size();
  if (std::to_string(len).size() != std::to_string(n).size()) ++len;
  return std::to_string(len) + " " + key + "=" + value + "\n";
}

// What Go puts in a USTAR field when the value goes in a PAX record: its ASCII characters.
std::string ascii_of(const std::string& s) {
  std::string out;
  for (char c : s)
    if (static_cast<unsigned char>(c) < 0x80) out += c;
  return out;
}

// An entry whose name (and link target) come in PAX records, without hdrcharset, as Go
// writes names that are not ASCII.
std::string pax_entry(const std::string& name, char type, const std::string& content,
                      const std::string& link = "") {
  std::string records = pax_record("path", name);
  if (!link.empty()) records += pax_record("linkpath", link);
  return ustar_block("PaxHeaders.0/x", 'x', records.size()) + padded(records) +
         ustar_block(ascii_of(name), type, content.size(), ascii_of(link)) + padded(content);
}

TEST_F(LayerTest, NamesAreBytesWhateverTheLocale) {
  // Debian's ca-certificates has this one; the second name is not even UTF-8 (Latin-1).
  const std::string cert =
      "NetLock_Arany_=Class_Gold=_F\xc5\x91tan\xc3\xbas\xc3\xadtv\xc3\xa1ny.crt";
  const std::string latin1 = "caf\xe9";
  std::string tar = pax_entry(cert, '0', "certificate\n") + pax_entry(latin1, '0', "latin\n") +
                    pax_entry("l\xc3\xa9", '2', "", cert) + std::string(1024, '\0');
  std::string blob = (dir_ / "names.tar").string();
  std::ofstream(blob, std::ios::binary) << tar;
  auto info = scan_layer(blob);
  EXPECT_EQ(info.size, 18u);
  unpack_layer(blob, (dir_ / "out").string());
  std::ifstream in(dir_ / "out" / cert);
  std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(got, "certificate\n");
  EXPECT_TRUE(fs::exists(dir_ / "out" / latin1));
  EXPECT_EQ(fs::read_symlink(dir_ / "out" / "l\xc3\xa9").string(), cert);
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
