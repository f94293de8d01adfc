// .dockerignore: which build-context paths the builder leaves out. Patterns follow Go's
// filepath.Match plus "**" (any number of directories); "!" re-includes; later lines win;
// a pattern matching a directory excludes everything beneath it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace sockerless::build {

// The patterns of a .dockerignore file: comments (# at column 0) and blank lines dropped,
// whitespace trimmed, paths cleaned, a leading "/" removed, "!" kept as a prefix.
std::vector<std::string> parse_dockerignore(std::string_view text);

class Dockerignore {
 public:
  // `dockerfile` is the Dockerfile's path in the context: it and .dockerignore are always
  // kept, as the docker CLI re-includes them before sending the context.
  explicit Dockerignore(std::vector<std::string> patterns,
                        const std::string& dockerfile = "Dockerfile");

  // Whether the context path `path` ("a/b.txt", "./a", "/a" all fine) is left out, itself
  // or through one of its parent directories.
  bool excluded(std::string_view path) const;

  // For an excluded directory: whether a walker must still look inside because an
  // exception ("!dir/keep", "!**/x") may re-include something beneath it.
  bool must_descend(std::string_view dir) const;

  const std::vector<std::string>& patterns() const { return patterns_; }

 private:
  friend std::vector<std::string> build_files_to_remove(const std::vector<std::string>&,
                                                        const std::string&);
  Dockerignore(std::vector<std::string> patterns, const std::string& dockerfile,
               bool keep_build_files);

  struct Pattern {
    std::string glob;
    bool exception = false;
  };
  std::vector<Pattern> compiled_;
  std::vector<std::string> patterns_;
};

// dockerd's classic builder reads the Dockerfile and .dockerignore from the context, then
// removes each of them that the .dockerignore `patterns` match (the client sent them only
// so the builder could read them): `COPY . /` never copies them then. Returns which of
// ".dockerignore" and `dockerfile` (cleaned, relative to the context) are to go.
std::vector<std::string> build_files_to_remove(const std::vector<std::string>& patterns,
                                               const std::string& dockerfile);

// filepath.Clean for slash-separated relative paths: "./a//b/../c/" → "a/c", "" → ".".
std::string clean_path(std::string_view path);

}  // namespace sockerless::build
