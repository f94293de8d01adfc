#include "sims/aws/logs_store.h"

#include <cstdio>
#include <variant>

#include "sims/common/aws_protocol.h"
#include "sims/common/state.h"
#include "store/database.h"

namespace sockerless::sims::aws {
namespace {

std::string stream_key(const std::string& group, const std::string& stream) {
  return group + "\n" + stream;  // '\n' is in neither name
}

}  // namespace

LogsStore::LogsStore(State& state, std::string region, std::string account_id)
    : state_(state), region_(std::move(region)), account_id_(std::move(account_id)) {}

std::string LogsStore::group_arn(const std::string& group) const {
  return "arn:aws:logs:" + region_ + ":" + account_id_ + ":log-group:" + group;
}

bool LogsStore::group_exists(const std::string& group) const {
  return state_.get("logs", "group", group).has_value();
}

bool LogsStore::create_group(const std::string& group, const nlohmann::json& tags,
                             const std::string& kms_key) {
  nlohmann::json doc = {{"logGroupName", group},
                        {"creationTime", epoch_millis()},
                        {"metricFilterCount", 0},
                        {"arn", group_arn(group) + ":*"},
                        {"logGroupArn", group_arn(group)},
                        {"storedBytes", 0},
                        {"logGroupClass", "STANDARD"},
                        {"tags", tags.is_object() ? tags : nlohmann::json::object()}};
  if (!kms_key.empty()) doc["kmsKeyId"] = kms_key;
  return state_.insert("logs", "group", group, doc);
}

bool LogsStore::stream_exists(const std::string& group, const std::string& stream) const {
  return state_.get("logs", "stream", stream_key(group, stream)).has_value();
}

bool LogsStore::create_stream(const std::string& group, const std::string& stream) {
  auto now = epoch_millis();
  nlohmann::json doc = {{"logGroupName", group},
                        {"logStreamName", stream},
                        {"creationTime", now},
                        {"arn", group_arn(group) + ":log-stream:" + stream},
                        {"storedBytes", 0}};
  return state_.insert("logs", "stream", stream_key(group, stream), doc);
}

std::int64_t LogsStore::append(const std::string& group, const std::string& stream,
                               const std::vector<LogEvent>& events) {
  if (!stream_exists(group, stream)) create_stream(group, stream);
  if (events.empty()) return 0;
  auto& db = state_.db();
  auto ingestion = epoch_millis();
  std::int64_t first = events.front().timestamp, last = events.front().timestamp;
  std::int64_t last_seq = 0;
  std::lock_guard streams_lock(streams_mu_);
  // The events and the stream's document change in one transaction, with one statement.
  db.transaction([&] {
    auto insert = db.prepare(
        "INSERT INTO log_events(log_group, log_stream, timestamp, ingestion_time, message) "
        "VALUES (?1, ?2, ?3, ?4, ?5)");
    for (const auto& e : events) {
      first = std::min(first, e.timestamp);
      last = std::max(last, e.timestamp);
      insert.reset()
          .bind(1, group)
          .bind(2, stream)
          .bind(3, e.timestamp)
          .bind(4, ingestion)
          .bind(5, e.message);
      insert.run();
    }
    auto seq = db.prepare("SELECT last_insert_rowid()");
    if (seq.step()) last_seq = seq.integer(0);
    auto doc = state_.get("logs", "stream", stream_key(group, stream));
    if (!doc) return;
    if (!doc->contains("firstEventTimestamp") ||
        (*doc)["firstEventTimestamp"].get<std::int64_t>() > first)
      (*doc)["firstEventTimestamp"] = first;
    if (!doc->contains("lastEventTimestamp") ||
        (*doc)["lastEventTimestamp"].get<std::int64_t>() < last)
      (*doc)["lastEventTimestamp"] = last;
    (*doc)["lastIngestionTime"] = ingestion;
    (*doc)["uploadSequenceToken"] = sequence_token(last_seq);
    state_.put("logs", "stream", stream_key(group, stream), *doc);
  });
  return last_seq;
}

std::string LogsStore::sequence_token(std::int64_t seq) {
  char token[64];
  std::snprintf(token, sizeof token, "%056lld", static_cast<long long>(seq));
  return token;
}

std::optional<nlohmann::json> LogsStore::group(const std::string& group) const {
  return state_.get("logs", "group", group);
}

std::vector<nlohmann::json> LogsStore::groups() const {
  std::vector<nlohmann::json> out;
  for (auto& [id, doc] : state_.list("logs", "group"))
    out.push_back(std::move(doc));
  return out;
}

bool LogsStore::update_group(const std::string& group, const nlohmann::json& doc) {
  auto& db = state_.db();
  return db.transaction([&] {
    auto s = db.prepare(
        "UPDATE resources SET doc = ?2 WHERE service = 'logs' AND kind = 'group' AND id = ?1 "
        "RETURNING id");
    s.bind(1, group).bind(2, doc.dump());
    bool updated = s.step();
    s.run();
    return updated;
  });
}

bool LogsStore::delete_group(const std::string& group) {
  auto& db = state_.db();
  std::lock_guard streams_lock(streams_mu_);
  return db.transaction([&] {
    auto g = db.prepare(
        "DELETE FROM resources WHERE service = 'logs' AND kind = 'group' AND id = ?1 RETURNING id");
    g.bind(1, group);
    bool existed = g.step();
    g.run();
    if (!existed) return false;
    // A group's streams are the ids from "group\n" up to (not including) "group\x0b".
    auto s = db.prepare(
        "DELETE FROM resources WHERE service = 'logs' AND kind = 'stream' AND id >= ?1 AND id < "
        "?2");
    s.bind(1, group + "\n").bind(2, group + "\x0b");
    s.run();
    auto e = db.prepare("DELETE FROM log_events WHERE log_group = ?1");
    e.bind(1, group);
    e.run();
    return true;
  });
}

std::optional<nlohmann::json> LogsStore::stream(const std::string& group,
                                                const std::string& stream) const {
  return state_.get("logs", "stream", stream_key(group, stream));
}

std::vector<nlohmann::json> LogsStore::streams(const std::string& group) const {
  auto& db = state_.db();
  auto lock = db.lock();
  auto s = db.prepare(
      "SELECT doc FROM resources WHERE service = 'logs' AND kind = 'stream' AND id >= ?1 AND id < "
      "?2 ORDER BY seq");
  s.bind(1, group + "\n").bind(2, group + "\x0b");
  std::vector<nlohmann::json> out;
  while (s.step())
    out.push_back(nlohmann::json::parse(s.text(0)));
  return out;
}

bool LogsStore::delete_stream(const std::string& group, const std::string& stream) {
  auto& db = state_.db();
  std::lock_guard streams_lock(streams_mu_);
  return db.transaction([&] {
    auto r = db.prepare(
        "DELETE FROM resources WHERE service = 'logs' AND kind = 'stream' AND id = ?1 RETURNING "
        "id");
    r.bind(1, stream_key(group, stream));
    bool existed = r.step();
    r.run();
    if (!existed) return false;
    auto e = db.prepare("DELETE FROM log_events WHERE log_group = ?1 AND log_stream = ?2");
    e.bind(1, group).bind(2, stream);
    e.run();
    return true;
  });
}

void LogsStore::expire(const std::string& group) {
  auto doc = state_.get("logs", "group", group);
  if (!doc || !doc->contains("retentionInDays")) return;
  std::int64_t days = (*doc)["retentionInDays"].get<std::int64_t>();
  auto& db = state_.db();
  db.transaction([&] {
    auto s = db.prepare("DELETE FROM log_events WHERE log_group = ?1 AND timestamp < ?2");
    s.bind(1, group).bind(2, epoch_millis() - days * 86'400'000);
    s.run();
  });
}

std::int64_t LogsStore::stored_bytes(const std::string& group) const {
  auto& db = state_.db();
  auto lock = db.lock();
  auto s = db.prepare(
      "SELECT COALESCE(SUM(LENGTH(CAST(message AS BLOB))), 0) FROM log_events WHERE log_group = "
      "?1");
  s.bind(1, group);
  return s.step() ? s.integer(0) : 0;
}

void LogsStore::scan(const EventQuery& q,
                     const std::function<bool(const StoredEvent&)>& visit) const {
  std::string sql =
      "SELECT timestamp, seq, ingestion_time, log_stream, message FROM log_events WHERE "
      "log_group = ?1";
  // Parameters after the group, in order: texts and integers.
  std::vector<std::variant<std::string, std::int64_t>> params;
  auto param = [&](std::variant<std::string, std::int64_t> v) {
    params.push_back(std::move(v));
    return "?" + std::to_string(params.size() + 1);
  };
  if (!q.streams.empty()) {
    sql += " AND log_stream IN (";
    for (std::size_t i = 0; i < q.streams.size(); ++i)
      sql += (i ? ", " : "") + param(q.streams[i]);
    sql += ")";
  }
  if (!q.stream_prefix.empty()) {
    sql += " AND substr(log_stream, 1, " + param(static_cast<std::int64_t>(q.stream_prefix.size()));
    sql += ") = " + param(q.stream_prefix);
  }
  if (q.min_time) sql += " AND timestamp >= " + param(*q.min_time);
  if (q.max_time) sql += " AND timestamp <= " + param(*q.max_time);
  if (q.from) {
    std::string t = param(q.from->timestamp);
    sql += " AND (timestamp, seq) >= (" + t + ", " + param(q.from->seq) + ")";
  }
  if (q.until) {
    std::string t = param(q.until->timestamp);
    sql += " AND (timestamp, seq) < (" + t + ", " + param(q.until->seq) + ")";
  }
  sql += q.descending ? " ORDER BY timestamp DESC, seq DESC" : " ORDER BY timestamp, seq";
  auto& db = state_.db();
  auto lock = db.lock();
  auto s = db.prepare(sql);
  s.bind(1, q.group);
  for (std::size_t i = 0; i < params.size(); ++i) {
    int index = static_cast<int>(i) + 2;
    if (const auto* text = std::get_if<std::string>(&params[i]))
      s.bind(index, *text);
    else
      s.bind(index, std::get<std::int64_t>(params[i]));
  }
  while (s.step()) {
    StoredEvent e;
    e.key = {s.integer(0), s.integer(1)};
    e.ingestion_time = s.integer(2);
    e.stream = s.text(3);
    e.message = s.text(4);
    if (!visit(e)) break;
  }
}

}  // namespace sockerless::sims::aws
