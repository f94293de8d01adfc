// CloudWatch Logs (JSON 1.1, Logs_20140328): log groups (retention, tags), streams, and
// events: PutLogEvents with CloudWatch's batch rules, GetLogEvents with forward and
// backward tokens, FilterLogEvents with plain-term patterns. The storage is LogsStore's,
// which ECS's awslogs shipping writes into too.
#include <algorithm>
#include <cstdio>
#include <set>

#include "sims/aws/logs_pattern.h"
#include "sims/aws/logs_store.h"
#include "sims/aws/services.h"
#include "sims/common/service.h"
#include "sims/common/simulator.h"

namespace sockerless::sims::aws {
namespace {

using json = nlohmann::json;

constexpr std::int64_t kHour = 3'600'000;  // milliseconds
constexpr std::int64_t kDay = 24 * kHour;
constexpr std::size_t kMaxBatchBytes = 1'048'576;
constexpr std::size_t kEventOverhead = 26;  // what CloudWatch counts per event besides its text
constexpr long kMaxEvents = 10'000;

AwsError invalid(const std::string& message) {
  return AwsError(400, "InvalidParameterException", message);
}
AwsError not_found(const std::string& message) {
  return AwsError(400, "ResourceNotFoundException", message);
}
AwsError no_group() {
  return not_found("The specified log group does not exist.");
}
AwsError no_stream() {
  return not_found("The specified log stream does not exist.");
}

// Input fields, checked as CloudWatch Logs checks them (its validation errors are
// InvalidParameterException, where other services say ValidationException).
std::string string_field(const json& in, const char* field, bool needed) {
  if (!in.contains(field) || in[field].is_null()) {
    if (needed)
      throw invalid(std::string("1 validation error detected: Value null at '") + field +
                    "' failed to satisfy constraint: Member must not be null");
    return "";
  }
  if (!in[field].is_string())
    throw AwsError(400, "SerializationException",
                   std::string("Unexpected value type for '") + field + "': expected a string");
  return in[field].get<std::string>();
}

const json& need(const json& in, const char* field) {
  if (!in.contains(field) || in[field].is_null())
    throw invalid(std::string("1 validation error detected: Value null at '") + field +
                  "' failed to satisfy constraint: Member must not be null");
  return in[field];
}

std::optional<std::int64_t> integer_field(const json& in, const char* field) {
  if (!in.contains(field) || in[field].is_null()) return std::nullopt;
  if (!in[field].is_number_integer())
    throw AwsError(400, "SerializationException",
                   std::string("Unexpected value type for '") + field + "': expected an integer");
  return in[field].get<std::int64_t>();
}

bool bool_field(const json& in, const char* field, bool fallback) {
  if (!in.contains(field) || in[field].is_null()) return fallback;
  if (!in[field].is_boolean())
    throw AwsError(400, "SerializationException",
                   std::string("Unexpected value type for '") + field + "': expected a boolean");
  return in[field].get<bool>();
}

std::vector<std::string> string_list(const json& in, const char* field) {
  std::vector<std::string> out;
  if (!in.contains(field) || in[field].is_null()) return out;
  if (!in[field].is_array())
    throw AwsError(400, "SerializationException", std::string(field) + " must be a list");
  for (const auto& v : in[field]) {
    if (!v.is_string())
      throw AwsError(400, "SerializationException",
                     std::string(field) + " must be a list of strings");
    out.push_back(v.get<std::string>());
  }
  return out;
}

void check_length(const std::string& value, const char* field, std::size_t min, std::size_t max) {
  if (value.size() < min || value.size() > max)
    throw invalid("1 validation error detected: Value '" + value + "' at '" + field +
                  "' failed to satisfy constraint: Member must have length between " +
                  std::to_string(min) + " and " + std::to_string(max));
}

void check_group_name(const std::string& name, const char* field = "logGroupName") {
  check_length(name, field, 1, 512);
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_' &&
        c != '/' && c != '#')
      throw invalid("1 validation error detected: Value '" + name + "' at '" + field +
                    "' failed to satisfy constraint: Member must satisfy regular expression "
                    "pattern: [\\.\\-_/#A-Za-z0-9]+");
}

void check_stream_name(const std::string& name, const char* field = "logStreamName") {
  check_length(name, field, 1, 512);
  if (name.find_first_of(":*") != std::string::npos)
    throw invalid("1 validation error detected: Value '" + name + "' at '" + field +
                  "' failed to satisfy constraint: Member must satisfy regular expression "
                  "pattern: [^:*]*");
}

long checked_limit(const json& in, long max) {
  auto limit = integer_field(in, "limit");
  if (!limit) return 0;
  if (*limit < 1 || *limit > max)
    throw invalid("1 validation error detected: Value '" + std::to_string(*limit) +
                  "' at 'limit' failed to satisfy constraint: Member must have value between 1 "
                  "and " +
                  std::to_string(max));
  return static_cast<long>(*limit);
}

// Event positions as tokens: the timestamp and the sequence number, 19 digits each.
std::string key_digits(const EventKey& k) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%019lld%019lld", static_cast<long long>(k.timestamp),
                static_cast<long long>(k.seq));
  return buf;
}

