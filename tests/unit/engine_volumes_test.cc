#include "engine/volumes.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/errors.h"
#include "store/database.h"

namespace sockerless::engine {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() / ("sockerless-volumes-unit-" + std::to_string(::getpid()) +
                                         "-" + std::to_string(counter_++));
    fs::create_directories(path_);
  }
  ~TempDir() {
    // Nothing a test mounted may survive it, nor be deleted through.
    for (int i = 0; i < 8 && ::umount2((path_ / "volumes/v1/_data").c_str(), MNT_DETACH) == 0;
         ++i) {
    }
    fs::remove_all(path_);
  }
  const fs::path& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

void write_file(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

// A tar built with libarchive into a temporary file; fd() is positioned at its start.
class TarFile {
 public:
  explicit TarFile(const fs::path& path) : path_(path.string()) {
    a_ = archive_write_new();
    archive_write_set_format_pax_restricted(a_);
    archive_write_open_filename(a_, path_.c_str());
  }
  void dir(const std::string& name, mode_t perm, int uid = 0, int gid = 0) {
    add(name, AE_IFDIR, perm, "", uid, gid);
  }
  void file(const std::string& name, const std::string& data, mode_t perm = 0644, int uid = 0) {
    add(name, AE_IFREG, perm, data, uid, uid);
  }
  void symlink(const std::string& name, const std::string& target) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_filetype(e, AE_IFLNK);
    archive_entry_set_perm(e, 0777);
    archive_entry_set_symlink(e, target.c_str());
    archive_write_header(a_, e);
    archive_entry_free(e);
  }
  UniqueFd open() {
    if (a_) {
      archive_write_close(a_);
      archive_write_free(a_);
      a_ = nullptr;
    }
    return UniqueFd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
  }
  ~TarFile() {
    if (a_) archive_write_free(a_);
  }

 private:
  void add(const std::string& name, unsigned type, mode_t perm, const std::string& data, int uid,
           int gid) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, perm);
    archive_entry_set_uid(e, uid);
    archive_entry_set_gid(e, gid);
    archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
    archive_write_header(a_, e);
    if (!data.empty()) archive_write_data(a_, data.data(), data.size());
    archive_entry_free(e);
  }
  std::string path_;
  archive* a_ = nullptr;
};

