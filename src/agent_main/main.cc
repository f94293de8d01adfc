// sockerless-agent: the process sockerless puts inside workloads it cannot reach through a
// container runtime. See docs/agent-protocol.md.
//
//   sockerless-agent [--keep-alive] [--listen ADDR] [--callback URL] [--ca-file PEM]
//                    [--container ID] [--user USER[:GROUP]] [--group-add GROUP]...
//                    [--faas lambda|http] [-- CMD ARG…]
//
// As a function image's entrypoint (--faas, or found from AWS_LAMBDA_RUNTIME_API /
// FUNCTIONS_CUSTOMHANDLER_PORT) it runs the command once per invocation instead: the Lambda
// Runtime API loop, or HTTP on $PORT / $FUNCTIONS_CUSTOMHANDLER_PORT.
//
// With a command it is the container's PID 1: it runs the command as a supervised child
// (zombies reaped, signals forwarded, its exit code returned; with --keep-alive it stays
// up for exec after the command ends, until SIGTERM). --listen serves the daemon's
// connections; --callback dials the daemon and dials again whenever the connection drops.
// The token comes from $SOCKERLESS_AGENT_TOKEN, which the command does not see.
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "agent/faas.h"
#include "agent/link.h"
#include "agent/wire.h"
#include "agent_main/agent.h"
#include "sandbox/process.h"
#include "sandbox/sandbox.h"

namespace sockerless::agent {
namespace {

struct Options {
  bool keep_alive = false;
  std::string listen, callback, container, user, ca_file;
  std::string faas;  // "", "lambda" or "http"
  std::vector<std::string> group_add;
  std::vector<std::string> command;
};

[[noreturn]] void usage(const std::string& problem) {
  std::fprintf(stderr,
               "sockerless-agent: %s\n"
               "usage: sockerless-agent [--keep-alive] [--listen ADDR] [--callback URL] "
               "[--ca-file PEM] [--container ID] [--user USER[:GROUP]] [--group-add GROUP]... "
               "[--faas lambda|http] "
               "[-- CMD ARG...]\n",
               problem.c_str());
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(a + " needs a value");
      return argv[++i];
    };
    if (a == "--") {
      for (++i; i < argc; ++i)
        o.command.emplace_back(argv[i]);
      break;
    }
    if (a == "--keep-alive") {
      o.keep_alive = true;
    } else if (a == "--listen") {
      o.listen = value();
    } else if (a == "--callback") {
      o.callback = value();
    } else if (a == "--faas") {
      o.faas = value();
      if (o.faas != "lambda" && o.faas != "http") usage("--faas takes lambda or http");
    } else if (a == "--ca-file") {
      o.ca_file = value();
    } else if (a == "--user") {
      o.user = value();
    } else if (a == "--group-add") {
      o.group_add.push_back(value());
    } else if (a == "--container") {
      o.container = value();
    } else if (a == "--version") {
      std::printf("sockerless-agent %s (protocol %d)\n", kAgentVersion, kProtocolVersion);
      std::exit(0);
    } else {
      usage("unknown argument " + a);
    }
  }
  // The FaaS contracts announce themselves in the environment.
  if (o.faas.empty() && std::getenv("AWS_LAMBDA_RUNTIME_API")) o.faas = "lambda";
  if (o.faas.empty() && std::getenv("FUNCTIONS_CUSTOMHANDLER_PORT")) o.faas = "http";
  if (!o.faas.empty() && o.command.empty()) usage("--faas needs the command to run per invocation");
  if (o.command.empty() && o.listen.empty() && o.callback.empty())
    usage("nothing to do: give a command, --listen or --callback");
  return o;
}

void log(const std::string& line) {
  std::string l = "sockerless-agent: " + line + "\n";
  [[maybe_unused]] auto n = ::write(2, l.data(), l.size());
}

void serve_listener(int listener, const AgentContext& ctx) {
  for (;;) {
    int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      log(std::string("accept: ") + std::strerror(errno));
      return;
    }
    std::thread([fd, &ctx] {
      UniqueFd conn(fd);
      std::string rest;
      try {
        rest = server_handshake(conn.get(), kAgentPath, ctx.token);
      } catch (const HandshakeError&) {
        return;  // answered (401, 404, 400) or gone
      }
      serve_connection(std::make_shared<Link>(std::move(conn), false, std::move(rest)), ctx);
    }).detach();
  }
}

