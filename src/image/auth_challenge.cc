#include "image/auth_challenge.h"

#include <cstddef>

namespace sockerless::image {
namespace {

bool is_alpha_digit(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// RFC 7230 tchar.
bool is_tchar(char c) {
  return is_alpha_digit(c) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// RFC 7235 token68 characters (before its trailing '=' padding).
bool is_token68_char(char c) {
  return is_alpha_digit(c) || std::string_view("-._~+/").find(c) != std::string_view::npos;
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// A cursor over one header value. Commas separate both challenges and the parameters of
// one challenge, so what follows a comma is told apart by looking ahead: "token =" is a
// parameter of the current challenge, any other token starts the next challenge.
class ChallengeParser {
 public:
  explicit ChallengeParser(std::string_view text) : text_(text) {}

  std::vector<Challenge> parse() {
    std::vector<Challenge> out;
    while (true) {
      skip_separators();
      if (at_end()) break;
      std::string_view scheme = read_token();
      std::size_t after_scheme = pos_;
      skip_ows();
      if (scheme.empty() || (pos_ == after_scheme && !at_end() && peek() != ',')) {
        // Not "scheme", "scheme SP ..." or "scheme,": e.g. a stray "realm=..." or junk.
        skip_to_comma();
        continue;
      }
      Challenge challenge{ascii_lower(scheme), {}, {}};
      if (!at_end() && peek() != ',' && !read_token68(challenge.token68)) {
        read_params(challenge);
      }
      out.push_back(std::move(challenge));
    }
    return out;
  }

 private:
  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return text_[pos_]; }

  void skip_ows() {
    while (!at_end() && (peek() == ' ' || peek() == '\t'))
      ++pos_;
  }

  // Empty list elements are allowed ("a, , b").
  void skip_separators() {
    while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == ','))
      ++pos_;
  }

  std::string_view read_token() {
    std::size_t start = pos_;
    while (!at_end() && is_tchar(peek()))
      ++pos_;
    return text_.substr(start, pos_ - start);
  }

  // token68 is only taken when it is the whole rest of the list element; otherwise the
  // position is left where it was so the same text can be read as auth-params.
  bool read_token68(std::string& out) {
    std::size_t start = pos_;
    while (!at_end() && is_token68_char(peek()))
      ++pos_;
    bool has_body = pos_ > start;
    while (!at_end() && peek() == '=')
      ++pos_;
    std::size_t end = pos_;
    skip_ows();
    if (has_body && (at_end() || peek() == ',')) {
      out = text_.substr(start, end - start);
      return true;
    }
    pos_ = start;
    return false;
  }

  // Reads a quoted-string at the current '"', undoing backslash escapes. False when the
  // closing quote is missing.
  bool read_quoted(std::string& out) {
    ++pos_;
    while (!at_end()) {
      char c = text_[pos_++];
      if (c == '"') return true;
      if (c == '\\' && !at_end()) c = text_[pos_++];
      out += c;
    }
    return false;
  }

  // Some registries leave values unquoted even when they hold '/' or ':' (not tchars),
  // so an unquoted value runs to the next separator.
  std::string read_unquoted() {
    std::size_t start = pos_;
    while (!at_end() && peek() != ',' && peek() != ' ' && peek() != '\t' && peek() != '"')
      ++pos_;
    return std::string(text_.substr(start, pos_ - start));
  }

  void skip_to_comma() {
    while (!at_end() && peek() != ',') {
      if (peek() == '"') {
        std::string ignored;
        read_quoted(ignored);
      } else {
        ++pos_;
      }
    }
  }

  void read_params(Challenge& challenge) {
    bool first = true;
    while (true) {
      skip_separators();
      std::size_t item = pos_;
      std::string_view name = read_token();
      skip_ows();
      if (name.empty() || at_end() || peek() != '=') {
        if (first) {
          skip_to_comma();  // "scheme junk": drop the junk, keep the scheme
        } else {
          pos_ = item;  // the next challenge's scheme
        }
        return;
      }
      ++pos_;
      skip_ows();
      std::string value;
      if (!at_end() && peek() == '"') {
        if (!read_quoted(value)) return;  // unterminated: the rest is unusable
      } else {
        value = read_unquoted();
      }
      challenge.params.insert_or_assign(ascii_lower(name), std::move(value));
      first = false;
      skip_ows();
      if (at_end()) return;
      if (peek() != ',') skip_to_comma();
    }
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

}  // namespace

std::vector<Challenge> parse_challenges(std::string_view header) {
  return ChallengeParser(header).parse();
}

}  // namespace sockerless::image