TEST(LocalVolumeOptions, ValidatedLikeDockerdsLocalDriver) {
  using local_driver::validate_options;
  EXPECT_NO_THROW(validate_options({}));
  EXPECT_NO_THROW(validate_options({{"type", "tmpfs"}, {"device", "tmpfs"}, {"o", "size=10m"}}));
  EXPECT_NO_THROW(validate_options({{"size", "0"}}));
  auto message = [](const std::map<std::string, std::string>& o) {
    try {
      validate_options(o);
    } catch (const InvalidArgument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message({{"foo", "bar"}}), "invalid option: \"foo\"");
  EXPECT_EQ(message({{"type", "tmpfs"}}), "missing required option: \"device\"");
  EXPECT_EQ(message({{"o", "size=1m"}}), "missing required option: \"device\"");
  EXPECT_EQ(message({{"device", "/x"}}), "missing required option: \"type\"");
  EXPECT_EQ(message({{"size", "10m"}}), "quota size requested but no quota support");
  EXPECT_EQ(message({{"size", "lots"}}), "invalid size: 'lots'");
}

TEST(LocalVolumeOptions, MountOptionsSplitIntoFlagsAndData) {
  auto a = local_driver::parse_mount_options("size=10m,ro,nosuid,uid=1000,rprivate");
  EXPECT_EQ(a.flags, static_cast<unsigned long>(MS_RDONLY | MS_NOSUID));
  EXPECT_EQ(a.propagation, static_cast<unsigned long>(MS_PRIVATE | MS_REC));
  EXPECT_EQ(a.data, "size=10m,uid=1000");
  auto b = local_driver::parse_mount_options("bind");
  EXPECT_EQ(b.flags, static_cast<unsigned long>(MS_BIND));
  EXPECT_EQ(b.data, "");
  EXPECT_EQ(local_driver::parse_mount_options("ro,rw").flags, 0ul);
  EXPECT_EQ(local_driver::parse_mount_options("").data, "");
}

TEST(LocalVolumeSize, CountsFilesAndSymlinksEachInodeOnce) {
  TempDir dir;
  write_file(dir.path() / "a", "12345");
  write_file(dir.path() / "sub/b", "123");
  write_file(dir.path() / "empty", "");
  fs::create_hard_link(dir.path() / "a", dir.path() / "sub/a-again");
  fs::create_symlink("a", dir.path() / "link");  // 1 byte: the target's name
  EXPECT_EQ(local_driver::disk_usage(dir.path().string()), 5 + 3 + 1);
  EXPECT_EQ(local_driver::disk_usage((dir.path() / "missing").string()), 0);
}

TEST(LocalVolumeMountpoint, RootIsOneAndAPlainDirectoryIsNot) {
  TempDir dir;
  EXPECT_TRUE(local_driver::is_mountpoint("/"));
  EXPECT_FALSE(local_driver::is_mountpoint(dir.path().string()));
  EXPECT_FALSE(local_driver::is_mountpoint((dir.path() / "missing").string()));
}

TEST(LocalVolumeFill, ExtractsBelowTheRootAndTakesItsOwnerAndMode) {
  TempDir dir;
  TarFile tar(dir.path() / "content.tar");
  tar.dir("app", 0750, 1234, 4321);
  tar.file("app/version", "2\n");
  tar.dir("app/www", 0755);
  tar.file("app/www/index.html", "<html>", 0600, 1000);
  tar.symlink("app/current", "version");
  auto fd = tar.open();
  fs::path dest = dir.path() / "dest";
  fs::create_directories(dest);
  local_driver::extract_rooted_tar(fd.get(), dest.string());
  std::ifstream version(dest / "version");
  std::string text((std::istreambuf_iterator<char>(version)), {});
  EXPECT_EQ(text, "2\n");
  EXPECT_TRUE(fs::is_regular_file(dest / "www/index.html"));
  EXPECT_EQ(fs::read_symlink(dest / "current"), "version");
  EXPECT_FALSE(fs::exists(dest / "app"));
  struct stat st {};
  ASSERT_EQ(::stat(dest.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  ASSERT_EQ(::stat((dest / "www/index.html").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  if (::geteuid() == 0) {
    EXPECT_EQ(st.st_uid, 1000u);
    ASSERT_EQ(::stat(dest.c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 1234u);
    EXPECT_EQ(st.st_gid, 4321u);
  }
}

TEST(LocalVolumeFill, RefusesEntriesThatLeaveTheDirectory) {
  TempDir dir;
  TarFile tar(dir.path() / "evil.tar");
  tar.dir("app", 0755);
  tar.file("app/../../escaped", "x");
  auto fd = tar.open();
  fs::create_directories(dir.path() / "dest");
  EXPECT_THROW(local_driver::extract_rooted_tar(fd.get(), (dir.path() / "dest").string()),
               Internal);
  EXPECT_FALSE(fs::exists(dir.path() / "escaped"));
}

class VolumesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = store::Database::open((dir_.path() / "state.db").string());
    volumes_ = std::make_unique<Volumes>(
        *db_, (dir_.path() / "volumes").string(), events_, [](const std::string& name) {
          return name == "busy" ? std::vector<std::string>{"c1"} : std::vector<std::string>{};
        });
  }
  std::string create_error(const std::string& name, const std::string& driver,
                           const std::map<std::string, std::string>& options) {
    try {
      volumes_->create(name, driver, {}, options);
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  }

  TempDir dir_;
  std::unique_ptr<store::Database> db_;
  EventBus events_;
  std::unique_ptr<Volumes> volumes_;
};

TEST_F(VolumesTest, CreateChecksNameDriverAndOptionsWithDockerdsWording) {
  EXPECT_EQ(create_error("v1", "local", {{"foo", "bar"}}), "create v1: invalid option: \"foo\"");
  EXPECT_EQ(create_error("v1", "local", {{"type", "tmpfs"}}),
            "create v1: missing required option: \"device\"");
  EXPECT_EQ(create_error("x", "local", {}),
            "create x: volume name is too short, names should be at least two alphanumeric "
            "characters");
  EXPECT_EQ(create_error("v1", "nosuch", {}),
            "create v1: error looking up volume plugin nosuch: plugin \"nosuch\" not found");
  EXPECT_FALSE(volumes_->find("v1"));
}

TEST_F(VolumesTest, InspectShowsOptionsAndNullForWhatIsEmpty) {
  auto plain = volumes_->create("plain", "local", {}, {}).to_json();
  EXPECT_TRUE(plain["Labels"].is_null());
  EXPECT_TRUE(plain["Options"].is_null());
  // Given as empty objects (the docker CLI 20.10 sends them): kept as {}, as dockerd does.
  auto given = volumes_->create("given", "local", {}, {}, false, true, true).to_json();
  EXPECT_EQ(given["Labels"], nlohmann::json::object());
  EXPECT_EQ(given["Options"], nlohmann::json::object());
  // The directory's time to the second, as dockerd's local driver reports it.
  EXPECT_EQ(plain["CreatedAt"].get<std::string>().find('.'), std::string::npos);
  auto tv = volumes_->create("tv", "local", {{"a", "b"}},
                             {{"type", "tmpfs"}, {"device", "tmpfs"}, {"o", "size=10m"}});
  auto j = tv.to_json();
  EXPECT_EQ(j["Options"],
            (nlohmann::json{{"device", "tmpfs"}, {"o", "size=10m"}, {"type", "tmpfs"}}));
  EXPECT_EQ(j["Labels"], (nlohmann::json{{"a", "b"}}));
  EXPECT_TRUE(tv.needs_mount());
  EXPECT_FALSE(volumes_->get("plain").needs_mount());
  // Idempotent: the second create's options are ignored, as dockerd does.
  EXPECT_EQ(volumes_->create("tv", "local", {}, {}).options.size(), 3u);
}

TEST_F(VolumesTest, FillCopiesOnlyIntoAnEmptyVolume) {
  auto v = volumes_->create("v1", "local", {}, {});
  TarFile tar(dir_.path() / "content.tar");
  tar.dir("data", 0700);
  tar.file("data/seed.txt", "seed\n");
  int opened = 0;
  auto open = [&] {
    ++opened;
    return tar.open();
  };
  volumes_->fill("v1", open);
  EXPECT_EQ(opened, 1);
  EXPECT_TRUE(fs::exists(fs::path(v.mountpoint) / "seed.txt"));
  struct stat st {};
  ASSERT_EQ(::stat(v.mountpoint.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  volumes_->fill("v1", open);  // has content now: never again
  EXPECT_EQ(opened, 1);
  volumes_->fill("v1", [] { return UniqueFd(); });  // nothing in the image: fine
  auto usage = volumes_->usage();
  ASSERT_EQ(usage.size(), 1u);
  EXPECT_EQ(usage[0].size, 5);
  EXPECT_EQ(usage[0].ref_count, 0);
}

TEST_F(VolumesTest, RemoveRefusesAVolumeInUse) {
  volumes_->create("busy", "local", {}, {});
  try {
    volumes_->remove("busy", true);
    ADD_FAILURE() << "removed a volume in use";
  } catch (const Conflict& e) {
    EXPECT_EQ(std::string(e.what()), "remove busy: volume is in use - [c1]");
  }
  EXPECT_NO_THROW(volumes_->remove("gone", true));
  EXPECT_THROW(volumes_->remove("gone", false), NotFound);
}

TEST_F(VolumesTest, TmpfsVolumeIsMountedWhileHeldAndUnmountedByTheLastHolder) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting needs root";
  auto v = volumes_->create("v1", "local", {},
                            {{"type", "tmpfs"}, {"device", "tmpfs"}, {"o", "size=1m"}});
  EXPECT_EQ(volumes_->mount("v1", "c1"), v.mountpoint);
  EXPECT_TRUE(local_driver::is_mountpoint(v.mountpoint));
  write_file(fs::path(v.mountpoint) / "f", "on tmpfs");
  volumes_->mount("v1", "c2");
  volumes_->unmount("v1", "c1");
  EXPECT_TRUE(fs::exists(fs::path(v.mountpoint) / "f"));
  volumes_->unmount("v1", "c2");
  EXPECT_FALSE(local_driver::is_mountpoint(v.mountpoint));
  EXPECT_FALSE(fs::exists(fs::path(v.mountpoint) / "f"));
  // A fill lands on the tmpfs and goes with it, as with dockerd.
  TarFile tar(dir_.path() / "content.tar");
  tar.dir("data", 0755);
  tar.file("data/seed.txt", "seed\n");
  volumes_->fill("v1", [&] { return tar.open(); });
  EXPECT_FALSE(local_driver::is_mountpoint(v.mountpoint));
  EXPECT_TRUE(fs::is_empty(v.mountpoint));
}

TEST_F(VolumesTest, BindVolumeShowsTheDeviceAndRemovingItLeavesTheDeviceAlone) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting needs root";
  fs::path device = dir_.path() / "device";
  write_file(device / "keep", "host file");
  auto v = volumes_->create("v1", "local", {},
                            {{"type", "none"}, {"device", device.string()}, {"o", "bind"}});
  volumes_->mount("v1", "c1");
  EXPECT_TRUE(fs::exists(fs::path(v.mountpoint) / "keep"));
  // A daemon that stopped with the mount up: remove takes it down before deleting.
  volumes_->remove("v1", false);
  EXPECT_TRUE(fs::exists(device / "keep"));
  EXPECT_FALSE(fs::exists(v.mountpoint));
}

TEST_F(VolumesTest, MountFailureSaysWhatDockerdSays) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting needs root";
  auto v = volumes_->create(
      "v1", "local", {}, {{"type", "none"}, {"device", "/nonexistent-sockerless"}, {"o", "bind"}});
  try {
    volumes_->mount("v1", "c1");
    ADD_FAILURE() << "mounted a missing device";
  } catch (const Internal& e) {
    EXPECT_EQ(std::string(e.what()), "error while mounting volume '" + v.mountpoint +
                                         "': failed to mount local volume: mount "
                                         "/nonexistent-sockerless:" +
                                         v.mountpoint +
                                         ", flags: 0x1000: no such file or directory");
  }
  EXPECT_FALSE(local_driver::is_mountpoint(v.mountpoint));
}

TEST_F(VolumesTest, RestoreAdoptsHeldMountsAndDropsOrphans) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting needs root";
  auto v = volumes_->create("v1", "local", {}, {{"type", "tmpfs"}, {"device", "tmpfs"}});
  volumes_->mount("v1", "c1");
  volumes_->restore_mounts({{"v1", {"c1"}}});
  EXPECT_TRUE(local_driver::is_mountpoint(v.mountpoint));
  volumes_->restore_mounts({});
  EXPECT_FALSE(local_driver::is_mountpoint(v.mountpoint));
}

}  // namespace
}  // namespace sockerless::engine
