#include "monitor/monitor.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <list>
#include <nlohmann/json.hpp>
#include <sstream>

#include "api/mux.h"
#include "common/time.h"

namespace sockerless::monitor {

using nlohmann::json;

namespace {

constexpr std::size_t kMaxClientBacklog = 8 << 20;  // a client further behind is dropped

void set_nonblocking(int fd) {
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
}

void write_file_atomic(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  (void)!::write(fd, text.data(), text.size());
  ::fsync(fd);
  ::close(fd);
  ::rename(tmp.c_str(), path.c_str());
}

void report(int fd, const std::string& line) {
  if (fd < 0) return;
  std::string l = line + "\n";
  (void)!::write(fd, l.data(), l.size());
}

struct Client {
  UniqueFd fd;
  std::string header;  // until the first newline
  bool configured = false;
  bool in = false, out = false, err = false;
  bool reading = true;  // still reading stdin from it
  std::string pending;  // output not yet written
};

class Monitor {
 public:
  Monitor(std::string dir, MonitorConfig config)
      : dir_(std::move(dir)), config_(std::move(config)) {}

  int run(int report_fd) {
    ::setsid();
    ::signal(SIGPIPE, SIG_IGN);
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, nullptr);
    sigfd_ = UniqueFd(::signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK));

    log_ = UniqueFd(
        ::open((dir_ + "/container.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
    listen_socket();
    report(report_fd, "listening");
    accept_initial_clients();

    sandbox::Stdio stdio;
    UniqueFd child_in, child_out, child_err;
    try {
      // A TTY comes from the sandbox, opened in the container's own devpts.
      if (!config_.spec.tty) {
        int p[2];
        if (config_.open_stdin) {
          if (::pipe2(p, O_CLOEXEC) != 0)
            throw sandbox::SandboxError("stdin pipe", std::strerror(errno));
          child_in = UniqueFd(p[0]);
          stdin_ = UniqueFd(p[1]);
        } else {
          child_in = UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
        }
        if (::pipe2(p, O_CLOEXEC) != 0)
          throw sandbox::SandboxError("stdout pipe", std::strerror(errno));
        child_out = UniqueFd(p[1]);
        outputs_.push_back({UniqueFd(p[0]), "stdout", api::StreamType::Stdout, {}});
        if (::pipe2(p, O_CLOEXEC) != 0)
          throw sandbox::SandboxError("stderr pipe", std::strerror(errno));
        child_err = UniqueFd(p[1]);
        outputs_.push_back({UniqueFd(p[0]), "stderr", api::StreamType::Stderr, {}});
        stdio = {child_in.get(), child_out.get(), child_err.get()};
      }
      auto started = sandbox::spawn(config_.spec, stdio);
      pid_ = started.pid;
      if (config_.spec.tty) {
        pty_ = std::move(started.pty);
        stdin_ = UniqueFd(::fcntl(pty_.get(), F_DUPFD_CLOEXEC, 0));
        outputs_.push_back({UniqueFd(::fcntl(pty_.get(), F_DUPFD_CLOEXEC, 0)),
                            "stdout",
                            api::StreamType::Stdout,
                            {}});
      }
    } catch (const sandbox::SandboxError& e) {
      // The exec step's detail already reads "exec: …" (docker's wording).
      std::string detail = e.step() == "exec" ? std::string(e.what()).substr(6) : e.what();
      int code = 128;
      if (detail.find("executable file not found") != std::string::npos ||
          detail.find("no such file or directory") != std::string::npos)
        code = 127;
      else if (detail.find("permission denied") != std::string::npos)
        code = 126;
      report(report_fd, "error " + std::to_string(code) + " " + detail);
      ::unlink((dir_ + "/attach.sock").c_str());
      return 1;
    } catch (const std::exception& e) {
      report(report_fd, std::string("error 128 ") + e.what());
      ::unlink((dir_ + "/attach.sock").c_str());
      return 1;
    }
    child_in.reset();
    child_out.reset();
    child_err.reset();
    for (auto& o : outputs_)
      set_nonblocking(o.fd.get());
    if (stdin_) set_nonblocking(stdin_.get());
    write_stdin();
    write_file_atomic(dir_ + "/pid", std::to_string(pid_) + "\n");
    report(report_fd, "ok " + std::to_string(pid_));
    if (report_fd >= 0) ::close(report_fd);

    loop();
    finish();
    return 0;
  }

 private:
  struct Output {
    UniqueFd fd;
    std::string name;
    api::StreamType type;
    std::string partial;  // a line not yet complete, for the log
  };

  void listen_socket() {
    std::string path = dir_ + "/attach.sock";
    ::unlink(path.c_str());
    listener_ = UniqueFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    // State directories can be deeper than a socket path may be long (108 bytes): bind
    // relative to the directory (this process is single-threaded; chdir is safe here).
    if (::chdir(dir_.c_str()) != 0)
      throw sandbox::SandboxError("attach socket", std::strerror(errno));
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", "attach.sock");
    if (::bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listener_.get(), 64) != 0)
      throw sandbox::SandboxError("attach socket", std::strerror(errno));
    ::chmod(path.c_str(), 0600);
  }

  // Waits (bounded) for the clients that attached before start to connect and say what
  // they want, so none of the output is missed.
  void accept_initial_clients() {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    auto configured = [&] {
      int n = 0;
      for (const auto& c : clients_)
        n += c.configured ? 1 : 0;
      return n;
    };
    std::vector<char> buf(4096);
    while (configured() < config_.initial_clients && std::chrono::steady_clock::now() < deadline) {
      std::vector<pollfd> fds = {{listener_.get(), POLLIN, 0}};
      for (auto& c : clients_)
        fds.push_back({c.configured ? -1 : c.fd.get(), POLLIN, 0});
      if (::poll(fds.data(), fds.size(), 100) <= 0) continue;
      if (fds[0].revents & POLLIN) {
        int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd >= 0) clients_.push_back(Client{UniqueFd(fd)});
      }
      std::size_t i = 1;
      for (auto& c : clients_) {
        if (i >= fds.size()) break;
        if (fds[i++].revents & (POLLIN | POLLHUP)) {
          ssize_t n = ::recv(c.fd.get(), buf.data(), buf.size(), 0);
          if (n <= 0) {
            c.configured = true;  // gone before it said anything: count it, drop it later
            c.fd.reset();
            continue;
          }
          c.header.append(buf.data(), static_cast<std::size_t>(n));
          on_client_header(c);
        }
      }
    }
    clients_.remove_if([](const Client& c) { return !c.fd; });
  }

