// The daemon's durable records in SQLite (WAL): one database file under the data root,
// a versioned schema with forward migrations, and transactions that are on disk before
// the API answers. Corrupt or unreadable state refuses to open, naming the file and why.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace sockerless::store {

class Database;

// A prepared statement. Bind by 1-based index; step() until it returns false.
class Statement {
 public:
  Statement(Statement&&) noexcept;
  Statement& operator=(Statement&&) = delete;
  ~Statement();

  Statement& bind(int index, std::string_view text);
  Statement& bind(int index, const char* text) { return bind(index, std::string_view(text)); }
  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, int value) { return bind(index, static_cast<std::int64_t>(value)); }
  Statement& bind_null(int index);
  // Makes it ready to run again with new bindings.
  Statement& reset();
  bool step();  // true when a row is available
  void run() {
    while (step()) {
    }
  }
  std::string text(int column) const;
  std::int64_t integer(int column) const;
  bool is_null(int column) const;

 private:
  friend class Database;
  Statement(Database* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  Database* db_;
  sqlite3_stmt* stmt_;
};

class Database {
 public:
  // Opens (creating when absent) and migrates. Throws std::runtime_error naming the file
  // when it is not a database, fails its integrity check, or has a newer schema.
  static std::unique_ptr<Database> open(const std::string& path);
  // The same with another schema history (the simulators keep their own database).
  static std::unique_ptr<Database> open(const std::string& path,
                                        const std::vector<std::string_view>& steps);
  ~Database();

  Statement prepare(std::string_view sql);
  void exec(std::string_view sql);

  // Runs `body` in a write transaction (BEGIN IMMEDIATE … COMMIT): all of it or nothing.
  // Serialised with every other use of the database. A transaction begun inside another
  // (a helper that writes, called by a caller that writes more) joins the outer one.
  template <class F>
  auto transaction(F&& body) {
    std::lock_guard lock(mu_);
    if (depth_ > 0) {
      Depth nested(depth_);
      return body();
    }
    Depth enter(depth_);
    begin();
    try {
      if constexpr (std::is_void_v<decltype(body())>) {
        body();
        commit();
      } else {
        auto result = body();
        commit();
        return result;
      }
    } catch (...) {
      rollback();
      throw;
    }
  }

  // For reads outside a transaction: holds the database's lock.
  std::unique_lock<std::recursive_mutex> lock() { return std::unique_lock(mu_); }

  int schema_version();
  const std::string& path() const { return path_; }
  [[noreturn]] void fail(const std::string& what) const;

 private:
  Database(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  void begin();
  void commit();
  void rollback();
  void migrate(const std::vector<std::string_view>& steps);

  // How deep in transaction() the lock holder is (the lock is recursive).
  struct Depth {
    int& depth;
    explicit Depth(int& d) : depth(d) { ++depth; }
    ~Depth() { --depth; }
  };
  int depth_ = 0;
  sqlite3* db_;
  std::string path_;
  std::recursive_mutex mu_;
};

// The schema, as an ordered list of migrations; migration N brings the schema to
// version N+1. Only ever append.
const std::vector<std::string_view>& migrations();

}  // namespace sockerless::store
