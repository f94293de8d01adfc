#include "engine/build_git.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "common/errors.h"
#include "common/unique_fd.h"

extern char** environ;

namespace sockerless::engine::build_files {
namespace {

namespace fs = std::filesystem;

bool starts_with(const std::string& s, std::string_view prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

struct GitResult {
  int status = -1;
  std::string output;  // stdout and stderr
};

// Runs `git args…` in `dir`, never asking for credentials on a terminal.
GitResult git(const std::string& dir, const std::vector<std::string>& args) {
  std::vector<std::string> argv{"git"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> raw;
  for (auto& a : argv)
    raw.push_back(a.data());
  raw.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e)
    if (!starts_with(*e, "GIT_")) env_strings.emplace_back(*e);
  env_strings.emplace_back("GIT_TERMINAL_PROMPT=0");
  std::vector<char*> env;
  for (auto& e : env_strings)
    env.push_back(e.data());
  env.push_back(nullptr);

  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) throw Internal(std::string("pipe: ") + std::strerror(errno));
  UniqueFd read_end(p[0]), write_end(p[1]);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, write_end.get(), 1);
  posix_spawn_file_actions_adddup2(&fa, write_end.get(), 2);
  posix_spawn_file_actions_addchdir_np(&fa, dir.c_str());
  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, "git", &fa, nullptr, raw.data(), env.data());
  posix_spawn_file_actions_destroy(&fa);
  write_end.reset();
  if (rc != 0)
    throw InvalidArgument(std::string("unable to run git for a git build context: ") +
                          std::strerror(rc));
  GitResult out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(read_end.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.output.append(buf, static_cast<std::size_t>(n));
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  out.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

// Go's "exit status N" suffix, as dockerd's errors carry it.
std::string failure(const std::string& what, const GitResult& r) {
  return what + ": " + r.output + ": exit status " + std::to_string(r.status);
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
  if (auto r = git(dir, {"init", "-q"}); r.status != 0)
    throw InvalidArgument(failure("failed to init repo at " + dir, r));
  if (auto r = git(dir, {"remote", "add", "origin", repo.remote}); r.status != 0)
    throw InvalidArgument(failure("failed add origin repo at " + dir, r));
  auto fetched = git(dir, {"fetch", "-q", "--depth", "1", "origin", repo.ref});
  // A dumb HTTP server cannot serve a shallow fetch (dockerd asks the server first).
  if (fetched.status != 0 && fetched.output.find("shallow") != std::string::npos)
    fetched = git(dir, {"fetch", "-q", "origin", repo.ref});
  if (fetched.status != 0) throw InvalidArgument(failure("error fetching", fetched));
  if (auto r = git(dir, {"checkout", "-q", repo.ref}); r.status != 0)
    if (git(dir, {"checkout", "-q", "FETCH_HEAD"}).status != 0)
      throw InvalidArgument(failure("error checking out " + repo.ref, r));
  if (auto r = git(dir, {"submodule", "update", "--init", "--recursive", "--depth=1"});
      r.status != 0)
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