  void log_line(const Output& o, const std::string& text) {
    if (!log_) return;
    json entry = {{"log", text}, {"stream", o.name}, {"time", format_rfc3339_nano(Clock::now())}};
    std::string line = entry.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
    (void)!::write(log_.get(), line.data(), line.size());
  }

  void on_output(Output& o, const char* data, std::size_t n) {
    // The log: complete lines, or 16 KiB pieces of a longer one (as json-file does).
    o.partial.append(data, n);
    std::size_t start = 0;
    for (;;) {
      auto nl = o.partial.find('\n', start);
      if (nl == std::string::npos) break;
      log_line(o, o.partial.substr(start, nl + 1 - start));
      start = nl + 1;
    }
    o.partial.erase(0, start);
    if (o.partial.size() >= 16 * 1024) {
      log_line(o, o.partial);
      o.partial.clear();
    }
    std::string framed;
    if (config_.spec.tty)
      framed.assign(data, n);
    else
      api::append_frame(framed, o.type, std::string_view(data, n));
    for (auto& c : clients_) {
      if (!c.configured) continue;
      bool wants = (o.type == api::StreamType::Stdout && c.out) ||
                   (o.type == api::StreamType::Stderr && c.err);
      if (!wants) continue;
      c.pending += framed;
      flush(c);
    }
  }

