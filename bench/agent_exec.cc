// The agent protocol's own throughput: a real sockerless-agent (started here, listening
// on a unix socket) runs `head -c N /dev/zero` as an exec, and the daemon's agent client
// (engine::AgentClients, as the memory backend uses it) relays the output into Docker's
// multiplexed frames; this reads them to the end. No docker CLI, no HTTP: what the agent
// link carries per second. Prints one JSON object.
//
//   sockerless-agent-exec AGENT_BINARY BYTES [ROUNDS]
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/agent_client.h"

int main(int argc, char** argv) {
  using namespace sockerless;
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s AGENT_BINARY BYTES [ROUNDS]\n", argv[0]);
    return 2;
  }
  std::string agent = argv[1];
  std::string bytes = argv[2];
  int rounds = argc > 3 ? std::atoi(argv[3]) : 3;
  auto dir = std::filesystem::temp_directory_path() /
             ("sockerless-agent-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string sock = (dir / "agent.sock").string();
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setenv("SOCKERLESS_AGENT_TOKEN", "bench-token", 1);
    ::execl(agent.c_str(), agent.c_str(), "--listen", ("unix:" + sock).c_str(), "--", "sleep",
            "3600", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  engine::AgentClients clients;
  engine::AgentEndpoint ep{"bench", "bench-token", "unix:" + sock};
  nlohmann::json out = {{"bytes", std::stoll(bytes)}, {"mb_per_s", nlohmann::json::array()}};
  std::vector<char> buf(1 << 20);
  for (int r = 0; r < rounds; ++r) {
    engine::ExecLaunch l;
    l.id = "exec-" + std::to_string(r);
    l.argv = {"head", "-c", bytes, "/dev/zero"};
    l.env = {"PATH=/usr/bin:/bin"};
    auto start = std::chrono::steady_clock::now();
    UniqueFd fd = clients.exec(ep, l);
    long long total = 0;
    ssize_t n;
    while ((n = ::read(fd.get(), buf.data(), buf.size())) > 0)
      total += n;
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    out["mb_per_s"].push_back(static_cast<double>(total) / 1e6 / secs);
  }
  // SIGTERM, which the agent passes to its command and then leaves with it (a SIGKILL
  // would leave the command behind).
  ::kill(pid, SIGTERM);
  ::waitpid(pid, nullptr, 0);
  std::filesystem::remove_all(dir);
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
