// sockerless-agent's pieces (see docs/agent-protocol.md): the supervisor of the main
// process (PID 1's duties, its output kept for attach), and the sessions one connection
// serves. Built only into the static agent binary.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/faas.h"
#include "agent/link.h"
#include "common/unique_fd.h"

namespace sockerless::agent {

// write(2) until everything is written; false when the descriptor fails.
bool write_all_fd(int fd, const char* data, std::size_t n);

// Starts a process as the agent starts every one (the command, an exec, an invocation):
// `argv` with `env` in `workdir`, as `user` ("": the agent's own uid, gid and groups; else
// resolved in the container's /etc/passwd, with `group_add` as docker run --group-add
// gives them), signals back to their defaults, stdio from
// `stdio` ({in, out, err}, -1 for /dev/null; with `tty` one terminal for all three).
// Returns its pid once it has exec'd; throws sandbox::SandboxError, worded as docker's.
pid_t start_process(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                    const std::string& workdir, const std::string& user,
                    const std::vector<std::string>& group_add, bool tty,
                    const std::vector<int>& stdio);

// The agent's environment without the token: what the processes it starts get.
std::vector<std::string> environment_without_token();

// Collects every child's exit (the agent is PID 1: orphans land here too) and hands each
// status to whoever waits for that pid. Signals are taken by one thread with sigwait.
class Reaper {
 public:
  static Reaper& instance();
  // Blocks the handled signals in the calling thread (call before any thread starts).
  static void block_signals();
  // Starts the signal thread; `forward` gets every signal but SIGCHLD.
  void start(std::function<void(int)> forward);
  // The exit code of `pid` as docker reports it (128+signal when killed), once it ends.
  int wait(pid_t pid);

 private:
  void reap();
  std::mutex mu_;
  std::condition_variable cv_;
  struct Exit {
    int code;
    std::chrono::steady_clock::time_point at;
  };
  std::map<pid_t, Exit> exited_;
};

// A bounded queue of output chunks for one reader (an attach session, an exec stream).
struct Chunk {
  std::uint8_t stream = 1;
  std::string data;
};
class ChunkQueue {
 public:
  explicit ChunkQueue(std::size_t limit = 8 << 20) : limit_(limit) {}
  bool push(Chunk c);          // false when closed or over the limit (then it closes)
  std::optional<Chunk> pop();  // nullopt once closed and drained
  void close();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Chunk> q_;
  std::size_t bytes_ = 0, limit_;
  bool closed_ = false;
};

// The container's main process: started with pipes (or a terminal when the agent's own
// stdout is one), its output copied to the agent's stdout/stderr (the container's log),
// kept in a ring for replay, and fanned out to attached sessions.
class MainProcess {
 public:
  // `user`: as docker run -u names it, resolved in the container's /etc/passwd; "" stays
  // the agent's own. `group_add`: docker run --group-add's.
  void start(const std::vector<std::string>& argv, const std::string& user,
             const std::vector<std::string>& group_add);
  pid_t pid() const { return pid_; }
  bool tty() const { return tty_; }
  // Blocks until the process has exited and its output is drained.
  int wait();
  std::optional<int> exit_code();
  void signal(int sig);
  void resize(int height, int width);
  // Subscribes to live output after `replay` bytes of the recent output (0: none).
  // The queue closes when the process's output ends.
  std::shared_ptr<ChunkQueue> subscribe(std::size_t replay);
  void unsubscribe(const std::shared_ptr<ChunkQueue>& q);
  void write_stdin(std::string_view data);
  void close_stdin();

 private:
  void pump(int fd, std::uint8_t stream, int copy_to);
  void output(std::uint8_t stream, std::string_view data);

  pid_t pid_ = 0;
  bool tty_ = false;
  UniqueFd stdin_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Chunk> ring_;
  std::size_t ring_bytes_ = 0;
  std::set<std::shared_ptr<ChunkQueue>> subscribers_;
  int pumps_running_ = 0;
  std::optional<int> code_;
  std::mutex stdin_mu_;
};

// One FaaS invocation: the command run as `user` with the event on its stdin, its stdout
// and stderr collected (stderr also goes to ours, the function's log).
InvocationResult run_invocation(const std::vector<std::string>& argv, const std::string& user,
                                const Invocation& invocation);

// TLS (wss://) over a dialed TCP connection to `host`, its certificate verified against
// `ca_file` (PEM; "" for OpenSSL's default paths) and the name: returns the plaintext side.
// Throws std::runtime_error naming what failed.
UniqueFd tls_tunnel(UniqueFd tcp, const std::string& host, const std::string& ca_file);

struct AgentContext {
  std::string token;
  std::string container;
  std::vector<std::string> group_add;  // --group-add: execs get them as the command does
  MainProcess* main = nullptr;         // null when the agent runs commands per invocation (FaaS)
};

// Attach sessions still to tell their client how the main process ended: the agent
// waits for them (briefly) before it exits with the command.
int pending_attaches();

// Serves one upgraded connection until it ends: the hello exchange, then sessions. Returns
// when the connection ends; sessions still running (execs) finish on their own.
void serve_connection(const std::shared_ptr<Link>& link, const AgentContext& ctx);

}  // namespace sockerless::agent
