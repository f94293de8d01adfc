// The sessions of one connection, agent side: exec, attach, stat, get_archive,
// put_archive, signal, resize. The reading thread never blocks on a process or a file:
// each session has threads of its own, and data toward the daemon waits for credit.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <thread>

#include "agent/wire.h"
#include "agent_main/agent.h"
#include "monitor/archive_extract.h"
#include "monitor/archive_tar.h"
#include "sandbox/archive_path.h"
#include "sandbox/caps.h"
#include "sandbox/launch.h"
#include "sandbox/process.h"
#include "sandbox/sandbox.h"
#include "sandbox/user.h"

namespace sockerless::agent {

using nlohmann::json;

namespace {

std::atomic<int> attaches{0};

const std::vector<std::string> kCapabilities = {"exec",   "attach", "archive",
                                                "signal", "resize", "top"};

// One session's state as the reading thread and the session's threads share it.
struct Session {
  std::uint32_t id = 0;
  Window out{kInitialWindow};  // credit for data toward the daemon
  ChunkQueue in;               // data from the daemon (stdin or an upload), for the worker
  std::atomic<pid_t> pid{0};
  UniqueFd master;  // an exec's terminal
  std::mutex mu;
};

// Shared with its session threads: a connection that ends returns at once (so that a
// reverse agent dials again) while execs it started run on, their sends failing quietly.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(std::shared_ptr<Link> link, const AgentContext& ctx)
      : link_ptr_(std::move(link)), link_(*link_ptr_), ctx_(ctx) {}

  void run() {
    if (!link_.send_json(hello("agent", kCapabilities, ctx_.container))) return;
    auto first = link_.read();
    if (!first) return;
    try {
      if (first->binary) throw ProtocolError("the peer's first message is not a hello");
      negotiate(json::parse(first->payload, nullptr, false));
    } catch (const ProtocolError& e) {
      link_.close(1002, e.what());
      return;
    }
    while (auto m = link_.read()) {
      try {
        if (m->binary) {
          on_data(parse_data(m->payload));
        } else {
          on_control(json::parse(m->payload));
        }
      } catch (const std::exception& e) {
        link_.close(1002, std::string("protocol error: ") + e.what());
        break;
      }
    }
    // The connection is gone: every session ends; processes keep running (as with a
    // client that leaves docker exec), their stdin closed.
    std::lock_guard lock(mu_);
    for (auto& [id, s] : sessions_) {
      s->out.close();
      s->in.close();
    }
    sessions_.clear();
  }

 private:
  std::shared_ptr<Session> find(std::uint32_t id) {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(id);
    return it == sessions_.end() ? nullptr : it->second;
  }

  void finish(const std::shared_ptr<Session>& s) {
    std::lock_guard lock(mu_);
    if (auto it = sessions_.find(s->id); it != sessions_.end() && it->second == s)
      sessions_.erase(it);
  }

  template <class F>
  void spawn(F f) {
    std::thread([self = shared_from_this(), f = std::move(f)]() mutable { f(); }).detach();
  }

  void send_error(std::uint32_t session, const std::string& kind, const std::string& message) {
    link_.send_json(
        {{"type", "error"}, {"session", session}, {"kind", kind}, {"message", message}});
  }

  // Sends `data` on a stream of the session, waiting for credit.
  bool send(Session& s, std::uint8_t stream, std::string_view data) {
    while (!data.empty()) {
      std::size_t n = s.out.take(std::min(data.size(), kChunk));
      if (n == 0) return false;
      if (!link_.send_data(stream, s.id, data.substr(0, n))) return false;
      data.remove_prefix(n);
    }
    return true;
  }

  void on_data(const DataMessage& d) {
    auto s = find(d.session);
    if (!s) return;  // a session that ended meanwhile
    s->in.push({d.stream, std::string(d.payload)});
  }

