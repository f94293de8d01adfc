#include "common/units.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <string>

namespace sockerless {

std::optional<std::int64_t> parse_ram_bytes(std::string_view text) {
  std::string s(text);
  std::size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.'))
    ++i;
  if (i == 0) return std::nullopt;
  char* end = nullptr;
  const std::string digits = s.substr(0, i);  // named: `end` points into it
  double number = std::strtod(digits.c_str(), &end);
  if (!end || *end != '\0' || number < 0) return std::nullopt;
  std::string unit;
  for (char c : s.substr(i))
    if (c != ' ') unit += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  // "k", "kb", "kib" all mean 1024 here, as in docker's RAMInBytes.
  if (unit.size() == 3 && unit[1] == 'i' && unit[2] == 'b') unit = unit.substr(0, 1);
  if (unit.size() == 2 && unit[1] == 'b') unit = unit.substr(0, 1);
  double multiplier = 1;
  if (unit.empty() || unit == "b")
    multiplier = 1;
  else if (unit == "k")
    multiplier = 1024.0;
  else if (unit == "m")
    multiplier = 1024.0 * 1024;
  else if (unit == "g")
    multiplier = 1024.0 * 1024 * 1024;
  else if (unit == "t")
    multiplier = 1024.0 * 1024 * 1024 * 1024;
  else if (unit == "p")
    multiplier = 1024.0 * 1024 * 1024 * 1024 * 1024;
  else
    return std::nullopt;
  double bytes = number * multiplier;
  if (bytes > 9.2e18) return std::nullopt;
  return static_cast<std::int64_t>(bytes);
}

}  // namespace sockerless
