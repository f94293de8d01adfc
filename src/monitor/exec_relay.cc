#include "monitor/exec_relay.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "api/mux.h"
#include "monitor/monitor.h"
#include "monitor/spawn_role.h"
#include "sandbox/process.h"
#include "sandbox/sandbox.h"

extern char** environ;

namespace sockerless::monitor {

using nlohmann::json;

namespace {

bool send_frame(int fd, api::StreamType type, std::string_view payload) {
  std::string out;
  api::append_frame(out, type, payload);
  return send_all(fd, out);
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

json request_to_json(const ExecRequest& r) {
  return {{"id", r.id},
          {"argv", r.argv},
          {"env", r.env},
          {"working_dir", r.working_dir},
          {"user", r.user},
          {"tty", r.tty},
          {"privileged", r.privileged},
          {"attach_stdin", r.attach_stdin},
          {"height", r.height},
          {"width", r.width}};
}

ExecRequest request_from_json(const json& j) {
  ExecRequest r;
  r.id = j.at("id");
  r.argv = j.at("argv");
  r.env = j.value("env", std::vector<std::string>{});
  r.working_dir = j.value("working_dir", "");
  r.user = j.value("user", "");
  r.tty = j.value("tty", false);
  r.privileged = j.value("privileged", false);
  r.attach_stdin = j.value("attach_stdin", false);
  r.height = j.value("height", 0);
  r.width = j.value("width", 0);
  return r;
}

}  // namespace

int run_exec_relay(const std::string& state_dir, int fd) {
  ::signal(SIGPIPE, SIG_IGN);
  // The request is the first line on the connection.
  std::string line;
  char c;
  while (::read(fd, &c, 1) == 1 && c != '\n')
    line += c;
  ExecRequest req;
  MonitorConfig config;
  pid_t container_pid = 0;
  try {
    req = request_from_json(json::parse(line));
    config = config_from_json(json::parse(read_text(state_dir + "/monitor.json")));
    container_pid = std::stoi(read_text(state_dir + "/pid"));
  } catch (const std::exception& e) {
    send_frame(fd, api::StreamType::System,
               json{{"ExitCode", 126}, {"Error", std::string("exec: ") + e.what()}}.dump());
    return 1;
  }
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, nullptr);
  UniqueFd sigfd(::signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK));

  UniqueFd pty, child_in, child_out, child_err, in_w;
  struct Out {
    UniqueFd fd;
    api::StreamType type;
  };
  std::vector<Out> outs;
  sandbox::Stdio stdio;
  int p[2];
  // A TTY comes from the sandbox, opened in the container's own devpts.
  if (!req.tty) {
    if (req.attach_stdin && ::pipe2(p, O_CLOEXEC) == 0) {
      child_in = UniqueFd(p[0]);
      in_w = UniqueFd(p[1]);
    } else {
      child_in = UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    }
    if (::pipe2(p, O_CLOEXEC) == 0) {
      child_out = UniqueFd(p[1]);
      outs.push_back({UniqueFd(p[0]), api::StreamType::Stdout});
    }
    if (::pipe2(p, O_CLOEXEC) == 0) {
      child_err = UniqueFd(p[1]);
      outs.push_back({UniqueFd(p[0]), api::StreamType::Stderr});
    }
    stdio = {child_in.get(), child_out.get(), child_err.get()};
  }

  sandbox::ExecSpec spec;
  spec.argv = req.argv;
  spec.env = req.env;
  spec.working_dir = req.working_dir;
  spec.user = req.user;
  spec.tty = req.tty;
  if (req.height > 0 && req.width > 0)
    spec.tty_size = {static_cast<unsigned short>(req.height),
                     static_cast<unsigned short>(req.width)};
  spec.privileged = req.privileged;
  pid_t pid = -1;
  try {
    auto started = sandbox::enter(container_pid, config.spec, spec, stdio);
    pid = started.pid;
    if (req.tty) {
      pty = std::move(started.pty);
      outs.push_back({UniqueFd(::fcntl(pty.get(), F_DUPFD_CLOEXEC, 0)), api::StreamType::Stdout});
      in_w = UniqueFd(::fcntl(pty.get(), F_DUPFD_CLOEXEC, 0));
    }
  } catch (const sandbox::SandboxError& e) {
    auto failure = sandbox::start_error(e.step(), e.what());
    std::string message =
        "OCI runtime exec failed: exec failed: unable to start container process: " +
        failure.detail;
    send_frame(fd, api::StreamType::System,
               json{{"ExitCode", failure.exit_code}, {"Error", message}}.dump());
    return 1;
  }
  child_in.reset();
  child_out.reset();
  child_err.reset();
  send_frame(fd, api::StreamType::System, json{{"Pid", pid}}.dump());