std::optional<EventKey> parse_key_digits(const std::string& s) {
  if (s.size() != 38) return std::nullopt;
  for (char c : s)
    if (c < '0' || c > '9') return std::nullopt;
  return EventKey{std::stoll(s.substr(0, 19)), std::stoll(s.substr(19))};
}

// GetLogEvents' tokens: "f/<position>/s" reads on from a position, "b/<position>/s" back
// from it (as CloudWatch's "f/3755…/s" and "b/3755…/s").
std::string direction_token(char direction, const EventKey& k) {
  return std::string(1, direction) + "/" + key_digits(k) + "/s";
}

EventKey after(const EventKey& k) {
  return {k.timestamp, k.seq + 1};
}

// The log group a request names, by logGroupName or logGroupIdentifier (a name or an ARN).
std::string group_of(const json& in, const LogsStore& store, const std::string& region,
                     const std::string& account) {
  std::string name = string_field(in, "logGroupName", false);
  std::string id = string_field(in, "logGroupIdentifier", false);
  if (!name.empty() && !id.empty())
    throw invalid("LogGroup name and LogGroup ARN are mutually exclusive parameters.");
  if (name.empty() && id.empty())
    throw invalid("Either logGroupName or logGroupIdentifier must be provided.");
  if (!id.empty()) {
    std::string arn_prefix = "arn:aws:logs:" + region + ":" + account + ":log-group:";
    if (id.rfind("arn:", 0) == 0) {
      if (id.rfind(arn_prefix, 0) != 0) throw no_group();
      name = id.substr(arn_prefix.size());
      if (name.size() >= 2 && name.compare(name.size() - 2, 2, ":*") == 0)
        name.resize(name.size() - 2);
    } else {
      name = id;
    }
  }
  check_group_name(name);
  if (!store.group_exists(name)) throw no_group();
  return name;
}

// Tags as CloudWatch Logs takes them: a map of 1-128 character keys to values of up to 256.
void check_tags(const json& tags) {
  if (!tags.is_object()) throw AwsError(400, "SerializationException", "tags must be a map");
  for (auto& [k, v] : tags.items()) {
    if (k.empty() || k.size() > 128)
      throw invalid(
          "1 validation error detected: Value at 'tags' failed to satisfy constraint: "
          "Map keys must have length between 1 and 128");
    if (!v.is_string() || v.get<std::string>().size() > 256)
      throw invalid(
          "1 validation error detected: Value at 'tags' failed to satisfy constraint: "
          "Map values must be strings of at most 256 characters");
  }
}

