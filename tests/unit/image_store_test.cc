#include "image/image_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/digest.h"
#include "common/errors.h"
#include "store/database.h"

namespace sockerless::image {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("sockerless-unit-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

TEST(BlobStore, VerifiesBeforePublishing) {
  TempDir dir;
  BlobStore blobs(dir.path().string());
  auto w = blobs.begin();
  w.write("hello", 5);
  EXPECT_THROW(w.commit("sha256:" + std::string(64, 'a')), InvalidArgument);
  EXPECT_FALSE(blobs.has(sha256_digest("hello")));
  std::string d = blobs.put("hello");
  EXPECT_EQ(d, sha256_digest("hello"));
  EXPECT_EQ(blobs.read(d), "hello");
  EXPECT_EQ(blobs.size(d), 5u);
}

TEST(BlobStore, AbandonedWriteLeavesNothing) {
  TempDir dir;
  BlobStore blobs(dir.path().string());
  {
    auto w = blobs.begin();
    w.write("partial", 7);
  }
  EXPECT_TRUE(fs::is_empty(dir.path() / "ingest"));
  EXPECT_TRUE(fs::is_empty(dir.path() / "blobs" / "sha256"));
}

TEST(BlobStore, StaleIngestIsClearedAtStart) {
  TempDir dir;
  fs::create_directories(dir.path() / "ingest");
  std::ofstream(dir.path() / "ingest" / "leftover") << "x";
  BlobStore blobs(dir.path().string());
  EXPECT_TRUE(fs::is_empty(dir.path() / "ingest"));
}

class ImageStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = store::Database::open((dir_.path() / "state.db").string());
    store_ = std::make_unique<ImageStore>(*db_, (dir_.path() / "image").string());
  }
  ImageRecord image(const std::string& config, const std::vector<std::string>& layer_contents) {
    ImageRecord r;
    r.config = config;
    r.id = store_->blobs().put(config);
    for (const auto& c : layer_contents) {
      std::string d = store_->blobs().put(c);
      r.layers.push_back(LayerRecord{
          d, "application/vnd.docker.image.rootfs.diff.tar", static_cast<std::int64_t>(c.size()),
          "sha256:" + std::string(64, 'f'), static_cast<std::int64_t>(c.size())});
    }
    return r;
  }
  TempDir dir_;
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<ImageStore> store_;
};

TEST_F(ImageStoreTest, ResolvesTagsDigestsAndIds) {
  auto img = image(R"({"a":1})", {"layer-1"});
  store_->put(img, {"docker.io/library/busybox:latest"},
              {"docker.io/library/busybox@sha256:" + std::string(64, 'b')});
  EXPECT_EQ(store_->find("busybox"), img.id);
  EXPECT_EQ(store_->find("busybox:latest"), img.id);
  EXPECT_EQ(store_->find("docker.io/library/busybox:latest"), img.id);
  EXPECT_EQ(store_->find("busybox@sha256:" + std::string(64, 'b')), img.id);
  EXPECT_EQ(store_->find(img.id), img.id);
  EXPECT_EQ(store_->find(img.id.substr(7, 12)), img.id);
  EXPECT_FALSE(store_->find("busybox:other"));
  try {
    store_->resolve("nope:1");
    FAIL();
  } catch (const NotFound& e) {
    EXPECT_STREQ(e.what(), "No such image: nope:1");
  }
}

TEST_F(ImageStoreTest, TagMovesBetweenImages) {
  auto a = image(R"({"a":1})", {"la"});
  auto b = image(R"({"b":2})", {"lb"});
  store_->put(a, {"docker.io/library/app:latest"}, {});
  store_->put(b, {"docker.io/library/app:latest"}, {});
  EXPECT_EQ(store_->find("app"), b.id);
  EXPECT_TRUE(store_->get(a.id)->tags.empty());
  store_->tag(a.id, "docker.io/library/app:old");
  auto got = store_->get(a.id);
  EXPECT_EQ(got->tags, std::vector<std::string>{"docker.io/library/app:old"});
  EXPECT_GT(got->last_tag_time, 0);
  EXPECT_TRUE(store_->untag("docker.io/library/app:old"));
  EXPECT_FALSE(store_->untag("docker.io/library/app:old"));
}

TEST_F(ImageStoreTest, SharedLayersAreKeptUntilTheLastUserGoes) {
  auto a = image(R"({"a":1})", {"shared", "only-a"});
  auto b = image(R"({"b":2})", {"shared"});
  store_->put(a, {"docker.io/library/a:latest"}, {});
  store_->put(b, {"docker.io/library/b:latest"}, {});
  std::string shared = sha256_digest("shared"), only_a = sha256_digest("only-a");
  EXPECT_EQ(store_->shared_size(a.id), 6);
  store_->remove(a.id);
  EXPECT_TRUE(store_->blobs().has(shared));
  EXPECT_FALSE(store_->blobs().has(only_a));
  EXPECT_FALSE(store_->blobs().has(a.id));
  store_->remove(b.id);
  EXPECT_FALSE(store_->blobs().has(shared));
  EXPECT_TRUE(store_->list().empty());
}

TEST_F(ImageStoreTest, RecordsSurviveReopening) {
  auto a = image(R"({"a":1})", {"l"});
  store_->put(a, {"docker.io/library/keep:1"}, {});
  store_.reset();
  db_.reset();
  db_ = store::Database::open((dir_.path() / "state.db").string());
  store_ = std::make_unique<ImageStore>(*db_, (dir_.path() / "image").string());
  auto got = store_->get(a.id);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->layers.size(), 1u);
  EXPECT_EQ(store_->find("keep:1"), a.id);
}

TEST(Database, RefusesAFileThatIsNotADatabase) {
  TempDir dir;
  auto path = (dir.path() / "state.db").string();
  std::ofstream(path)
      << "this is not sqlite, and it is long enough to have a header of sorts.......";
  try {
    store::Database::open(path);
    FAIL() << "opened garbage";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
  }
  std::ifstream in(path);
  std::string content((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(content.rfind("this is not sqlite", 0), 0u) << "the file was modified";
}

TEST(Database, MigratesToTheLatestVersionAndRollsBackFailures) {
  TempDir dir;
  auto db = store::Database::open((dir.path() / "state.db").string());
  EXPECT_EQ(db->schema_version(), static_cast<int>(store::migrations().size()));
  EXPECT_THROW(db->transaction([&] {
    db->exec("INSERT INTO registry_logins VALUES ('a', 'u', 'p', '')");
    throw std::runtime_error("abort");
  }),
               std::runtime_error);
  auto s = db->prepare("SELECT COUNT(*) FROM registry_logins");
  s.step();
  EXPECT_EQ(s.integer(0), 0);
}

}  // namespace
}  // namespace sockerless::image