  void on_control(const json& m) {
    std::string type = m.value("type", "");
    std::uint32_t id = m.value("session", 0u);
    if (type == "window") {
      if (auto s = find(id)) s->out.grant(m.value("bytes", std::size_t{0}));
      return;
    }
    if (type == "eof") {
      if (auto s = find(id)) s->in.close();
      return;
    }
    if (type == "signal" || type == "resize") {
      control(id, m);
      return;
    }
    auto s = std::make_shared<Session>();
    s->id = id;
    {
      std::lock_guard lock(mu_);
      if (sessions_.count(id)) {
        send_error(id, "invalid", "session " + std::to_string(id) + " is in use");
        return;
      }
      sessions_[id] = s;
    }
    if (type == "exec") {
      spawn([this, s, m] { exec(s, m); });
    } else if (type == "attach") {
      spawn([this, s, m] { attach(s, m); });
    } else if (type == "stat" || type == "get_archive" || type == "put_archive") {
      spawn([this, s, m, type] { archive(s, type, m); });
    } else if (type == "top") {
      spawn([this, s] { top(s); });
    } else {
      finish(s);
      send_error(id, "unsupported", "unknown request " + type);
    }
  }

  // signal and resize: one-shot, answered at once.
  void control(std::uint32_t id, const json& m) {
    std::string target =
        m.contains("target") && m["target"].is_string() ? m["target"].get<std::string>() : "main";
    std::shared_ptr<Session> exec_session;
    if (target != "main") {
      exec_session = find(static_cast<std::uint32_t>(std::stoul(target)));
      if (!exec_session) {
        send_error(id, "not_found", "no session " + target);
        return;
      }
    }
    if (m.value("type", "") == "signal") {
      int sig = 0;
      if (m["signal"].is_number_integer()) {
        sig = m["signal"].get<int>();
      } else if (auto n = parse_signal(m.value("signal", ""))) {
        sig = *n;
      }
      if (sig <= 0 || sig > 64) {
        send_error(id, "invalid", "Invalid signal: " + m["signal"].dump());
        return;
      }
      if (exec_session) {
        if (pid_t p = exec_session->pid) ::kill(p, sig);
      } else if (ctx_.main) {
        ctx_.main->signal(sig);
      }
    } else {
      int h = m.value("height", 0), w = m.value("width", 0);
      if (exec_session) {
        std::lock_guard lock(exec_session->mu);
        winsize ws{};
        ws.ws_row = static_cast<unsigned short>(h);
        ws.ws_col = static_cast<unsigned short>(w);
        if (exec_session->master) ::ioctl(exec_session->master.get(), TIOCSWINSZ, &ws);
      } else if (ctx_.main) {
        ctx_.main->resize(h, w);
      }
    }
    link_.send_json({{"type", "done"}, {"session", id}});
  }

  // --------------------------------------------------------------- exec

