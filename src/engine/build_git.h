// Git build contexts (`docker build git://…`, `remote=https://host/repo.git#ref:dir`), the
// way dockerd's classic builder fetches them: with the git command, shallow at the ref.
#pragma once

#include <string>

namespace sockerless::engine::build_files {

// dockerd's test: git://, git@…, github.com/…, or an http(s) URL whose path ends in .git.
bool is_git_url(const std::string& url);

struct GitRemote {
  std::string remote;          // what `git remote add origin` gets
  std::string ref = "master";  // dockerd 20.10's default when the fragment names none
  std::string subdir;
};
// Splits "url#ref:subdir". Throws InvalidArgument for a ref starting with '-'.
GitRemote parse_git_url(const std::string& url);

// Fetches the ref into `dir` (an empty directory) and checks it out with its submodules;
// returns the context directory (`dir`, or the subdirectory the URL names, which must
// stay inside it). Throws InvalidArgument with git's output, worded like dockerd.
std::string clone_git(const std::string& url, const std::string& dir);

}  // namespace sockerless::engine::build_files
