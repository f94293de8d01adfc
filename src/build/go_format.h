// The few Go formatting rules dockerd's builder output depends on: history strings are
// built with fmt's %q and %v, and HEALTHCHECK takes Go durations.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sockerless::build {

// strconv.Quote: "…" with Go escapes (\" \\ \n \t \x01 …); printable UTF-8 kept.
std::string go_quote(std::string_view s);

// %q of an int: strconv.QuoteRune ('\x00', '\x03', 'A').
std::string go_quote_rune(int value);

// %q of a []string: ["a" "b"].
std::string go_quote_list(const std::vector<std::string>& list);

// %v of a []string: [a b].
std::string go_list(const std::vector<std::string>& list);

// time.Duration.String(): "0s", "1.5s", "5m0s", "1h0m0s", "300ms", "2µs".
std::string go_duration(std::int64_t nanoseconds);

// time.ParseDuration ("1m30s", "-2h", "500ms", "0"). Throws InvalidArgument with Go's
// wording: time: invalid duration "x".
std::int64_t parse_go_duration(std::string_view text);

}  // namespace sockerless::build
