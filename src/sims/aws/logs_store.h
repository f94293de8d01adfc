// CloudWatch Logs' storage, shared by the Logs API (logs.cc) and what writes into it
// (ECS's awslogs driver, Lambda's function logs): groups and streams are resources in the
// simulator's state, events rows of its log_events table.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sockerless::sims {
class State;
}

namespace sockerless::sims::aws {

struct LogEvent {
  std::int64_t timestamp = 0;  // epoch milliseconds
  std::string message;
};

// Where an event stands in a group: events are ordered by timestamp, then by arrival.
struct EventKey {
  std::int64_t timestamp = 0;
  std::int64_t seq = 0;
};

struct StoredEvent {
  EventKey key;
  std::int64_t ingestion_time = 0;
  std::string stream, message;
};

// Which events of a group to read, and in which direction.
struct EventQuery {
  std::string group;
  std::vector<std::string> streams;  // empty: every stream (or those with stream_prefix)
  std::string stream_prefix;
  std::optional<std::int64_t> min_time, max_time;  // inclusive bounds on the timestamp
  std::optional<EventKey> from;                    // inclusive lower bound
  std::optional<EventKey> until;                   // exclusive upper bound
  bool descending = false;
};

class LogsStore {
 public:
  LogsStore(State& state, std::string region, std::string account_id);

  bool group_exists(const std::string& group) const;
  // Creates the group; false when it exists.
  bool create_group(const std::string& group, const nlohmann::json& tags = nullptr,
                    const std::string& kms_key = "");
  bool stream_exists(const std::string& group, const std::string& stream) const;
  // Creates the stream (the group must exist); false when it exists.
  bool create_stream(const std::string& group, const std::string& stream);
  // Appends events to a stream, creating the stream when absent (the group must exist).
  // Returns the sequence number of the last event stored (0 when none), whose token the
  // stream's uploadSequenceToken becomes.
  std::int64_t append(const std::string& group, const std::string& stream,
                      const std::vector<LogEvent>& events);

  std::string group_arn(const std::string& group) const;
  // The sequence token of an event's sequence number, in CloudWatch's 56-digit form.
  static std::string sequence_token(std::int64_t seq);

  // The group's document (logGroupName, creationTime, arn, tags, retentionInDays, …).
  std::optional<nlohmann::json> group(const std::string& group) const;
  // Every group's document, in creation order.
  std::vector<nlohmann::json> groups() const;
  // Replaces the group's document (its retention, its tags); false when the group is gone.
  bool update_group(const std::string& group, const nlohmann::json& doc);
  // Deletes the group with its streams and their events; false when absent.
  bool delete_group(const std::string& group);

  std::optional<nlohmann::json> stream(const std::string& group, const std::string& stream) const;
  // The group's streams' documents, in creation order.
  std::vector<nlohmann::json> streams(const std::string& group) const;
  // Deletes the stream and its events; false when absent.
  bool delete_stream(const std::string& group, const std::string& stream);

  // Deletes the group's events older than its retention (retentionInDays), as CloudWatch
  // Logs expires them. Readers call it before they read.
  void expire(const std::string& group);
  // The bytes of the group's event messages.
  std::int64_t stored_bytes(const std::string& group) const;
  // Visits the query's events in order until `visit` returns false. `visit` must not use
  // the store (the database is held while it runs).
  void scan(const EventQuery& query, const std::function<bool(const StoredEvent&)>& visit) const;

  State& state() { return state_; }

 private:
  State& state_;
  std::string region_, account_id_;
  std::mutex streams_mu_;  // a stream document's read-modify-write in append
};

}  // namespace sockerless::sims::aws
