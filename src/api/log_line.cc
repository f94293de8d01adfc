#include "api/log_line.h"

#include <nlohmann/json.hpp>

namespace sockerless::api {
namespace {

void append_utf8(std::string& out, unsigned cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

bool hex4(std::string_view s, std::size_t at, unsigned& v) {
  if (at + 4 > s.size()) return false;
  v = 0;
  for (std::size_t i = at; i < at + 4; ++i) {
    char c = s[i];
    v <<= 4;
    if (c >= '0' && c <= '9')
      v |= static_cast<unsigned>(c - '0');
    else if (c >= 'a' && c <= 'f')
      v |= static_cast<unsigned>(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      v |= static_cast<unsigned>(c - 'A' + 10);
    else
      return false;
  }
  return true;
}

// Decodes the JSON string starting right after its opening quote at `pos`; leaves `pos`
// after the closing quote. False on anything this fast path does not handle.
bool read_string(std::string_view s, std::size_t& pos, std::string& out) {
  out.clear();
  std::size_t run = pos;
  while (pos < s.size()) {
    char c = s[pos];
    if (c == '"') {
      out.append(s.substr(run, pos - run));
      ++pos;
      return true;
    }
    if (static_cast<unsigned char>(c) < 0x20) return false;
    if (c != '\\') {
      ++pos;
      continue;
    }
    out.append(s.substr(run, pos - run));
    if (pos + 1 >= s.size()) return false;
    char e = s[pos + 1];
    pos += 2;
    switch (e) {
      case '"':
        out += '"';
        break;
      case '\\':
        out += '\\';
        break;
      case '/':
        out += '/';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'u': {
        unsigned cp;
        if (!hex4(s, pos, cp)) return false;
        pos += 4;
        if (cp >= 0xD800 && cp <= 0xDFFF) return false;  // surrogates: the slow path
        append_utf8(out, cp);
        break;
      }
      default:
        return false;
    }
    run = pos;
  }
  return false;
}

bool expect(std::string_view s, std::size_t& pos, std::string_view literal) {
  if (s.substr(pos, literal.size()) != literal) return false;
  pos += literal.size();
  return true;
}

bool fast(std::string_view s, LogEntry& e) {
  std::size_t pos = 0;
  return expect(s, pos, "{\"log\":\"") && read_string(s, pos, e.text) &&
         expect(s, pos, ",\"stream\":\"") && read_string(s, pos, e.stream) &&
         expect(s, pos, ",\"time\":\"") && read_string(s, pos, e.time) && expect(s, pos, "}") &&
         pos == s.size();
}

}  // namespace

std::optional<LogEntry> parse_log_entry(std::string_view line) {
  LogEntry e;
  if (fast(line, e)) return e;
  auto j = nlohmann::json::parse(line, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  auto str = [&j](const char* key, const char* fallback) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string(fallback);
  };
  return LogEntry{str("stream", "stdout"), str("log", ""), str("time", "")};
}

}  // namespace sockerless::api
