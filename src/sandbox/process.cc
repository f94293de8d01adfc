#include "sandbox/process.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>

#include "common/unique_fd.h"
#include "sandbox/init.h"
#include "sandbox/safe_path.h"

namespace sockerless::sandbox {
namespace {

constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// Go's syscall error strings, which docker's messages carry: strerror, lower-cased.
std::string go_error(int err) {
  std::string s = std::strerror(err);
  if (!s.empty()) s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
  return s;
}

// Go's findExecutable: 0, or why `path` can't be run.
int check_executable(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return errno;
  if (S_ISDIR(st.st_mode)) return EISDIR;
  if (::faccessat(AT_FDCWD, path.c_str(), X_OK, AT_EACCESS) == 0) return 0;
  if (errno != ENOSYS && errno != EPERM) return errno;
  return (st.st_mode & 0111) ? 0 : EACCES;
}

void setup_stdio(const ErrorChannel& errors, int in, int out, int err, bool tty) {
  UniqueFd null;
  if (in < 0 || out < 0 || err < 0) {
    null.reset(::open("/dev/null", O_RDWR | O_CLOEXEC));
    if (!null) errors.fail_errno("open /dev/null", errno);
  }
  // The sources are all >= 3 (the launcher renumbered them), so no dup2 clobbers another.
  const int sources[3] = {in, out, err};
  for (int target = 0; target < 3; ++target) {
    int source = sources[target] >= 0 ? sources[target] : null.get();
    if (::dup2(source, target) < 0) errors.fail_errno("stdio", errno);
  }
  // A session of its own: signals to the container's process group reach only it, and a
  // TTY can become its controlling terminal.
  if (::setsid() < 0 && errno != EPERM) errors.fail_errno("setsid", errno);
  if (tty && ::ioctl(0, TIOCSCTTY, 0) != 0) errors.fail_errno("set controlling terminal", errno);
}

void mark_fds_cloexec() {
  if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
  long max = ::sysconf(_SC_OPEN_MAX);
  for (int fd = 3; fd < (max > 0 && max < 65536 ? max : 65536); ++fd)
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
}

std::vector<std::string> with_home(std::vector<std::string> env, const std::string& home) {
  for (const auto& kv : env)
    if (kv.rfind("HOME=", 0) == 0) return env;
  env.push_back("HOME=" + home);
  return env;
}

std::vector<char*> c_strings(const std::vector<std::string>& v) {
  std::vector<char*> out;
  for (const auto& s : v)
    out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

}  // namespace

StartError start_error(const std::string& step, const std::string& what) {
  StartError e;
  // `what` reads "<step>: <message>"; docker's words are the message alone (the exec
  // step's own begins "exec: " again, as docker's does).
  const std::string prefix = step + ": ";
  e.detail = what.rfind(prefix, 0) == 0 ? what.substr(prefix.size()) : what;
  // 127 when the program is missing (dockerd: the error names the command); a missing
  // working directory or anything else that stops the start is 126.
  if (step == "exec" && (e.detail.find("executable file not found") != std::string::npos ||
                         e.detail.find("no such file or directory") != std::string::npos))
    e.exit_code = 127;
  return e;
}

std::string search_path(const std::vector<std::string>& env) {
  for (auto it = env.rbegin(); it != env.rend(); ++it)
    if (it->rfind("PATH=", 0) == 0) return it->substr(5);
  return kDefaultPath;
}

Executable find_executable(const std::string& argv0, const std::string& path_env) {
  std::string quoted = "exec: \"" + argv0 + "\": ";
  if (argv0.find('/') != std::string::npos) {
    int err = check_executable(argv0);
    if (err == 0) return {argv0, "", 0};
    if (err == EISDIR || err == EACCES) return {"", quoted + go_error(err), 126};
    return {"", quoted + "stat " + argv0 + ": " + go_error(err),
            err == ENOENT || err == ENOTDIR ? 127 : 126};
  }
  if (!argv0.empty()) {
    std::size_t start = 0;
    for (;;) {
      auto colon = path_env.find(':', start);
      std::string dir = path_env.substr(start, colon == std::string::npos ? colon : colon - start);
      std::string candidate = (dir.empty() ? "." : dir) + "/" + argv0;
      if (check_executable(candidate) == 0) return {candidate, "", 0};
      if (colon == std::string::npos) break;
      start = colon + 1;
    }
  }
  return {"", quoted + "executable file not found in $PATH", 127};
}

void create_working_dir(const ErrorChannel& errors, const std::string& dir, const ExecUser& user) {
  UniqueFd root(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) errors.fail_errno("mkdir " + dir, errno);
  if (!mkdir_all_in_root(root.get(), dir, 0755, user.uid, user.gid))
    errors.fail_errno("mkdir " + dir, errno);
}

void exec_process(ErrorChannel& errors, const ProcessSpec& spec, int in, int out, int err) {
  if (int e = apply_rlimits(spec.rlimits)) errors.fail_errno("rlimits", e);
  setup_stdio(errors, in, out, err, spec.tty);

  // The terminal belongs to the user it is for, as under runc (its group stays tty's).
  if (spec.tty && spec.user.uid != 0 && ::fchown(0, spec.user.uid, static_cast<gid_t>(-1)) != 0 &&
      errno != EPERM && errno != EINVAL)
    errors.fail_errno("chown the terminal", errno);
  if (int e = restrict_bounding_set(spec.caps)) errors.fail_errno("capabilities", e);
  if (int e = switch_user(spec.user)) {
    if (e == EINVAL)  // an id the user namespace of a rootless container does not map
      errors.fail("user", "uid " + std::to_string(spec.user.uid) + " or gid " +
                              std::to_string(spec.user.gid) +
                              " is not mapped in the container's user namespace");
    errors.fail_errno("user", e);
  }
  if (int e = set_process_capabilities(spec.caps, spec.user.uid == 0))
    errors.fail_errno("capabilities", e);

  // As the user, like runc: a directory the user can't enter is an error.
  if (::chdir(spec.working_dir.c_str()) != 0)
    errors.fail("chdir", "chdir to cwd (\"" + spec.working_dir +
                             "\") set in config.json failed: " + go_error(errno));

  auto env = with_home(spec.env, spec.user.home);
  if (spec.init) become_init(errors, spec.tty);

  Executable exe = find_executable(spec.argv.front(), search_path(env));
  if (!exe.error.empty()) errors.fail("exec", exe.error, exe.exit_code);
  auto argv = c_strings(spec.argv);
  auto envp = c_strings(env);
  ::umask(022);
  mark_fds_cloexec();
  ::execve(exe.path.c_str(), argv.data(), envp.data());
  int e = errno;
  errors.fail("exec", "exec " + exe.path + ": " + go_error(e), e == ENOENT ? 127 : 126);
}

}  // namespace sockerless::sandbox