// Dials the daemon, serves the connection, and dials again when it drops: 0.5 s doubling
// to 30 s, with jitter; a refused token is not retried quickly either.
void dial_back(const std::string& url, const std::string& ca_file, const AgentContext& ctx) {
  Url u;
  try {
    u = parse_url(url);
  } catch (const std::exception& e) {
    log(e.what());
    std::exit(2);
  }
  std::mt19937 rng(std::random_device{}());
  double delay = 0.5;
  for (;;) {
    try {
      UniqueFd fd = dial(u.address);
      if (u.tls) fd = tls_tunnel(std::move(fd), u.hostname, ca_file);
      std::string rest = client_handshake(fd.get(), u.host, u.target, ctx.token);
      delay = 0.5;
      auto link = std::make_shared<Link>(std::move(fd), true, std::move(rest));
      std::atomic<bool> done{false};
      std::thread pinger([&] {
        while (!done) {
          for (int i = 0; i < 150 && !done; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
          if (!done && !link->ping()) break;
        }
      });
      serve_connection(link, ctx);
      done = true;
      pinger.join();
      log("the connection to the daemon ended (" + link->end_reason() + "); dialing again");
    } catch (const std::exception& e) {
      log(std::string("dialing ") + url + ": " + e.what());
    }
    std::uniform_real_distribution<double> jitter(0.8, 1.2);
    std::this_thread::sleep_for(std::chrono::duration<double>(delay * jitter(rng)));
    delay = std::min(delay * 2, 30.0);
  }
}

void start_listener(const std::string& address, const AgentContext& ctx) {
  static UniqueFd listener;
  try {
    listener = listen_on(address);
  } catch (const std::exception& e) {
    log(e.what());
    std::_Exit(2);
  }
  std::thread(serve_listener, listener.get(), std::cref(ctx)).detach();
}

int run(const Options& o) {
  static AgentContext ctx;
  static MainProcess main_process;
  if (const char* t = std::getenv(kTokenEnv)) ctx.token = t;
  ::unsetenv(kTokenEnv);
  ctx.container = o.container;
  ctx.group_add = o.group_add;
  if ((!o.listen.empty() || !o.callback.empty()) && ctx.token.empty())
    usage(std::string("--listen and --callback need a token in $") + kTokenEnv);

  static std::atomic<bool> main_done{false}, stopping{false};
  static std::atomic<int> main_code{0};
  Reaper::instance().start([&o](int sig) {
    if (sig == SIGWINCH) return;  // the command's terminal is ours: the kernel tells it
    bool stop = sig == SIGTERM || sig == SIGINT;
    if (main_done) {
      // The command has ended and we stayed up for exec: SIGTERM/SIGINT end us too.
      if (stop) std::_Exit(main_code);
      return;
    }
    if (o.command.empty() || !o.faas.empty()) {
      // Nothing supervised (a function's invocations run one by one): a stop is ours.
      if (stop) std::_Exit(0);
      return;
    }
    // A stop goes to the command, and we leave with it even with --keep-alive.
    if (stop) stopping = true;
    main_process.signal(sig);
  });

  if (!o.faas.empty()) {
    if (!o.listen.empty()) start_listener(o.listen, ctx);
    if (!o.callback.empty()) std::thread(dial_back, o.callback, o.ca_file, std::cref(ctx)).detach();
    Runner runner = [&o](const Invocation& inv) { return run_invocation(o.command, o.user, inv); };
    if (o.faas == "lambda") {
      const char* api = std::getenv("AWS_LAMBDA_RUNTIME_API");
      if (!api) usage("--faas lambda needs AWS_LAMBDA_RUNTIME_API");
      run_lambda_loop(api, runner);
      return 0;
    }
    const char* port = std::getenv("FUNCTIONS_CUSTOMHANDLER_PORT");
    if (!port) port = std::getenv("PORT");
    if (!port) port = "8080";
    UniqueFd listener;
    try {
      listener = listen_on(std::string("0.0.0.0:") + port);
    } catch (const std::exception& e) {
      log(e.what());
      return 2;
    }
    serve_http_functions(listener.get(), runner);
    return 1;
  }
  if (!o.command.empty()) {
    try {
      main_process.start(o.command, o.user, o.group_add);
      ctx.main = &main_process;
    } catch (const sandbox::SandboxError& e) {
      auto failure = sandbox::start_error(e.step(), e.what());
      std::fprintf(stderr, "%s\n", failure.detail.c_str());
      return failure.exit_code;
    } catch (const std::exception& e) {
      log(e.what());
      return 126;
    }
  }
  if (!o.listen.empty()) start_listener(o.listen, ctx);
  if (!o.callback.empty()) std::thread(dial_back, o.callback, o.ca_file, std::cref(ctx)).detach();

  if (o.command.empty()) {
    for (;;)
      ::pause();
  }
  int code = main_process.wait();
  main_code = code;
  main_done = true;
  // Attached clients learn the exit code before the connection goes with us.
  for (int i = 0; i < 100 && pending_attaches() > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (o.keep_alive && !stopping) {
    for (;;)
      ::pause();
  }
  return code;
}

}  // namespace
}  // namespace sockerless::agent

int main(int argc, char** argv) {
  using namespace sockerless::agent;
  Reaper::block_signals();
  Options o = parse(argc, argv);
  int code = run(o);
  std::fflush(stdout);
  std::_Exit(code);
}
