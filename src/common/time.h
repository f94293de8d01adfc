// Time in the formats the Engine API uses.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sockerless {

using Clock = std::chrono::system_clock;
using TimePoint = Clock::time_point;

// RFC 3339 with nanoseconds and trailing zeros trimmed, UTC ("2026-11-22T10:00:00.5Z"),
// the way Go's time.Time marshals to JSON.
std::string format_rfc3339_nano(TimePoint t);

std::int64_t unix_nanos(TimePoint t);
TimePoint from_unix_nanos(std::int64_t nanos);

// Parses the timestamps `since`/`until` take: "SECONDS[.NANOSECONDS]" (what the CLI sends),
// or an RFC 3339 date. Returns nullopt when the text is neither.
std::optional<TimePoint> parse_api_timestamp(std::string_view text);

}  // namespace sockerless