class Logs : public AwsService {
 public:
  Logs(Simulator& sim, std::shared_ptr<LogsStore> store)
      : store_(std::move(store)),
        region_(sim.options().region),
        account_(sim.options().account_id) {
    operation("CreateLogGroup",
              [this](const json& in, const AwsContext&) { return create_log_group(in); });
    operation("DeleteLogGroup", [this](const json& in, const AwsContext&) {
      std::string group = string_field(in, "logGroupName", true);
      check_group_name(group);
      if (!store_->delete_group(group)) throw no_group();
      return json::object();
    });
    operation("DescribeLogGroups",
              [this](const json& in, const AwsContext&) { return describe_log_groups(in); });
    operation("PutRetentionPolicy",
              [this](const json& in, const AwsContext&) { return put_retention(in); });
    operation("DeleteRetentionPolicy", [this](const json& in, const AwsContext&) {
      return change_group(in, [](json& g) { g.erase("retentionInDays"); });
    });
    operation("CreateLogStream", [this](const json& in, const AwsContext&) {
      std::string group = string_field(in, "logGroupName", true);
      std::string stream = string_field(in, "logStreamName", true);
      check_group_name(group);
      check_stream_name(stream);
      if (!store_->group_exists(group)) throw no_group();
      if (!store_->create_stream(group, stream))
        throw AwsError(400, "ResourceAlreadyExistsException",
                       "The specified log stream already exists");
      return json::object();
    });
    operation("DeleteLogStream", [this](const json& in, const AwsContext&) {
      std::string group = string_field(in, "logGroupName", true);
      std::string stream = string_field(in, "logStreamName", true);
      check_group_name(group);
      check_stream_name(stream);
      if (!store_->group_exists(group)) throw no_group();
      if (!store_->delete_stream(group, stream)) throw no_stream();
      return json::object();
    });
    operation("DescribeLogStreams",
              [this](const json& in, const AwsContext&) { return describe_log_streams(in); });
    operation("PutLogEvents",
              [this](const json& in, const AwsContext&) { return put_log_events(in); });
    operation("GetLogEvents",
              [this](const json& in, const AwsContext&) { return get_log_events(in); });
    operation("FilterLogEvents",
              [this](const json& in, const AwsContext&) { return filter_log_events(in); });
    // Tags by ARN, and the older calls by log group name.
    operation("TagResource", [this](const json& in, const AwsContext&) {
      return tag(group_of_arn(in), need(in, "tags"), {}, "TooManyTagsException");
    });
    operation("UntagResource", [this](const json& in, const AwsContext&) {
      need(in, "tagKeys");
      return tag(group_of_arn(in), json::object(), string_list(in, "tagKeys"),
                 "TooManyTagsException");
    });
    operation("ListTagsForResource", [this](const json& in, const AwsContext&) {
      return json{{"tags", group_doc(group_of_arn(in)).value("tags", json::object())}};
    });
    operation("TagLogGroup", [this](const json& in, const AwsContext&) {
      return tag(named_group(in), need(in, "tags"), {}, "InvalidParameterException");
    });
    operation("UntagLogGroup", [this](const json& in, const AwsContext&) {
      need(in, "tags");
      return tag(named_group(in), json::object(), string_list(in, "tags"),
                 "InvalidParameterException");
    });
    operation("ListTagsLogGroup", [this](const json& in, const AwsContext&) {
      return json{{"tags", group_doc(named_group(in)).value("tags", json::object())}};
    });
  }

  std::string signing_name() const override { return "logs"; }
  Protocol protocol() const override { return Protocol::kJson; }
  std::string target_prefix() const override { return "Logs_20140328"; }

 private:
  json group_doc(const std::string& group) const {
    auto doc = store_->group(group);
    if (!doc) throw no_group();
    return *doc;
  }

  std::string named_group(const json& in) const {
    std::string group = string_field(in, "logGroupName", true);
    check_group_name(group);
    if (!store_->group_exists(group)) throw no_group();
    return group;
  }

  // Reads, changes and writes a group's document.
  template <class F>
  json change_group(const json& in, F&& change) {
    std::string group = named_group(in);
    json doc = group_doc(group);
    change(doc);
    if (!store_->update_group(group, doc)) throw no_group();
    return json::object();
  }

  // ------------------------------------------------------------------ groups
  json create_log_group(const json& in) {
    std::string group = string_field(in, "logGroupName", true);
    check_group_name(group);
    if (group.rfind("aws/", 0) == 0)
      throw invalid("Log group names can't start with the string aws/");
    json tags = in.value("tags", json::object());
    if (tags.is_null()) tags = json::object();
    check_tags(tags);
    if (tags.size() > 50) throw invalid("A log group can have at most 50 tags");
    std::string cls = string_field(in, "logGroupClass", false);
    static const std::set<std::string> classes = {"STANDARD", "INFREQUENT_ACCESS", "DELIVERY",
                                                  "ESSENTIALS"};
    if (!cls.empty() && !classes.count(cls))
      throw invalid("1 validation error detected: Value '" + cls +
                    "' at 'logGroupClass' failed to satisfy constraint: Member must satisfy enum "
                    "value set: [STANDARD, INFREQUENT_ACCESS, DELIVERY, ESSENTIALS]");
    if (!store_->create_group(group, tags, string_field(in, "kmsKeyId", false)))
      throw AwsError(400, "ResourceAlreadyExistsException",
                     "The specified log group already exists");
    if (!cls.empty() && cls != "STANDARD") {
      json doc = group_doc(group);
      doc["logGroupClass"] = cls;
      store_->update_group(group, doc);
    }
    return json::object();
  }

