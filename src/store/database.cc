#include "store/database.h"

#include <sqlite3.h>

#include <stdexcept>

namespace sockerless::store {

Statement::Statement(Statement&& o) noexcept : db_(o.db_), stmt_(o.stmt_) {
  o.stmt_ = nullptr;
}

Statement::~Statement() {
  if (stmt_) sqlite3_finalize(stmt_);
}

Statement& Statement::bind(int index, std::string_view text) {
  if (sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()),
                        SQLITE_TRANSIENT) != SQLITE_OK)
    db_->fail("bind");
  return *this;
}

Statement& Statement::bind(int index, std::int64_t value) {
  if (sqlite3_bind_int64(stmt_, index, value) != SQLITE_OK) db_->fail("bind");
  return *this;
}

Statement& Statement::bind_null(int index) {
  if (sqlite3_bind_null(stmt_, index) != SQLITE_OK) db_->fail("bind");
  return *this;
}

Statement& Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  return *this;
}

bool Statement::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  db_->fail("step");
}

std::string Statement::text(int column) const {
  const unsigned char* p = sqlite3_column_text(stmt_, column);
  int n = sqlite3_column_bytes(stmt_, column);
  return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n))
           : std::string();
}

std::int64_t Statement::integer(int column) const {
  return sqlite3_column_int64(stmt_, column);
}

bool Statement::is_null(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

void Database::fail(const std::string& what) const {
  throw std::runtime_error("state database " + path_ + ": " + what + ": " + sqlite3_errmsg(db_));
}

std::unique_ptr<Database> Database::open(const std::string& path) {
  return open(path, migrations());
}

std::unique_ptr<Database> Database::open(const std::string& path,
                                         const std::vector<std::string_view>& steps) {
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  std::unique_ptr<Database> db(new Database(raw, path));
  if (rc != SQLITE_OK) db->fail("cannot open");
  sqlite3_busy_timeout(raw, 5000);
  try {
    // A file that is not a database fails here, before anything is written to it.
    auto check = db->prepare("PRAGMA quick_check");
    if (!check.step() || check.text(0) != "ok")
      throw std::runtime_error("state database " + path +
                               " failed its integrity check: " + check.text(0));
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(std::string(e.what()) +
                             " (refusing to start over it; move it aside to start empty)");
  }
  db->exec("PRAGMA journal_mode=WAL");
  db->exec("PRAGMA synchronous=FULL");
  db->exec("PRAGMA foreign_keys=ON");
  db->migrate(steps);
  return db;
}

Database::~Database() {
  sqlite3_close_v2(db_);
}

Statement Database::prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr) !=
      SQLITE_OK)
    fail("prepare \"" + std::string(sql) + "\"");
  return Statement(this, stmt);
}

void Database::exec(std::string_view sql) {
  std::string s(sql);
  char* err = nullptr;
  if (sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    throw std::runtime_error("state database " + path_ + ": " + msg);
  }
}

void Database::begin() {
  exec("BEGIN IMMEDIATE");
}
void Database::commit() {
  exec("COMMIT");
}
void Database::rollback() {
  char* err = nullptr;
  sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, &err);
  sqlite3_free(err);
}

int Database::schema_version() {
  auto s = prepare("PRAGMA user_version");
  s.step();
  return static_cast<int>(s.integer(0));
}

void Database::migrate(const std::vector<std::string_view>& steps) {
  int version = schema_version();
  if (version > static_cast<int>(steps.size()))
    throw std::runtime_error("state database " + path_ + " has schema version " +
                             std::to_string(version) + ", newer than this program understands (" +
                             std::to_string(steps.size()) + "); refusing to start");
  for (int v = version; v < static_cast<int>(steps.size()); ++v) {
    transaction([&] {
      exec(steps[static_cast<std::size_t>(v)]);
      exec("PRAGMA user_version=" + std::to_string(v + 1));
    });
  }
}

}  // namespace sockerless::store
