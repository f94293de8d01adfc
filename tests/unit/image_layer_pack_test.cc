// pack_layer: an overlay upper directory becomes an OCI layer tar.
#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "image/layer_pack.h"

namespace fs = std::filesystem;
using sockerless::image::pack_layer;

namespace {

struct Entry {
  int type;
  std::string link;
};

std::map<std::string, Entry> read_tar(const std::string& bytes) {
  std::map<std::string, Entry> out;
  archive* a = archive_read_new();
  archive_read_support_format_tar(a);
  EXPECT_EQ(archive_read_open_memory(a, bytes.data(), bytes.size()), ARCHIVE_OK);
  archive_entry* e = nullptr;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    const char* hard = archive_entry_hardlink(e);
    const char* sym = archive_entry_symlink(e);
    out[archive_entry_pathname(e)] = {hard ? 'h' : static_cast<int>(archive_entry_filetype(e)),
                                      hard  ? hard
                                      : sym ? sym
                                            : ""};
  }
  archive_read_free(a);
  return out;
}

std::string pack(const std::string& dir) {
  std::string bytes;
  pack_layer(
      dir, [](const std::string& p) { return p == "/etc/hostname"; },
      [&](const char* d, std::size_t n) { bytes.append(d, n); });
  return bytes;
}

}  // namespace

TEST(ImageLayerPack, EmptyDirectoryIsTheEmptyLayer) {
  auto dir = fs::temp_directory_path() / ("pack-empty-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::string bytes = pack(dir);
  fs::remove_all(dir);
  EXPECT_EQ(bytes, std::string(1024, '\0'));  // two zero blocks, as moby's empty layer
}

TEST(ImageLayerPack, WhiteoutsOpaqueDirsLinksAndSkips) {
  if (::geteuid() != 0) GTEST_SKIP() << "whiteouts (0/0 character devices) need root";
  auto dir = fs::temp_directory_path() / ("pack-" + std::to_string(::getpid()));
  fs::create_directories(dir / "data/sub");
  fs::create_directories(dir / "etc");
  std::ofstream(dir / "data/file") << "hello";
  std::ofstream(dir / "etc/hostname") << "generated";
  fs::create_hard_link(dir / "data/file", dir / "data/hard");
  fs::create_symlink("/data/file", dir / "data/link");
  ASSERT_EQ(::mknod((dir / "data/gone").c_str(), S_IFCHR | 0000, makedev(0, 0)), 0);
  bool opaque = ::setxattr((dir / "data/sub").c_str(), "trusted.overlay.opaque", "y", 1, 0) == 0;
  auto entries = read_tar(pack(dir));
  fs::remove_all(dir);

  EXPECT_EQ(entries.count("etc/hostname"), 0u);  // skipped
  EXPECT_EQ(entries.at("data/file").type, AE_IFREG);
  EXPECT_EQ(entries.at("data/hard").type, 'h');
  EXPECT_EQ(entries.at("data/hard").link, "data/file");
  EXPECT_EQ(entries.at("data/link").type, AE_IFLNK);
  EXPECT_EQ(entries.at("data/link").link, "/data/file");
  EXPECT_EQ(entries.at("data/.wh.gone").type, AE_IFREG);
  EXPECT_EQ(entries.count("data/gone"), 0u);
  if (opaque) {
    EXPECT_EQ(entries.count("data/sub/.wh..wh..opq"), 1u);
  }
}
