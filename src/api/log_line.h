// One line of a container's log file, as the monitor writes it (dockerd's json-file shape:
// {"log":"…","stream":"stdout","time":"…"}), read back quickly: `docker logs` of a large
// log is mostly this.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sockerless::api {

struct LogEntry {
  std::string stream;  // "stdout" or "stderr"
  std::string text;    // the bytes the container wrote, newline included
  std::string time;    // RFC 3339 with nanoseconds
};

// Reads a line. The monitor's own shape (keys in that order, nlohmann's escapes) is read
// directly; anything else goes through a full JSON parse. nullopt: not a log entry.
std::optional<LogEntry> parse_log_entry(std::string_view line);

}  // namespace sockerless::api