  void flush(Client& c) {
    while (!c.pending.empty() && c.fd) {
      ssize_t n = ::send(c.fd.get(), c.pending.data(), c.pending.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) break;
        c.fd.reset();
        return;
      }
      c.pending.erase(0, static_cast<std::size_t>(n));
    }
    if (c.pending.size() > kMaxClientBacklog) c.fd.reset();
  }

  void on_client_header(Client& c) {
    auto nl = c.header.find('\n');
    if (nl == std::string::npos) return;
    std::string rest = c.header.substr(nl + 1);
    json h = json::parse(c.header.substr(0, nl), nullptr, false);
    c.header.clear();
    c.configured = true;
    if (h.is_object() && h.contains("resize")) {
      if (pty_ && h["resize"].is_array() && h["resize"].size() == 2) {
        winsize ws{};
        ws.ws_row = h["resize"][0].get<unsigned short>();
        ws.ws_col = h["resize"][1].get<unsigned short>();
        ::ioctl(pty_.get(), TIOCSWINSZ, &ws);
      }
      c.fd.reset();
      return;
    }
    if (h.is_object()) {
      c.in = h.value("stdin", false);
      c.out = h.value("stdout", false);
      c.err = h.value("stderr", false);
    }
    if (!rest.empty()) on_stdin(c, rest.data(), rest.size());
  }

  void on_stdin(Client& c, const char* data, std::size_t n) {
    // Kept until the process starts when it arrives earlier (attach before start).
    if (!c.in || (!config_.open_stdin && !config_.spec.tty)) return;
    stdin_pending_.append(data, n);
    write_stdin();
  }

