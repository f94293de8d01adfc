#include "common/time.h"

#include <charconv>
#include <cstdio>
#include <ctime>

namespace sockerless {

std::int64_t unix_nanos(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

TimePoint from_unix_nanos(std::int64_t nanos) {
  return TimePoint(std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(nanos)));
}

std::string format_rfc3339_nano(TimePoint t) {
  std::int64_t ns = unix_nanos(t);
  std::int64_t secs = ns / 1'000'000'000;
  std::int64_t frac = ns % 1'000'000'000;
  if (frac < 0) {
    frac += 1'000'000'000;
    --secs;
  }
  std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  std::string out(buf, static_cast<std::size_t>(n));
  if (frac != 0) {
    char fb[16];
    std::snprintf(fb, sizeof fb, ".%09lld", static_cast<long long>(frac));
    std::string f(fb);
    while (f.back() == '0')
      f.pop_back();
    out += f;
  }
  out += 'Z';
  return out;
}

namespace {

bool parse_digits(std::string_view s, std::int64_t& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

std::optional<TimePoint> parse_rfc3339(std::string_view s) {
  int y, mo, d, h, mi, sec;
  int consumed = 0;
  std::string text(s);
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec,
                  &consumed) != 6)
    return std::nullopt;
  std::string_view rest = s.substr(static_cast<std::size_t>(consumed));
  std::int64_t nanos = 0;
  if (!rest.empty() && rest.front() == '.') {
    rest.remove_prefix(1);
    std::size_t digits = 0;
    while (digits < rest.size() && rest[digits] >= '0' && rest[digits] <= '9')
      ++digits;
    if (digits == 0) return std::nullopt;
    std::string frac(rest.substr(0, digits));
    frac.resize(9, '0');
    nanos = std::stoll(frac.substr(0, 9));
    rest.remove_prefix(digits);
  }
  std::int64_t offset = 0;
  if (rest == "Z" || rest == "z") {
  } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':') {
    std::int64_t oh, om;
    if (!parse_digits(rest.substr(1, 2), oh) || !parse_digits(rest.substr(4, 2), om))
      return std::nullopt;
    offset = (oh * 3600 + om * 60) * (rest[0] == '+' ? 1 : -1);
  } else {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  std::int64_t secs = static_cast<std::int64_t>(timegm(&tm)) - offset;
  return from_unix_nanos(secs * 1'000'000'000 + nanos);
}

}  // namespace

std::optional<TimePoint> parse_api_timestamp(std::string_view text) {
  if (text.find('-') != std::string_view::npos && text.find('T') != std::string_view::npos)
    return parse_rfc3339(text);
  std::string_view whole = text, frac;
  if (auto dot = text.find('.'); dot != std::string_view::npos) {
    whole = text.substr(0, dot);
    frac = text.substr(dot + 1);
  }
  std::int64_t secs = 0, nanos = 0;
  if (!parse_digits(whole, secs)) return std::nullopt;
  if (!frac.empty()) {
    if (frac.size() > 9) frac = frac.substr(0, 9);
    std::string padded(frac);
    padded.resize(9, '0');
    if (!parse_digits(padded, nanos)) return std::nullopt;
  }
  return from_unix_nanos(secs * 1'000'000'000 + nanos);
}

}  // namespace sockerless