  json describe_log_groups(const json& in) {
    std::string prefix = string_field(in, "logGroupNamePrefix", false);
    std::string pattern = string_field(in, "logGroupNamePattern", false);
    if (!prefix.empty() && !pattern.empty())
      throw invalid(
          "LogGroup name prefix and LogGroup name pattern are mutually exclusive "
          "parameters.");
    if (!prefix.empty()) check_group_name(prefix, "logGroupNamePrefix");
    std::string cls = string_field(in, "logGroupClass", false);
    std::set<std::string> wanted;
    for (const auto& id : string_list(in, "logGroupIdentifiers")) {
      std::string arn_prefix = "arn:aws:logs:" + region_ + ":" + account_ + ":log-group:";
      std::string name = id.rfind(arn_prefix, 0) == 0 ? id.substr(arn_prefix.size()) : id;
      if (name.size() >= 2 && name.compare(name.size() - 2, 2, ":*") == 0)
        name.resize(name.size() - 2);
      wanted.insert(name);
    }
    long limit = checked_limit(in, 50);
    std::vector<json> groups;
    for (auto& g : store_->groups()) {
      std::string name = g.value("logGroupName", "");
      if (!prefix.empty() && name.rfind(prefix, 0) != 0) continue;
      if (!pattern.empty() && name.find(pattern) == std::string::npos) continue;
      if (in.contains("logGroupIdentifiers") && !wanted.count(name)) continue;
      if (!cls.empty() && g.value("logGroupClass", "STANDARD") != cls) continue;
      groups.push_back(std::move(g));
    }
    std::sort(groups.begin(), groups.end(), [](const json& a, const json& b) {
      return a.value("logGroupName", "") < b.value("logGroupName", "");
    });
    Page page = page_of(groups.size(), string_field(in, "nextToken", false), limit, 50);
    json out = {{"logGroups", json::array()}};
    for (std::size_t i = page.begin; i < page.begin + page.count; ++i) {
      json g = groups[i];
      std::string name = g.value("logGroupName", "");
      if (!pattern.empty()) {
        // With a pattern CloudWatch answers these three fields only.
        out["logGroups"].push_back(
            {{"logGroupName", name}, {"creationTime", g["creationTime"]}, {"arn", g["arn"]}});
        continue;
      }
      store_->expire(name);
      g.erase("tags");
      g["storedBytes"] = store_->stored_bytes(name);
      out["logGroups"].push_back(std::move(g));
    }
    if (!page.next_token.empty()) out["nextToken"] = page.next_token;
    return out;
  }

  json put_retention(const json& in) {
    auto days = integer_field(in, "retentionInDays");
    if (!days)
      throw invalid(
          "1 validation error detected: Value null at 'retentionInDays' failed to "
          "satisfy constraint: Member must not be null");
    static const std::set<std::int64_t> valid = {1,    3,    5,    7,    14,   30,  60,  90,
                                                 120,  150,  180,  365,  400,  545, 731, 1096,
                                                 1827, 2192, 2557, 2922, 3288, 3653};
    if (!valid.count(*days))
      throw invalid("1 validation error detected: Value '" + std::to_string(*days) +
                    "' at 'retentionInDays' failed to satisfy constraint: Member must satisfy "
                    "enum value set: [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, "
                    "731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]");
    return change_group(in, [&](json& g) { g["retentionInDays"] = *days; });
  }

