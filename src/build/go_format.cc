#include "build/go_format.h"

#include <cstdio>
#include <limits>

#include "common/errors.h"

namespace sockerless::build {

namespace {

std::string hex_escape(unsigned char c) {
  char buf[5];
  std::snprintf(buf, sizeof buf, "\\x%02x", c);
  return buf;
}

// Escapes one byte inside a Go quoted string or rune literal.
std::string escape_byte(unsigned char c, char quote) {
  switch (c) {
    case '\a':
      return "\\a";
    case '\b':
      return "\\b";
    case '\f':
      return "\\f";
    case '\n':
      return "\\n";
    case '\r':
      return "\\r";
    case '\t':
      return "\\t";
    case '\v':
      return "\\v";
    case '\\':
      return "\\\\";
    default:
      break;
  }
  if (c == static_cast<unsigned char>(quote)) return std::string("\\") + quote;
  if (c < 0x20 || c == 0x7f) return hex_escape(c);
  return std::string(1, static_cast<char>(c));
}

// Writes the fraction of v / 10^digits (trailing zeros dropped) like Go's fmtFrac.
std::string with_fraction(std::uint64_t v, int digits) {
  std::string frac;
  bool print = false;
  for (int i = 0; i < digits; ++i) {
    auto digit = v % 10;
    print = print || digit != 0;
    if (print) frac.insert(frac.begin(), static_cast<char>('0' + digit));
    v /= 10;
  }
  return std::to_string(v) + (frac.empty() ? "" : "." + frac);
}

}  // namespace

std::string go_quote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s)
    out += c >= 0x80 ? std::string(1, static_cast<char>(c)) : escape_byte(c, '"');
  return out + "\"";
}

std::string go_quote_rune(int value) {
  if (value >= 0 && value < 0x80)
    return "'" + escape_byte(static_cast<unsigned char>(value), '\'') + "'";
  char buf[16];
  std::snprintf(buf, sizeof buf, value <= 0xffff ? "'\\u%04x'" : "'\\U%08x'", value);
  return buf;
}

std::string go_quote_list(const std::vector<std::string>& list) {
  std::string out = "[";
  for (std::size_t i = 0; i < list.size(); ++i)
    out += (i ? " " : "") + go_quote(list[i]);
  return out + "]";
}

std::string go_list(const std::vector<std::string>& list) {
  std::string out = "[";
  for (std::size_t i = 0; i < list.size(); ++i)
    out += (i ? " " : "") + list[i];
  return out + "]";
}

std::string go_duration(std::int64_t ns) {
  if (ns == 0) return "0s";
  bool negative = ns < 0;
  std::uint64_t u = negative ? 0 - static_cast<std::uint64_t>(ns) : static_cast<std::uint64_t>(ns);
  std::string out;
  if (u < 1000000000ULL) {
    if (u < 1000ULL)
      out = std::to_string(u) + "ns";
    else if (u < 1000000ULL)
      out = with_fraction(u, 3) + "µs";
    else
      out = with_fraction(u, 6) + "ms";
  } else {
    out = with_fraction(u % 60000000000ULL, 9) + "s";
    u /= 60000000000ULL;
    if (u > 0) {
      out = std::to_string(u % 60) + "m" + out;
      u /= 60;
      if (u > 0) out = std::to_string(u) + "h" + out;
    }
  }
  return negative ? "-" + out : out;
}

std::int64_t parse_go_duration(std::string_view text) {
  auto invalid = [&] { return InvalidArgument("time: invalid duration " + go_quote(text)); };
  std::string_view s = text;
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) negative = s[0] == '-', s.remove_prefix(1);
  if (s == "0") return 0;
  if (s.empty()) throw invalid();
  long double total = 0;
  while (!s.empty()) {
    std::size_t i = 0;
    long double value = 0;
    bool digits = false;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9')
      value = value * 10 + (s[i++] - '0'), digits = true;
    if (i < s.size() && s[i] == '.') {
      ++i;
      long double scale = 0.1L;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9')
        value += (s[i++] - '0') * scale, scale /= 10, digits = true;
    }
    if (!digits) throw invalid();
    std::size_t u = i;
    while (u < s.size() && !(s[u] >= '0' && s[u] <= '9') && s[u] != '.')
      ++u;
    auto unit = s.substr(i, u - i);
    long double mult = 0;
    if (unit == "ns")
      mult = 1;
    else if (unit == "us" || unit == "µs" || unit == "μs")
      mult = 1e3L;
    else if (unit == "ms")
      mult = 1e6L;
    else if (unit == "s")
      mult = 1e9L;
    else if (unit == "m")
      mult = 60e9L;
    else if (unit == "h")
      mult = 3600e9L;
    else if (unit.empty())
      throw InvalidArgument("time: missing unit in duration " + go_quote(text));
    else
      throw InvalidArgument("time: unknown unit " + go_quote(unit) + " in duration " +
                            go_quote(text));
    total += value * mult;
    s.remove_prefix(u);
  }
  if (total > static_cast<long double>(std::numeric_limits<std::int64_t>::max())) throw invalid();
  auto ns = static_cast<std::int64_t>(total + 0.5L);
  return negative ? -ns : ns;
}

}  // namespace sockerless::build
