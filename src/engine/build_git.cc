#include "engine/build_git.h"

#include <filesystem>
#include <vector>

#include "common/command.h"
#include "common/errors.h"

extern char** environ;

namespace sockerless::engine::build_files {
namespace {

namespace fs = std::filesystem;

bool starts_with(const std::string& s, std::string_view prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// Runs `git args…` in `dir`, never asking for credentials on a terminal.
CommandResult git(const std::string& dir, const std::vector<std::string>& args) {
  std::vector<std::string> argv{"git"};
  argv.insert(argv.end(), args.begin(), args.end());
  CommandOptions options;
  options.cwd = dir;
  for (char** e = environ; *e; ++e)
    if (!starts_with(*e, "GIT_")) options.env.emplace_back(*e);
  options.env.emplace_back("GIT_TERMINAL_PROMPT=0");
  auto r = run_command(argv, options);
  if (r.exit_code < 0 && r.output.rfind("run git:", 0) == 0)
    throw InvalidArgument("unable to run git for a git build context: " + r.output);
  return r;
}

// Go's "exit status N" suffix, as dockerd's errors carry it.
std::string failure(const std::string& what, const CommandResult& r) {
  return what + ": " + r.output + ": exit status " + std::to_string(r.exit_code);
}

}  // namespace

bool is_git_url(const std::string& url) {
  if (starts_with(url, "git://") || starts_with(url, "git@") || starts_with(url, "github.com/"))
    return true;
  if (!starts_with(url, "http://") && !starts_with(url, "https://")) return false;
  std::string path = url.substr(0, url.find('#'));
  return path.size() > 4 && path.compare(path.size() - 4, 4, ".git") == 0;
}

GitRemote parse_git_url(const std::string& url_in) {
  std::string url = url_in;
  bool transport = starts_with(url, "git://") || starts_with(url, "git@") ||
                   starts_with(url, "http://") || starts_with(url, "https://");
  if (!transport) url = "https://" + url;  // github.com/owner/repo
  GitRemote r;
  std::string fragment;
  if (auto hash = url.find('#'); hash != std::string::npos) {
    fragment = url.substr(hash + 1);
    url = url.substr(0, hash);
  }
  r.remote = url;
  auto colon = fragment.find(':');
  std::string ref = fragment.substr(0, colon);
  if (!ref.empty()) r.ref = ref;
  if (colon != std::string::npos) r.subdir = fragment.substr(colon + 1);
  if (starts_with(r.ref, "-")) throw InvalidArgument("invalid refspec: " + r.ref);
  return r;
}

std::string clone_git(const std::string& url, const std::string& dir) {
  GitRemote repo = parse_git_url(url);
  fs::create_directories(dir);
  if (auto r = git(dir, {"init", "-q"}); r.exit_code != 0)
    throw InvalidArgument(failure("failed to init repo at " + dir, r));
  if (auto r = git(dir, {"remote", "add", "origin", repo.remote}); r.exit_code != 0)
    throw InvalidArgument(failure("failed add origin repo at " + dir, r));
  auto fetched = git(dir, {"fetch", "-q", "--depth", "1", "origin", repo.ref});
  // A dumb HTTP server cannot serve a shallow fetch (dockerd asks the server first).
  if (fetched.exit_code != 0 && fetched.output.find("shallow") != std::string::npos)
    fetched = git(dir, {"fetch", "-q", "origin", repo.ref});
  if (fetched.exit_code != 0) throw InvalidArgument(failure("error fetching", fetched));
  if (auto r = git(dir, {"checkout", "-q", repo.ref}); r.exit_code != 0)
    if (git(dir, {"checkout", "-q", "FETCH_HEAD"}).exit_code != 0)
      throw InvalidArgument(failure("error checking out " + repo.ref, r));
  if (auto r = git(dir, {"submodule", "update", "--init", "--recursive", "--depth=1"});
      r.exit_code != 0)
    throw InvalidArgument(failure("error initializing submodules", r));
  if (repo.subdir.empty()) return dir;
  // The subdirectory, with its links resolved, must stay within the checkout.
  std::error_code ec;
  fs::path root = fs::canonical(dir, ec);
  fs::path sub = fs::weakly_canonical(root / repo.subdir, ec);
  auto rel = sub.lexically_relative(root);
  if (ec || rel.empty() || *rel.begin() == "..")
    throw InvalidArgument("error setting git context, \"" + repo.subdir + "\" not within git root");
  if (!fs::exists(sub, ec))
    throw InvalidArgument("stat " + sub.string() + ": no such file or directory");
  if (!fs::is_directory(sub, ec))
    throw InvalidArgument("error setting git context, not a directory: " + sub.string());
  return sub.string();
}

}  // namespace sockerless::engine::build_files