  // ------------------------------------------------------------------ streams
  json describe_log_streams(const json& in) {
    std::string group = group_of(in, *store_, region_, account_);
    std::string prefix = string_field(in, "logStreamNamePrefix", false);
    if (!prefix.empty()) check_stream_name(prefix, "logStreamNamePrefix");
    std::string order = string_field(in, "orderBy", false);
    if (order.empty()) order = "LogStreamName";
    if (order != "LogStreamName" && order != "LastEventTime")
      throw invalid("1 validation error detected: Value '" + order +
                    "' at 'orderBy' failed to satisfy constraint: Member must satisfy enum value "
                    "set: [LogStreamName, LastEventTime]");
    if (order == "LastEventTime" && !prefix.empty())
      throw invalid("Cannot order by LastEventTime with a logStreamNamePrefix.");
    bool descending = bool_field(in, "descending", false);
    long limit = checked_limit(in, 50);
    store_->expire(group);
    std::vector<json> streams;
    for (auto& s : store_->streams(group))
      if (prefix.empty() || s.value("logStreamName", "").rfind(prefix, 0) == 0)
        streams.push_back(std::move(s));
    auto name = [](const json& s) { return s.value("logStreamName", ""); };
    auto last = [](const json& s) { return s.value("lastEventTimestamp", std::int64_t{0}); };
    std::stable_sort(streams.begin(), streams.end(), [&](const json& a, const json& b) {
      if (order == "LastEventTime" && last(a) != last(b)) return last(a) < last(b);
      return name(a) < name(b);
    });
    if (descending) std::reverse(streams.begin(), streams.end());
    Page page = page_of(streams.size(), string_field(in, "nextToken", false), limit, 50);
    json out = {{"logStreams", json::array()}};
    for (std::size_t i = page.begin; i < page.begin + page.count; ++i) {
      json s = streams[i];
      s.erase("logGroupName");
      s["storedBytes"] = 0;  // as CloudWatch has reported for streams since 2019
      out["logStreams"].push_back(std::move(s));
    }
    if (!page.next_token.empty()) out["nextToken"] = page.next_token;
    return out;
  }

  // ------------------------------------------------------------------ events
  json put_log_events(const json& in) {
    std::string group = string_field(in, "logGroupName", true);
    std::string stream = string_field(in, "logStreamName", true);
    check_group_name(group);
    check_stream_name(stream);
    const json& given = need(in, "logEvents");
    if (!given.is_array())
      throw AwsError(400, "SerializationException", "logEvents must be a list");
    if (given.empty() || static_cast<long>(given.size()) > kMaxEvents)
      throw invalid(
          "1 validation error detected: Value at 'logEvents' failed to satisfy "
          "constraint: Member must have length between 1 and 10000");
    std::vector<LogEvent> events;
    std::size_t bytes = 0;
    for (std::size_t i = 0; i < given.size(); ++i) {
      const json& e = given[i];
      if (!e.is_object()) throw AwsError(400, "SerializationException", "log events are objects");
      auto ts = integer_field(e, "timestamp");
      std::string message = string_field(e, "message", false);
      if (!ts)
        throw invalid("1 validation error detected: Value null at 'logEvents." +
                      std::to_string(i + 1) +
                      ".member.timestamp' failed to satisfy constraint: Member must not be null");
      if (message.empty())
        throw invalid("1 validation error detected: Value at 'logEvents." + std::to_string(i + 1) +
                      ".member.message' failed to satisfy constraint: Member must have length "
                      "greater than or equal to 1");
      if (!events.empty() && *ts < events.back().timestamp)
        throw invalid(
            "Log events in a single PutLogEvents request must be in chronological "
            "order.");
      bytes += message.size() + kEventOverhead;
      events.push_back({*ts, std::move(message)});
    }
    if (bytes > kMaxBatchBytes)
      throw invalid("Upload too large: " + std::to_string(bytes) + " bytes exceeds limit of " +
                    std::to_string(kMaxBatchBytes));
    auto doc = store_->group(group);
    if (!doc) throw no_group();
    if (!store_->stream_exists(group, stream)) throw no_stream();

    // Too old (14 days), else past the group's retention, or too new (2 hours ahead) are
    // left out and reported by index; the rest is stored.
    std::int64_t now = epoch_millis();
    std::optional<std::int64_t> retention;
    if (doc->contains("retentionInDays")) retention = (*doc)["retentionInDays"].get<std::int64_t>();
    json rejected = json::object();
    std::vector<LogEvent> kept;
    for (std::size_t i = 0; i < events.size(); ++i) {
      std::int64_t ts = events[i].timestamp;
      int index = static_cast<int>(i);
      bool reject = false;
      if (ts < now - 14 * kDay) {
        rejected["tooOldLogEventEndIndex"] = index;
        reject = true;
      } else if (retention && ts < now - *retention * kDay) {
        rejected["expiredLogEventEndIndex"] = index;
        reject = true;
      }
      if (ts > now + 2 * kHour) {
        if (!rejected.contains("tooNewLogEventStartIndex"))
          rejected["tooNewLogEventStartIndex"] = index;
        reject = true;
      }
      if (!reject) kept.push_back(std::move(events[i]));
    }
    if (!kept.empty() && kept.back().timestamp - kept.front().timestamp > kDay)
      throw invalid(
          "The batch of log events in a single PutLogEvents request cannot span more "
          "than 24 hours.");
    std::int64_t seq = store_->append(group, stream, kept);
    // The token is ignored on the way in, as CloudWatch now ignores it; one still comes out.
    json out = {{"nextSequenceToken", LogsStore::sequence_token(seq)}};
    if (!rejected.empty()) out["rejectedLogEventsInfo"] = rejected;
    return out;
  }

