// The daemon's side of the monitor: launching one, attaching, resizing, reading exits.
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "monitor/monitor.h"
#include "monitor/spawn_role.h"

extern char** environ;

namespace sockerless::monitor {

using nlohmann::json;

namespace {

UniqueFd connect_socket(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::string target = path;
  UniqueFd dir;
  if (target.size() >= sizeof addr.sun_path) {
    // Too long for sun_path: reach it through a descriptor of its directory.
    auto slash = path.rfind('/');
    dir = UniqueFd(::open(path.substr(0, slash).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!dir) return {};
    target = "/proc/self/fd/" + std::to_string(dir.get()) + path.substr(slash);
  }
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", target.c_str());
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return {};
  return fd;
}

}  // namespace

Launched launch(const std::string& self_exe, const std::string& state_dir,
                const MonitorConfig& config, int& code_out,
                const std::function<void()>& on_listening) {
  code_out = 128;
  {
    std::ofstream out(state_dir + "/monitor.json", std::ios::trunc);
    out << to_json(config).dump();
    if (!out) throw std::runtime_error("cannot write " + state_dir + "/monitor.json");
  }
  ::unlink((state_dir + "/exit.json").c_str());
  ::unlink((state_dir + "/pid").c_str());  // a previous run's: never to be signalled
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0)
    throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  UniqueFd report_r(p[0]), report_w(p[1]);
  std::string log = state_dir + "/monitor.log";
  spawn_role(self_exe, "monitor", state_dir, report_w.get(), log, "container monitor");
  report_w.reset();
  auto read_line = [&] {
    std::string line;
    char c;
    while (::read(report_r.get(), &c, 1) == 1 && c != '\n')
      line += c;
    return line;
  };
  std::string line = read_line();
  if (line == "listening") {
    if (on_listening) on_listening();
    line = read_line();
  }
  if (line.rfind("ok ", 0) == 0) return Launched{std::atoi(line.c_str() + 3)};
  if (line.rfind("error ", 0) == 0) {
    std::string rest = line.substr(6);
    auto space = rest.find(' ');
    code_out = std::atoi(rest.substr(0, space).c_str());
    throw std::runtime_error(space == std::string::npos ? rest : rest.substr(space + 1));
  }
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  throw std::runtime_error("the container monitor exited without reporting: " + text.str());
}

UniqueFd connect_attach(const std::string& state_dir, bool in, bool out, bool err) {
  UniqueFd fd = connect_socket(state_dir + "/attach.sock");
  if (!fd) return {};
  json header = {{"stdin", in}, {"stdout", out}, {"stderr", err}};
  if (!send_all(fd.get(), header.dump() + "\n")) return {};
  return fd;
}

void resize(const std::string& state_dir, int height, int width) {
  UniqueFd fd = connect_socket(state_dir + "/attach.sock");
  if (!fd) return;
  json header = {{"resize", {height, width}}};
  send_all(fd.get(), header.dump() + "\n");
}

bool read_exit(const std::string& state_dir, Exit& out) {
  std::ifstream in(state_dir + "/exit.json");
  if (!in) return false;
  std::stringstream text;
  text << in.rdbuf();
  json doc = json::parse(text.str(), nullptr, false);
  if (!doc.is_object()) return false;
  out.code = doc.value("ExitCode", 0);
  out.finished_at = doc.value("FinishedAt", 0LL);
  out.oom_killed = doc.value("OOMKilled", false);
  return true;
}

void wait_finished(const std::string& state_dir) {
  UniqueFd fd = connect_attach(state_dir, false, false, false);
  if (!fd) return;
  char buf[256];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n == 0 || (n < 0 && errno != EINTR)) return;
  }
}

}  // namespace sockerless::monitor
