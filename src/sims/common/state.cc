#include "sims/common/state.h"

#include <string_view>

#include "store/database.h"

namespace sockerless::sims {
namespace {

// The simulators' schema history. Append only: each entry migrates from the one before.
const std::vector<std::string_view>& sim_migrations() {
  static const std::vector<std::string_view> steps = {
      // 1: resources of every service, and CloudWatch Logs' events.
      R"(
      CREATE TABLE resources (
        service TEXT NOT NULL,
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        doc TEXT NOT NULL,
        PRIMARY KEY (service, kind, id)
      );
      CREATE INDEX resources_order ON resources(service, kind, seq);
      CREATE TABLE log_events (
        log_group TEXT NOT NULL,
        log_stream TEXT NOT NULL,
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        timestamp INTEGER NOT NULL,        -- the event's time, epoch milliseconds
        ingestion_time INTEGER NOT NULL,   -- when it was stored, epoch milliseconds
        message TEXT NOT NULL
      );
      CREATE INDEX log_events_stream ON log_events(log_group, log_stream, timestamp, seq);
      )",
      // 2: the OCI registry (sims/common/registry.h): which repository holds which blob,
      // manifests (in push order: rowid), tags.
      R"(
      CREATE TABLE registry_blobs (
        repo TEXT NOT NULL,
        digest TEXT NOT NULL,
        size INTEGER NOT NULL,
        PRIMARY KEY (repo, digest)
      );
      CREATE INDEX registry_blobs_digest ON registry_blobs(digest);
      CREATE TABLE registry_manifests (
        repo TEXT NOT NULL,
        digest TEXT NOT NULL,
        media_type TEXT NOT NULL,
        body TEXT NOT NULL,
        image_size INTEGER NOT NULL,
        artifact_media_type TEXT NOT NULL,
        pushed_at INTEGER NOT NULL,        -- epoch milliseconds of the first push
        PRIMARY KEY (repo, digest)
      );
      CREATE TABLE registry_tags (
        repo TEXT NOT NULL,
        tag TEXT NOT NULL,
        digest TEXT NOT NULL,
        PRIMARY KEY (repo, tag)
      );
      CREATE INDEX registry_tags_digest ON registry_tags(repo, digest);
      )",
  };
  return steps;
}

}  // namespace

State::State(const std::string& path) : db_(store::Database::open(path, sim_migrations())) {}
State::~State() = default;

void State::put(const std::string& service, const std::string& kind, const std::string& id,
                const nlohmann::json& doc) {
  db_->transaction([&] {
    auto s = db_->prepare(
        "INSERT INTO resources(service, kind, id, seq, doc) VALUES (?1, ?2, ?3, "
        "(SELECT COALESCE(MAX(seq), 0) + 1 FROM resources), ?4) "
        "ON CONFLICT(service, kind, id) DO UPDATE SET doc = excluded.doc");
    s.bind(1, service).bind(2, kind).bind(3, id).bind(4, doc.dump());
    s.run();
  });
}

bool State::insert(const std::string& service, const std::string& kind, const std::string& id,
                   const nlohmann::json& doc) {
  return db_->transaction([&] {
    auto s = db_->prepare(
        "INSERT INTO resources(service, kind, id, seq, doc) VALUES (?1, ?2, ?3, "
        "(SELECT COALESCE(MAX(seq), 0) + 1 FROM resources), ?4) "
        "ON CONFLICT(service, kind, id) DO NOTHING RETURNING id");
    s.bind(1, service).bind(2, kind).bind(3, id).bind(4, doc.dump());
    bool inserted = s.step();
    s.run();
    return inserted;
  });
}

std::optional<nlohmann::json> State::get(const std::string& service, const std::string& kind,
                                         const std::string& id) const {
  auto lock = db_->lock();
  auto s = db_->prepare("SELECT doc FROM resources WHERE service = ?1 AND kind = ?2 AND id = ?3");
  s.bind(1, service).bind(2, kind).bind(3, id);
  if (!s.step()) return std::nullopt;
  return nlohmann::json::parse(s.text(0));
}

std::vector<std::pair<std::string, nlohmann::json>> State::list(const std::string& service,
                                                                const std::string& kind) const {
  auto lock = db_->lock();
  auto s =
      db_->prepare("SELECT id, doc FROM resources WHERE service = ?1 AND kind = ?2 ORDER BY seq");
  s.bind(1, service).bind(2, kind);
  std::vector<std::pair<std::string, nlohmann::json>> out;
  while (s.step())
    out.emplace_back(s.text(0), nlohmann::json::parse(s.text(1)));
  return out;
}

bool State::erase(const std::string& service, const std::string& kind, const std::string& id) {
  return db_->transaction([&] {
    auto s = db_->prepare(
        "DELETE FROM resources WHERE service = ?1 AND kind = ?2 AND id = ?3 RETURNING id");
    s.bind(1, service).bind(2, kind).bind(3, id);
    bool erased = s.step();
    s.run();
    return erased;
  });
}

}  // namespace sockerless::sims