  // Events for a page: up to `limit` and up to 1 MB of messages (at least one event).
  static bool page_full(std::size_t count, std::size_t bytes, const StoredEvent& next,
                        std::size_t limit) {
    if (count >= limit) return true;
    return count > 0 && bytes + next.message.size() + kEventOverhead > kMaxBatchBytes;
  }

  json get_log_events(const json& in) {
    std::string group = group_of(in, *store_, region_, account_);
    std::string stream = string_field(in, "logStreamName", true);
    check_stream_name(stream);
    if (!store_->stream_exists(group, stream)) throw no_stream();
    auto start = integer_field(in, "startTime");
    auto end = integer_field(in, "endTime");
    std::size_t limit = static_cast<std::size_t>(checked_limit(in, kMaxEvents));
    if (limit == 0) limit = kMaxEvents;
    bool from_head = bool_field(in, "startFromHead", false);
    std::string token = string_field(in, "nextToken", false);

    EventQuery q;
    q.group = group;
    q.streams = {stream};
    q.min_time = start;
    if (end) q.max_time = *end - 1;  // endTime itself is not included
    // The position the page starts from, and which way it reads.
    bool forward = from_head;
    EventKey position{start.value_or(0), 0};
    if (!token.empty()) {
      std::optional<EventKey> k;
      if (token.size() >= 3 && (token[0] == 'f' || token[0] == 'b') && token[1] == '/') {
        std::string digits = token.substr(2);
        if (digits.size() > 2 && digits.compare(digits.size() - 2, 2, "/s") == 0)
          digits.resize(digits.size() - 2);
        k = parse_key_digits(digits);
      }
      if (!k) throw invalid("The specified nextToken is invalid.");
      forward = token[0] == 'f';
      position = *k;
      (forward ? q.from : q.until) = position;
    }
    q.descending = !forward;
    store_->expire(group);
    std::vector<StoredEvent> page;
    std::size_t bytes = 0;
    store_->scan(q, [&](const StoredEvent& e) {
      if (page_full(page.size(), bytes, e, limit)) return false;
      bytes += e.message.size() + kEventOverhead;
      page.push_back(e);
      return true;
    });
    if (!forward) std::reverse(page.begin(), page.end());
    json out = {{"events", json::array()}};
    for (const auto& e : page)
      out["events"].push_back({{"timestamp", e.key.timestamp},
                               {"message", e.message},
                               {"ingestionTime", e.ingestion_time}});
    if (page.empty()) {
      // Nothing more this way: the token given comes back, which is how clients stop.
      out["nextForwardToken"] = forward && !token.empty() ? token : direction_token('f', position);
      out["nextBackwardToken"] =
          !forward && !token.empty() ? token : direction_token('b', position);
    } else {
      out["nextForwardToken"] = direction_token('f', after(page.back().key));
      out["nextBackwardToken"] = direction_token('b', page.front().key);
    }
    return out;
  }