  // Resizes arrive on a socket of their own.
  UniqueFd control(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  std::string control_name = "exec-" + req.id.substr(0, 12) + ".sock";
  if (req.tty && ::chdir(state_dir.c_str()) == 0) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", control_name.c_str());
    ::unlink(control_name.c_str());
    if (::bind(control.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(control.get(), 4) != 0)
      control.reset();
  } else {
    control.reset();
  }

  bool exited = false, client_in = true;
  int code = 0;
  auto deadline = std::chrono::steady_clock::time_point::max();
  std::vector<char> buf(64 * 1024);
  for (;;) {
    std::vector<pollfd> fds = {{sigfd.get(), POLLIN, 0},
                               {client_in ? fd : -1, POLLIN, 0},
                               {control ? control.get() : -1, POLLIN, 0}};
    for (auto& o : outs)
      fds.push_back({o.fd ? o.fd.get() : -1, POLLIN, 0});
    int timeout = -1;
    if (exited)
      timeout = static_cast<int>(std::max<long long>(
          0, std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                   std::chrono::steady_clock::now())
                 .count()));
    if (::poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR) break;
    if (fds[0].revents & POLLIN) {
      signalfd_siginfo si;
      while (::read(sigfd.get(), &si, sizeof si) > 0) {
      }
      int status = 0;
      pid_t r;
      while ((r = ::waitpid(-1, &status, WNOHANG)) > 0)
        if (r == pid) {
          exited = true;
          code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
          deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        }
    }
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::read(fd, buf.data(), buf.size());
      if (n > 0) {
        if (in_w) {
          std::size_t off = 0;
          while (off < static_cast<std::size_t>(n)) {
            ssize_t w = ::write(in_w.get(), buf.data() + off, static_cast<std::size_t>(n) - off);
            if (w < 0) {
              if (errno == EINTR) continue;
              in_w.reset();
              break;
            }
            off += static_cast<std::size_t>(w);
          }
        }
      } else {
        client_in = false;
        if (!req.tty) in_w.reset();  // stdin EOF for the process
        if (n < 0) break;            // the daemon is gone
      }
    }
    if (fds[2].revents & POLLIN) {
      UniqueFd conn(::accept4(control.get(), nullptr, nullptr, SOCK_CLOEXEC));
      std::string text;
      pollfd cp{conn.get(), POLLIN, 0};
      while (conn && ::poll(&cp, 1, 500) > 0) {
        ssize_t n = ::read(conn.get(), buf.data(), buf.size());
        if (n <= 0) break;
        text.append(buf.data(), static_cast<std::size_t>(n));
        if (text.find('\n') != std::string::npos) break;
      }
      auto doc = json::parse(text, nullptr, false);
      if (doc.is_object() && doc.contains("resize") && pty) {
        winsize ws{};
        ws.ws_row = doc["resize"][0].get<unsigned short>();
        ws.ws_col = doc["resize"][1].get<unsigned short>();
        ::ioctl(pty.get(), TIOCSWINSZ, &ws);
      }
    }
    bool open = false;
    for (std::size_t i = 0; i < outs.size(); ++i) {
      auto& o = outs[i];
      if (o.fd && (fds[3 + i].revents & (POLLIN | POLLHUP | POLLERR))) {
        ssize_t n = ::read(o.fd.get(), buf.data(), buf.size());
        if (n > 0) {
          if (!send_frame(fd, o.type, std::string_view(buf.data(), static_cast<std::size_t>(n)))) {
            ::kill(pid, SIGKILL);  // nobody is listening any more
          }
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
          o.fd.reset();
        }
      }
      open = open || o.fd;
    }
    if (exited && (!open || std::chrono::steady_clock::now() >= deadline)) break;
  }
  if (control) ::unlink(control_name.c_str());
  send_frame(fd, api::StreamType::System, json{{"ExitCode", code}}.dump());
  return 0;
}

UniqueFd launch_exec(const std::string& self_exe, const std::string& state_dir,
                     const ExecRequest& request) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    throw std::runtime_error(std::string("socketpair: ") + std::strerror(errno));
  UniqueFd ours(sv[0]), theirs(sv[1]);
  spawn_role(self_exe, "exec-relay", state_dir, theirs.get(), state_dir + "/monitor.log",
             "exec relay");
  std::string header = request_to_json(request).dump() + "\n";
  if (!send_all(ours.get(), header)) throw std::runtime_error("the exec relay went away");
  return ours;
}

void resize_exec(const std::string& state_dir, const std::string& exec_id, int height, int width) {
  std::string path = state_dir + "/exec-" + exec_id.substr(0, 12) + ".sock";
  UniqueFd dir(::open(state_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dir) return;
  std::string target =
      "/proc/self/fd/" + std::to_string(dir.get()) + "/exec-" + exec_id.substr(0, 12) + ".sock";
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", target.c_str());
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return;
  send_all(fd.get(), json{{"resize", {height, width}}}.dump() + "\n");
}

}  // namespace sockerless::monitor