  void exec(std::shared_ptr<Session> s, json m) {
    bool tty = m.value("tty", false);
    bool want_stdin = m.value("stdin", false);
    std::vector<std::string> argv = m.value("argv", std::vector<std::string>{});
    std::vector<std::string> env = m.value("env", std::vector<std::string>{});
    std::string workdir = m.value("workdir", "");
    std::string user = m.value("user", "");
    int height = m.value("height", 0), width = m.value("width", 0);

    UniqueFd in_r, in_w, out_r, out_w, err_r, err_w, slave;
    int p[2];
    if (tty) {
      s->master = UniqueFd(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
      if (!s->master || ::grantpt(s->master.get()) != 0 || ::unlockpt(s->master.get()) != 0) {
        send_error(s->id, "internal", std::string("open a terminal: ") + std::strerror(errno));
        return finish(s);
      }
      slave = UniqueFd(::open(::ptsname(s->master.get()), O_RDWR | O_NOCTTY | O_CLOEXEC));
      if (height > 0 && width > 0) {
        winsize ws{};
        ws.ws_row = static_cast<unsigned short>(height);
        ws.ws_col = static_cast<unsigned short>(width);
        ::ioctl(s->master.get(), TIOCSWINSZ, &ws);
      }
    } else {
      if (want_stdin && ::pipe2(p, O_CLOEXEC) == 0) {
        in_r = UniqueFd(p[0]);
        in_w = UniqueFd(p[1]);
      }
      if (::pipe2(p, O_CLOEXEC) == 0) {
        out_r = UniqueFd(p[0]);
        out_w = UniqueFd(p[1]);
      }
      if (::pipe2(p, O_CLOEXEC) == 0) {
        err_r = UniqueFd(p[0]);
        err_w = UniqueFd(p[1]);
      }
    }
    pid_t pid;
    try {
      // An exec runs as root unless told otherwise, whoever the command runs as.
      pid = start_process(argv, env, workdir, user.empty() ? "0" : user, ctx_.group_add, tty,
                          tty ? std::vector<int>{slave.get()}
                              : std::vector<int>{in_r ? in_r.get() : -1, out_w.get(), err_w.get()});
    } catch (const sandbox::SandboxError& e) {
      auto failure = sandbox::start_error(e.step(), e.what());
      link_.send_json(
          {{"type", "exit"},
           {"session", s->id},
           {"code", failure.exit_code},
           {"error", "OCI runtime exec failed: exec failed: unable to start container process: " +
                         failure.detail}});
      return finish(s);
    }
    s->pid = pid;
    in_r.reset();
    out_w.reset();
    err_w.reset();
    slave.reset();
    link_.send_json({{"type", "started"}, {"session", s->id}, {"pid", pid}});

    // stdin: what the daemon sends, written as it comes, credit granted back.
    int stdin_fd = tty ? ::fcntl(s->master.get(), F_DUPFD_CLOEXEC, 0) : in_w.release();
    spawn([this, s, stdin_fd, tty] {
      UniqueFd in(stdin_fd);
      while (auto c = s->in.pop()) {
        if (in && !write_all_fd(in.get(), c->data.data(), c->data.size())) in.reset();
        link_.send_json({{"type", "window"},
                         {"session", s->id},
                         {"stream", static_cast<int>(kStdin)},
                         {"bytes", c->data.size()}});
      }
      if (tty && in) {
        // EOF of a terminal's input: ^D, as docker does for a closed stdin.
        write_all_fd(in.get(), "\x04", 1);
      }
    });

    std::vector<std::thread> pumps;
    auto pump = [this, s](UniqueFd fd, std::uint8_t stream) {
      char buf[kChunk];
      bool sending = true;
      for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        if (sending) sending = send(*s, stream, std::string_view(buf, static_cast<std::size_t>(n)));
      }
    };
    if (tty) {
      pumps.emplace_back(pump, UniqueFd(::fcntl(s->master.get(), F_DUPFD_CLOEXEC, 0)), kStdout);
    } else {
      pumps.emplace_back(pump, std::move(out_r), kStdout);
      pumps.emplace_back(pump, std::move(err_r), kStderr);
    }
    int code = Reaper::instance().wait(pid);
    if (tty) {
      // The terminal ends when the last holder of its slave goes: a process that left
      // children holding it would keep the pump reading, so wake it.
      pumps.front().join();
    } else {
      for (auto& t : pumps)
        t.join();
    }
    s->in.close();
    link_.send_json({{"type", "exit"}, {"session", s->id}, {"code", code}});
    finish(s);
  }

  // --------------------------------------------------------------- attach

  void attach(std::shared_ptr<Session> s, json m) {
    if (!ctx_.main) {
      send_error(s->id, "unsupported", "attach: this agent runs no main process");
      return finish(s);
    }
    if (ctx_.main->tty()) {
      send_error(s->id, "unsupported",
                 "attach: the main process writes to the container's terminal itself");
      return finish(s);
    }
    ++attaches;
    struct Done {
      ~Done() { --attaches; }
    } done;
    bool want_out = m.value("stdout", true), want_err = m.value("stderr", true);
    bool want_in = m.value("stdin", false), stdin_once = m.value("stdin_once", false);
    auto q = ctx_.main->subscribe(m.value("replay", std::size_t{0}));
    MainProcess* main = ctx_.main;
    if (want_in)
      spawn([this, s, main, stdin_once] {
        while (auto c = s->in.pop()) {
          main->write_stdin(c->data);
          link_.send_json({{"type", "window"},
                           {"session", s->id},
                           {"stream", static_cast<int>(kStdin)},
                           {"bytes", c->data.size()}});
        }
        if (stdin_once) main->close_stdin();
      });
    bool sending = true;
    while (auto c = q->pop()) {
      if ((c->stream == kStdout && !want_out) || (c->stream == kStderr && !want_err)) continue;
      if (sending && !send(*s, c->stream, c->data)) {
        sending = false;
        break;
      }
    }
    main->unsubscribe(q);
    if (auto code = main->exit_code()) {
      link_.send_json({{"type", "exit"}, {"session", s->id}, {"code", *code}});
    } else {
      send_error(s->id, "internal", "attach: the output could not keep up and was cut off");
    }
    s->in.close();
    finish(s);
  }

  // --------------------------------------------------------------- archives