  json filter_log_events(const json& in) {
    std::string group = group_of(in, *store_, region_, account_);
    EventQuery q;
    q.group = group;
    q.streams = string_list(in, "logStreamNames");
    if (in.contains("logStreamNames") && (q.streams.empty() || q.streams.size() > 100))
      throw invalid(
          "1 validation error detected: Value at 'logStreamNames' failed to satisfy "
          "constraint: Member must have length between 1 and 100");
    q.stream_prefix = string_field(in, "logStreamNamePrefix", false);
    if (!q.streams.empty() && !q.stream_prefix.empty())
      throw invalid("logStreamNames and logStreamNamePrefix are mutually exclusive parameters.");
    q.min_time = integer_field(in, "startTime");
    q.max_time = integer_field(in, "endTime");
    std::string pattern_text = string_field(in, "filterPattern", false);
    if (pattern_text.size() > 1024)
      throw invalid(
          "1 validation error detected: Value at 'filterPattern' failed to satisfy "
          "constraint: Member must have length less than or equal to 1024");
    FilterPattern pattern = parse_filter_pattern(pattern_text);
    std::size_t limit = static_cast<std::size_t>(checked_limit(in, kMaxEvents));
    if (limit == 0) limit = kMaxEvents;
    bool ascending = bool_field(in, "startFromHead", true);
    if (!ascending && q.min_time && *q.min_time < 1'704'067'200'000)
      throw invalid(
          "startFromHead set to false is supported only when startTime is on or after "
          "Jan 1, 2024 00:00:00 UTC.");
    // nextToken: "a/<position>" reads on from it, "d/<position>" back from it.
    std::string token = string_field(in, "nextToken", false);
    if (!token.empty()) {
      std::optional<EventKey> k;
      if (token.size() > 2 && (token[0] == 'a' || token[0] == 'd') && token[1] == '/')
        k = parse_key_digits(token.substr(2));
      if (!k) throw invalid("The specified nextToken is invalid.");
      ascending = token[0] == 'a';
      (ascending ? q.from : q.until) = *k;
    }
    q.descending = !ascending;
    store_->expire(group);
    json events = json::array();
    std::size_t bytes = 0;
    std::optional<EventKey> next;
    store_->scan(q, [&](const StoredEvent& e) {
      if (!pattern.matches(e.message)) return true;
      if (page_full(events.size(), bytes, e, limit)) {
        next = ascending ? e.key : after(e.key);
        return false;
      }
      bytes += e.message.size() + kEventOverhead;
      events.push_back({{"logStreamName", e.stream},
                        {"timestamp", e.key.timestamp},
                        {"message", e.message},
                        {"ingestionTime", e.ingestion_time},
                        {"eventId", key_digits(e.key)}});
      return true;
    });
    // searchedLogStreams has been an empty list since 2020.
    json out = {{"events", events}, {"searchedLogStreams", json::array()}};
    if (next) out["nextToken"] = std::string(ascending ? "a/" : "d/") + key_digits(*next);
    return out;
  }

  // ------------------------------------------------------------------ tags
  // The log group an ARN names: arn:aws:logs:REGION:ACCOUNT:log-group:NAME (":*" allowed).
  std::string group_of_arn(const json& in) const {
    std::string arn = string_field(in, "resourceArn", true);
    if (arn.rfind("arn:", 0) != 0 || arn.size() > 1011) throw invalid("Invalid ARN: " + arn);
    std::string prefix = "arn:aws:logs:" + region_ + ":" + account_ + ":log-group:";
    if (arn.rfind(prefix, 0) != 0) throw not_found("The specified resource does not exist: " + arn);
    std::string name = arn.substr(prefix.size());
    if (name.size() >= 2 && name.compare(name.size() - 2, 2, ":*") == 0)
      name.resize(name.size() - 2);
    if (name.empty() || !store_->group_exists(name))
      throw not_found("The specified resource does not exist: " + arn);
    return name;
  }

  json tag(const std::string& group, const json& add, const std::vector<std::string>& remove,
           const char* too_many_code) {
    check_tags(add);
    json doc = group_doc(group);
    json tags = doc.value("tags", json::object());
    if (!tags.is_object()) tags = json::object();
    for (auto& [k, v] : add.items())
      tags[k] = v;
    for (const auto& k : remove)
      tags.erase(k);
    if (tags.size() > 50) throw AwsError(400, too_many_code, "A resource can have at most 50 tags");
    doc["tags"] = tags;
    if (!store_->update_group(group, doc)) throw no_group();
    return json::object();
  }

  std::shared_ptr<LogsStore> store_;
  std::string region_, account_;
};

}  // namespace

std::shared_ptr<AwsService> make_logs(Simulator& sim, std::shared_ptr<LogsStore> store) {
  return std::make_shared<Logs>(sim, std::move(store));
}

}  // namespace sockerless::sims::aws
