#include "sims/aws/logs_pattern.h"

#include <algorithm>

#include "sims/common/aws_protocol.h"

namespace sockerless::sims::aws {

bool FilterPattern::matches(const std::string& message) const {
  auto has = [&](const std::string& t) { return message.find(t) != std::string::npos; };
  if (!std::all_of(all.begin(), all.end(), has)) return false;
  if (std::any_of(none.begin(), none.end(), has)) return false;
  return any.empty() || std::any_of(any.begin(), any.end(), has);
}

FilterPattern parse_filter_pattern(const std::string& text) {
  FilterPattern p;
  auto first = text.find_first_not_of(" \t");
  if (first != std::string::npos &&
      (text[first] == '{' || text[first] == '[' || text[first] == '%'))
    throw AwsError(400, "InvalidParameterException",
                   "sockerless-sim implements plain-term filter patterns only (terms, \"phrases\", "
                   "?term, -term), not " +
                       std::string(text[first] == '{'   ? "JSON"
                                   : text[first] == '[' ? "space-delimited"
                                                        : "regular-expression") +
                       " patterns");
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] == ' ' || text[i] == '\t') {
      ++i;
      continue;
    }
    char kind = 0;
    if (text[i] == '?' || text[i] == '-') kind = text[i++];
    std::string term;
    if (i < text.size() && text[i] == '"') {
      ++i;
      bool closed = false;
      while (i < text.size()) {
        if (text[i] == '\\' && i + 1 < text.size()) {
          term += text[i + 1];
          i += 2;
        } else if (text[i] == '"') {
          ++i;
          closed = true;
          break;
        } else {
          term += text[i++];
        }
      }
      if (!closed)
        throw AwsError(400, "InvalidParameterException",
                       "Invalid filter pattern: unterminated quote in " + text);
    } else {
      while (i < text.size() && text[i] != ' ' && text[i] != '\t')
        term += text[i++];
    }
    if (term.empty()) {
      if (kind)
        throw AwsError(400, "InvalidParameterException",
                       "Invalid filter pattern: '" + std::string(1, kind) + "' needs a term");
      continue;
    }
    (kind == '?' ? p.any : kind == '-' ? p.none : p.all).push_back(term);
  }
  return p;
}

}  // namespace sockerless::sims::aws