  void archive(std::shared_ptr<Session> s, const std::string& type, json m) {
    std::string path = m.value("path", "");
    UniqueFd root(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
    try {
      if (type == "stat") {
        json st = monitor::archive_stat_json(sandbox::stat_for_archive(root.get(), path));
        st["type"] = "stat";
        st["session"] = s->id;
        link_.send_json(st);
      } else if (type == "get_archive") {
        auto st = sandbox::stat_for_archive(root.get(), path);
        json head = monitor::archive_stat_json(st);
        head["type"] = "stat";
        head["session"] = s->id;
        link_.send_json(head);
        int p[2];
        if (::pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
        UniqueFd r(p[0]);
        int w = p[1];
        std::thread writer([&root, st, w] {
          UniqueFd out(w);
          monitor::write_archive(root.get(), st.source, st.name, out.get());
        });
        char buf[kChunk];
        bool sending = true;
        for (;;) {
          ssize_t n = ::read(r.get(), buf, sizeof buf);
          if (n < 0 && errno == EINTR) continue;
          if (n <= 0) break;
          if (sending)
            sending = send(*s, kArchive, std::string_view(buf, static_cast<std::size_t>(n)));
          if (!sending) break;
        }
        r.reset();  // a writer still writing gets EPIPE and stops
        writer.join();
        link_.send_json(
            {{"type", "eof"}, {"session", s->id}, {"stream", static_cast<int>(kArchive)}});
      } else {
        put_archive(*s, root.get(), path, m);
        return finish(s);
      }
      link_.send_json({{"type", "done"}, {"session", s->id}});
    } catch (const sandbox::PathError& e) {
      if (e.error() == ENOENT) {
        send_error(s->id, "not_found",
                   "Could not find the file " + path + " in container " +
                       m.value("container", ctx_.container));
      } else {
        send_error(s->id, "internal", e.what());
      }
    } catch (const std::exception& e) {
      send_error(s->id, "internal", e.what());
    }
    finish(s);
  }

  // The upload is staged whole (and refused whole when it would escape) before anything
  // is written, as the daemon does.
  void put_archive(Session& s, int root_fd, const std::string& path, const json& m) {
    UniqueFd staged(::memfd_create("upload", MFD_CLOEXEC));
    if (!staged)
      throw std::runtime_error(std::string("staging the upload: ") + std::strerror(errno));
    while (auto c = s.in.pop()) {
      if (!write_all_fd(staged.get(), c->data.data(), c->data.size()))
        throw std::runtime_error(std::string("staging the upload: ") + std::strerror(errno));
      link_.send_json({{"type", "window"},
                       {"session", s.id},
                       {"stream", static_cast<int>(kArchive)},
                       {"bytes", c->data.size()}});
    }
    monitor::PutRequest put;
    put.path = path;
    put.no_overwrite_dir_non_dir = m.value("no_overwrite_dir_non_dir", false);
    put.copy_uid_gid = m.value("copy_uid_gid", false);
    put.user = m.value("user", "");
    put.readonly_rootfs = m.value("readonly_rootfs", false);
    if (m.contains("mounts") && m["mounts"].is_array())
      for (const auto& j : m["mounts"]) {
        sandbox::Mount mount;
        mount.target = j.value("target", "");
        mount.type = j.value("type", "bind");
        mount.readonly = j.value("readonly", false);
        put.mounts.push_back(mount);
      }
    if (auto problem = monitor::put_archive(root_fd, put, staged.get())) {
      send_error(s.id, kind_of_status(problem->status), problem->message);
      return;
    }
    link_.send_json({{"type", "done"}, {"session", s.id}});
  }

  // --------------------------------------------------------------- top

  // The processes as /proc shows them inside the container, with what `ps -ef` shows of
  // each: user (from the container's /etc/passwd), pid, ppid, CPU use, start time,
  // terminal, CPU time, command line.
  void top(std::shared_ptr<Session> s) {
    std::map<long, std::string> users;
    {
      std::ifstream passwd("/etc/passwd");
      std::string line;
      while (std::getline(passwd, line)) {
        auto a = line.find(':'), b = line.find(':', a + 1), c = line.find(':', b + 1);
        if (c != std::string::npos)
          users.emplace(std::atol(line.c_str() + b + 1), line.substr(0, a));
      }
    }
    long hz = ::sysconf(_SC_CLK_TCK);
    long long boot = 0;
    {
      std::ifstream stat("/proc/stat");
      std::string key;
      while (stat >> key)
        if (key == "btime") {
          stat >> boot;
          break;
        }
    }
    double uptime = 0;
    std::ifstream("/proc/uptime") >> uptime;
    auto clock = [](long long secs, const char* format) {
      char buf[32];
      std::time_t t = static_cast<std::time_t>(secs);
      std::tm tm{};
      ::localtime_r(&t, &tm);
      std::strftime(buf, sizeof buf, format, &tm);
      return std::string(buf);
    };
    json processes = json::array();
    if (DIR* d = ::opendir("/proc")) {
      while (dirent* e = ::readdir(d)) {
        std::string name = e->d_name;
        if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::string dir = "/proc/" + name;
        std::stringstream cmdline;
        cmdline << std::ifstream(dir + "/cmdline").rdbuf();
        std::string cmd = cmdline.str();
        for (auto& c : cmd)
          if (c == '\0') c = ' ';
        while (!cmd.empty() && cmd.back() == ' ')
          cmd.pop_back();
        std::stringstream raw;
        raw << std::ifstream(dir + "/stat").rdbuf();
        std::string stat = raw.str();
        auto close = stat.rfind(')');
        if (close == std::string::npos) continue;  // gone meanwhile
        std::string comm = stat.substr(stat.find('(') + 1, close - stat.find('(') - 1);
        std::istringstream fields(stat.substr(close + 2));
        std::vector<std::string> f;
        for (std::string v; fields >> v;)
          f.push_back(v);
        if (f.size() < 20) continue;
        // Fields from the third of stat(5): state ppid pgrp session tty_nr … utime(14)
        // stime(15) … starttime(22), here shifted by 3.
        long ppid = std::atol(f[1].c_str());
        long tty_nr = std::atol(f[4].c_str());
        long long cpu = std::atoll(f[11].c_str()) + std::atoll(f[12].c_str());
        long long start = std::atoll(f[19].c_str());
        struct stat st {};
        ::stat(dir.c_str(), &st);
        double elapsed = uptime - static_cast<double>(start) / static_cast<double>(hz);
        long pct = elapsed > 0 ? static_cast<long>(100.0 * static_cast<double>(cpu) /
                                                   static_cast<double>(hz) / elapsed)
                               : 0;
        long long secs = cpu / hz;
        char time[64];
        std::snprintf(time, sizeof time, "%02lld:%02lld:%02lld", secs / 3600, secs / 60 % 60,
                      secs % 60);
        std::string tty = "?";
        if (tty_nr != 0) {
          unsigned major = (static_cast<unsigned>(tty_nr) >> 8) & 0xfff;
          unsigned minor = (static_cast<unsigned>(tty_nr) & 0xff) |
                           ((static_cast<unsigned>(tty_nr) >> 12) & 0xfff00);
          tty = major == 136 ? "pts/" + std::to_string(minor) : "tty" + std::to_string(minor);
        }
        long uid = static_cast<long>(st.st_uid);
        auto user = users.find(uid);
        processes.push_back({{"pid", std::stol(name)},
                             {"ppid", ppid},
                             {"uid", uid},
                             {"user", user != users.end() ? user->second : std::to_string(uid)},
                             {"c", pct},
                             {"stime", clock(boot + start / hz, "%H:%M")},
                             {"tty", tty},
                             {"time", time},
                             {"cmd", cmd.empty() ? "[" + comm + "]" : cmd}});
      }
      ::closedir(d);
    }
    std::sort(processes.begin(), processes.end(),
              [](const json& a, const json& b) { return a["pid"] < b["pid"]; });
    link_.send_json({{"type", "top"}, {"session", s->id}, {"processes", processes}});
    link_.send_json({{"type", "done"}, {"session", s->id}});
    finish(s);
  }

  std::shared_ptr<Link> link_ptr_;
  Link& link_;
  const AgentContext& ctx_;
  std::mutex mu_;
  std::map<std::uint32_t, std::shared_ptr<Session>> sessions_;
};

}  // namespace

int pending_attaches() {
  return attaches;
}

void serve_connection(const std::shared_ptr<Link>& link, const AgentContext& ctx) {
  std::make_shared<Connection>(link, ctx)->run();
}

}  // namespace sockerless::agent
