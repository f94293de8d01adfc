#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "store/database.h"

namespace fs = std::filesystem;
using sockerless::store::Database;

namespace {

struct StoreDatabase : ::testing::Test {
  fs::path dir;
  std::string path;
  void SetUp() override {
    char tmpl[] = "/tmp/store-test-XXXXXX";
    dir = ::mkdtemp(tmpl);
    path = (dir / "sockerless.db").string();
  }
  void TearDown() override { fs::remove_all(dir); }
};

}  // namespace

TEST_F(StoreDatabase, NewDatabaseIsMigratedToTheLatestSchema) {
  auto db = Database::open(path);
  EXPECT_EQ(db->schema_version(), static_cast<int>(sockerless::store::migrations().size()));
  db->exec("INSERT INTO execs (id, container_id, doc) VALUES ('e', 'c', '{}')");
  db.reset();
  auto again = Database::open(path);  // reopening migrates nothing twice
  auto s = again->prepare("SELECT count(*) FROM execs");
  ASSERT_TRUE(s.step());
  EXPECT_EQ(s.integer(0), 1);
}

TEST_F(StoreDatabase, AFailedTransactionLeavesNothing) {
  auto db = Database::open(path);
  EXPECT_THROW(db->transaction([&] {
    db->exec("INSERT INTO volumes (name, doc) VALUES ('v', '{}')");
    throw std::runtime_error("interrupted");
  }),
               std::runtime_error);
  auto s = db->prepare("SELECT count(*) FROM volumes");
  ASSERT_TRUE(s.step());
  EXPECT_EQ(s.integer(0), 0);
}

TEST_F(StoreDatabase, ANewerSchemaIsRefused) {
  Database::open(path)->exec("PRAGMA user_version=999");
  try {
    Database::open(path);
    FAIL() << "opened a database from the future";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("newer than this program understands"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
  }
}

TEST_F(StoreDatabase, AFileThatIsNotADatabaseIsRefusedAndKept) {
  std::ofstream(path) << std::string(8192, 'x');
  try {
    Database::open(path);
    FAIL() << "opened garbage";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("refusing to start over it"), std::string::npos);
  }
  EXPECT_EQ(fs::file_size(path), 8192u);
}

TEST_F(StoreDatabase, ANestedTransactionJoinsTheOuterOne) {
  auto db = Database::open(path);
  auto count = [&] {
    auto s = db->prepare("SELECT count(*) FROM volumes");
    EXPECT_TRUE(s.step());
    return s.integer(0);
  };
  // A failure after the inner one finished takes the inner one's writes back too.
  EXPECT_THROW(db->transaction([&] {
    db->transaction([&] { db->exec("INSERT INTO volumes (name, doc) VALUES ('a', '{}')"); });
    throw std::runtime_error("interrupted");
  }),
               std::runtime_error);
  EXPECT_EQ(count(), 0);
  // Both commit together, and a transaction after them starts afresh.
  int got = db->transaction([&] {
    db->transaction([&] { db->exec("INSERT INTO volumes (name, doc) VALUES ('b', '{}')"); });
    db->exec("INSERT INTO volumes (name, doc) VALUES ('c', '{}')");
    return 2;
  });
  EXPECT_EQ(got, 2);
  db->transaction([&] { db->exec("INSERT INTO volumes (name, doc) VALUES ('d', '{}')"); });
  EXPECT_EQ(count(), 3);
}

TEST_F(StoreDatabase, AStatementRunsAgainAfterReset) {
  auto db = Database::open(path);
  auto insert = db->prepare("INSERT INTO volumes (name, doc) VALUES (?1, '{}')");
  for (const char* name : {"x", "y", "z"}) {
    insert.reset().bind(1, name);
    insert.run();
  }
  auto s = db->prepare("SELECT count(*) FROM volumes");
  ASSERT_TRUE(s.step());
  EXPECT_EQ(s.integer(0), 3);
}