  void write_stdin() {
    while (stdin_ && !stdin_pending_.empty()) {
      ssize_t n = ::write(stdin_.get(), stdin_pending_.data(), stdin_pending_.size());
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) return;
        stdin_.reset();  // the process closed its stdin
        stdin_pending_.clear();
        return;
      }
      stdin_pending_.erase(0, static_cast<std::size_t>(n));
    }
    if (stdin_ && stdin_pending_.empty() && close_stdin_when_drained_ && !config_.spec.tty)
      stdin_.reset();
  }

  void on_client_eof(Client& c) {
    c.reading = false;
    if (c.in && config_.stdin_once) {
      close_stdin_when_drained_ = true;
      write_stdin();
    }
    if (!c.out && !c.err) c.fd.reset();
  }

  bool reap() {
    signalfd_siginfo si;
    while (::read(sigfd_.get(), &si, sizeof si) > 0) {
    }
    int status = 0;
    for (;;) {
      pid_t r = ::waitpid(-1, &status, WNOHANG);
      if (r <= 0) break;
      if (r == pid_) {
        exited_ = true;
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
    }
    return exited_;
  }

  void loop() {
    std::vector<char> buf(64 * 1024);
    auto drain_deadline = std::chrono::steady_clock::time_point::max();
    for (;;) {
      std::vector<pollfd> fds;
      fds.push_back({sigfd_.get(), POLLIN, 0});
      fds.push_back({listener_.get(), POLLIN, 0});
      std::size_t out_base = fds.size();
      for (auto& o : outputs_)
        fds.push_back({o.fd.get(), POLLIN, 0});
      std::size_t stdin_index = fds.size();
      fds.push_back({stdin_ && !stdin_pending_.empty() ? stdin_.get() : -1, POLLOUT, 0});
      std::size_t client_base = fds.size();
      for (auto& c : clients_) {
        short ev = 0;
        if (c.fd && c.reading) ev |= POLLIN;
        if (c.fd && !c.pending.empty()) ev |= POLLOUT;
        fds.push_back({c.fd && ev ? c.fd.get() : -1, ev, 0});
      }
      int timeout = -1;
      if (exited_) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                        drain_deadline - std::chrono::steady_clock::now())
                        .count();
        timeout = static_cast<int>(std::max<long long>(0, left));
      }
      int r = ::poll(fds.data(), fds.size(), timeout);
      if (r < 0 && errno != EINTR) break;
      if (fds[0].revents & POLLIN) {
        if (reap() && drain_deadline == std::chrono::steady_clock::time_point::max())
          drain_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
      }
      if (fds[1].revents & POLLIN) {
        for (;;) {
          int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
          if (fd < 0) break;
          clients_.push_back(Client{UniqueFd(fd)});
        }
      }
      for (std::size_t i = 0; i < outputs_.size(); ++i) {
        auto& o = outputs_[i];
        if (!o.fd || !(fds[out_base + i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        ssize_t n = ::read(o.fd.get(), buf.data(), buf.size());
        if (n > 0) {
          on_output(o, buf.data(), static_cast<std::size_t>(n));
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
          o.fd.reset();  // EOF (or EIO from a pty whose last user is gone)
        }
      }
      if (fds[stdin_index].revents) write_stdin();
      std::size_t i = 0;
      for (auto& c : clients_) {
        short rev = fds[client_base + i++].revents;
        if (!c.fd) continue;
        if (rev & POLLOUT) flush(c);
        if (rev & (POLLIN | POLLHUP | POLLERR)) {
          ssize_t n = ::recv(c.fd.get(), buf.data(), buf.size(), 0);
          if (n > 0) {
            if (!c.configured) {
              c.header.append(buf.data(), static_cast<std::size_t>(n));
              on_client_header(c);
            } else {
              on_stdin(c, buf.data(), static_cast<std::size_t>(n));
            }
          } else if (n == 0) {
            on_client_eof(c);
          } else if (errno != EAGAIN && errno != EINTR) {
            c.fd.reset();
          }
        }
      }
      clients_.remove_if([](const Client& c) { return !c.fd; });
      bool outputs_open = false;
      for (auto& o : outputs_)
        outputs_open = outputs_open || o.fd;
      if (exited_ && (!outputs_open || std::chrono::steady_clock::now() >= drain_deadline)) break;
    }
  }

  void finish() {
    for (auto& o : outputs_)
      if (!o.partial.empty()) log_line(o, o.partial);
    // Before cleanup removes the cgroup that counted the kills.
    bool oom_killed = false;
    try {
      oom_killed = sandbox::oom_killed(config_.spec);
    } catch (const std::exception&) {
    }
    json exit = {{"ExitCode", exit_code_},
                 {"FinishedAt", unix_nanos(Clock::now())},
                 {"OOMKilled", oom_killed}};
    write_file_atomic(dir_ + "/exit.json", exit.dump());
    // Let attached clients read what is left, then close them.
    for (auto& c : clients_) {
      if (!c.fd) continue;
      int flags = ::fcntl(c.fd.get(), F_GETFL);
      ::fcntl(c.fd.get(), F_SETFL, flags & ~O_NONBLOCK);
      flush(c);
      ::shutdown(c.fd.get(), SHUT_RDWR);
    }
    clients_.clear();
    try {
      sandbox::cleanup(config_.spec, false);
    } catch (const std::exception&) {
    }
    ::unlink((dir_ + "/attach.sock").c_str());
  }

  std::string dir_;
  MonitorConfig config_;
  UniqueFd sigfd_, listener_, log_, pty_, stdin_;
  std::vector<Output> outputs_;
  std::list<Client> clients_;
  std::string stdin_pending_;
  bool close_stdin_when_drained_ = false;
  pid_t pid_ = -1;
  bool exited_ = false;
  int exit_code_ = 0;
};

}  // namespace

int run(const std::string& state_dir, int report_fd) {
  MonitorConfig config;
  try {
    std::ifstream in(state_dir + "/monitor.json");
    std::stringstream text;
    text << in.rdbuf();
    config = config_from_json(json::parse(text.str()));
  } catch (const std::exception& e) {
    report(report_fd, std::string("error 128 reading monitor.json: ") + e.what());
    return 1;
  }
  Monitor m(state_dir, std::move(config));
  try {
    return m.run(report_fd);
  } catch (const std::exception& e) {
    report(report_fd, std::string("error 128 ") + e.what());
    return 1;
  }
}

}  // namespace sockerless::monitor
