// sockerlessd: the Docker Engine API daemon.
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "api/respond.h"
#include "backends/docker/proxy.h"
#include "common/log.h"
#include "common/unique_fd.h"
#include "daemon/config.h"
#include "engine/backend_registry.h"
#include "engine/containers.h"
#include "engine/engine.h"
#include "metrics/metrics.h"
#include "monitor/roles.h"
#include "routes/docker_api.h"

namespace sockerless::daemon {
namespace {

// Holds an exclusive lock on the data root for the daemon's lifetime, so two daemons
// never share one state directory.
UniqueFd lock_data_root(const std::string& root) {
  std::filesystem::create_directories(root);
  ::chmod(root.c_str(), 0711);
  std::string path = root + "/sockerlessd.pid";
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {};
    ssize_t n = ::pread(fd.get(), buf, sizeof buf - 1, 0);
    std::string pid = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "unknown";
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' '))
      pid.pop_back();
    throw std::runtime_error("data root " + root + " is in use by another sockerlessd (pid " + pid +
                             "); stop it or choose another --data-root");
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd.get(), 0) != 0 || ::pwrite(fd.get(), pid.data(), pid.size(), 0) < 0)
    throw std::runtime_error("cannot write " + path);
  return fd;
}

gid_t socket_group(const DaemonConfig& c) {
  if (c.group.empty()) return static_cast<gid_t>(-1);
  // The default "docker" group is root's business: a daemon that is not root keeps its
  // socket to itself (it could not hand it to a group it is not in anyway).
  if (!c.group_explicit && ::geteuid() != 0) return static_cast<gid_t>(-1);
  if (struct group* g = ::getgrnam(c.group.c_str())) return g->gr_gid;
  if (c.group_explicit) throw std::runtime_error("group " + c.group + " not found (-G/--group)");
  return static_cast<gid_t>(-1);
}

engine::EngineOptions engine_options(const DaemonConfig& c) {
  engine::EngineOptions o;
  o.data_root = c.data_root;
  o.backend_name = c.backend;
  o.debug = c.log_level == "debug" || c.debug;
  o.labels = c.labels;
  o.live_restore = c.live_restore;
  o.iptables = c.iptables;
  o.ip_forward = c.ip_forward;
  o.insecure_registries = c.insecure_registries;
  o.registry_mirrors = c.registry_mirrors;
  return o;
}

std::string git_commit() {
#ifdef SOCKERLESS_GIT_COMMIT
  return SOCKERLESS_GIT_COMMIT;
#else
  return "";
#endif
}

// What the daemon does around serving, per backend.
struct Lifecycle {
  std::function<void(const DaemonConfig&)> reload;  // SIGHUP, after the log level
  // SIGTERM, once the listeners are closed; given the time left of the shutdown timeout.
  std::function<void(std::chrono::seconds)> before_drain;
};

// Listens on every configured address (and the metrics address), serves until SIGINT or
// SIGTERM, reloads on SIGHUP; then closes the listeners and drains requests in flight
// under the shutdown timeout.
void serve(const DaemonConfig& config, const std::vector<std::string>& args,
           http::ServerHooks hooks, metrics::Registry& metrics, sigset_t& signals,
           const Lifecycle& life) {
  hooks.on_complete = [&metrics](const http::Completion& c) {
    double secs = std::chrono::duration<double>(c.elapsed).count();
    metrics.observe_request(c.request.route, c.request.method, c.status, secs);
    spdlog::debug("{} {} {} {:.3f}ms", c.request.method, c.request.target, c.status, secs * 1e3);
  };
  http::Server server(std::move(hooks),
                      std::min(2u, std::max(1u, std::thread::hardware_concurrency())));

  gid_t group = socket_group(config);
  for (const auto& host : config.hosts) {
    http::ListenerOptions l;
    l.address = host;
    l.unix_group = group;
    if (host.rfind("tcp://", 0) == 0) {
      if (config.tls)
        l.tls = http::TlsOptions{config.tls_cert, config.tls_key, config.tls_ca_cert,
                                 config.tls_verify};
      if (!config.tls_verify && is_non_loopback_tcp(host))
        spdlog::warn(
            "[!] DON'T BIND ON ANY IP ADDRESS WITHOUT setting --tlsverify IF YOU DON'T KNOW WHAT "
            "YOU'RE DOING [!] Binding {} without --tlsverify gives anyone who can reach it "
            "root-equivalent control of this host.",
            host);
    }
    server.listen(l);
  }

  std::unique_ptr<http::Server> metrics_server;
  http::Router metrics_router;
  if (!config.metrics_addr.empty()) {
    metrics_router.add(
        "GET", "/metrics",
        http::RouteTarget{[&metrics](http::Request&, http::Responder& out) {
                            out.send(http::Response::text(
                                200, metrics.render(), "text/plain; version=0.0.4; charset=utf-8"));
                          },
                          http::Execution::Inline, http::BodyMode::Buffered});
    http::ServerHooks mh;
    mh.resolve = [&metrics_router](http::Request& req) {
      auto m = metrics_router.match(req.method, req.path);
      if (m.route) return m.route->target;
      return http::RouteTarget{[](http::Request&, http::Responder& out) {
                                 out.send(http::Response::text(404, "404 page not found\n"));
                               },
                               http::Execution::Inline, http::BodyMode::Buffered};
    };
    mh.error_response = [](std::exception_ptr) {
      return http::Response::text(500, "internal error\n");
    };
    metrics_server = std::make_unique<http::Server>(std::move(mh), 1);
    std::string addr = config.metrics_addr.rfind("tcp://", 0) == 0 ? config.metrics_addr
                                                                   : "tcp://" + config.metrics_addr;
    metrics_server->listen(http::ListenerOptions{addr, std::nullopt});
    metrics_server->start();
    spdlog::info("metrics on {}/metrics", metrics_server->addresses().front());
  }

  server.start();
  for (const auto& a : server.addresses())
    spdlog::info("API listen on {}", a);
  if (config.backend == "docker")
    spdlog::info("sockerlessd {} ready: backend docker, engine {}", SOCKERLESS_VERSION,
                 config.docker_host);
  else
    spdlog::info("sockerlessd {} ready: backend {}, data root {}", SOCKERLESS_VERSION,
                 config.backend, config.data_root);

  for (;;) {
    int sig = 0;
    sigwait(&signals, &sig);
    if (sig == SIGHUP) {
      auto reparsed = load_config(args, process_environment());
      if (!reparsed.config) {
        spdlog::error("reload failed, keeping the running configuration: {}", reparsed.message);
        continue;
      }
      try {
        spdlog::set_level(log::parse_level(reparsed.config->log_level));
      } catch (const std::exception& e) {
        spdlog::error("reload: {}", e.what());
      }
      if (life.reload) life.reload(*reparsed.config);
      spdlog::info("configuration reloaded");
      continue;
    }
    spdlog::info("received {}, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    break;
  }
  // The whole shutdown (stopping the containers, then draining requests) is bounded by
  // the shutdown timeout.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(config.shutdown_timeout);
  server.close_listeners();
  if (life.before_drain) life.before_drain(std::chrono::seconds(config.shutdown_timeout));
  server.stop(
      std::max(std::chrono::milliseconds(0), std::chrono::duration_cast<std::chrono::milliseconds>(
                                                 deadline - std::chrono::steady_clock::now())));
  if (metrics_server) metrics_server->stop(std::chrono::milliseconds(0));
}

int run(const std::vector<std::string>& args) {
  auto env = process_environment();
  auto parsed = load_config(args, env);
  if (!parsed.config) {
    (parsed.exit_code == 0 ? std::cout : std::cerr) << parsed.message << std::endl;
    return parsed.exit_code;
  }
  DaemonConfig config = *parsed.config;
  try {
    log::init(log::parse_level(config.log_level), log::parse_format(config.log_format));
  } catch (const std::exception& e) {
    std::cerr << "sockerlessd: " << e.what() << std::endl;
    return 1;
  }

  // Signals are taken synchronously by this thread; every thread started from here on
  // inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  for (int s : {SIGINT, SIGTERM, SIGHUP})
    sigaddset(&signals, s);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  try {
    UniqueFd lock = lock_data_root(config.data_root);
    metrics::Registry metrics;
    if (config.backend == "docker") {
      backends::docker::EngineTls tls{config.docker_tls, config.docker_tls_verify,
                                      config.docker_cert_path};
      backends::docker::ProxyOptions options;
      options.engine = backends::docker::parse_engine_address(config.docker_host, tls);
      for (const auto& host : config.hosts)
        if (host == options.engine.url)
          throw std::runtime_error("--docker-host " + host +
                                   " is sockerlessd's own socket: point it at a Docker engine");
      options.version = SOCKERLESS_VERSION;
      options.labels = config.labels;
      backends::docker::DockerProxy proxy(std::move(options));
      serve(config, args, backends::docker::docker_proxy_hooks(proxy), metrics, signals, {});
      spdlog::info("stopped");
    } else {
      auto registry = engine::builtin_backends();
      engine::BackendOptions backend_options;
      backend_options.data_root = config.data_root + "/" + config.backend;
      backend_options.settings["agent-mode"] = config.agent_mode;
      auto backend = registry.create(config.backend, backend_options);
      backend->check_host();
      engine::Engine engine(engine_options(config), std::move(backend));
      metrics.set_container_states([&engine] { return engine.container_states(); });

      routes::DaemonIdentity who;
      who.git_commit = git_commit();
      http::Router router;
      routes::add_docker_routes(router, engine, who);
      Lifecycle life;
      life.reload = [&engine](const DaemonConfig& c) { engine.reload(engine_options(c)); };
      // The containers stop (their `logs -f` streams end with them) and event streams end
      // before what is still in flight gets the shutdown timeout to finish.
      life.before_drain = [&engine, &config](std::chrono::seconds limit) {
        if (!config.live_restore) engine.containers().stop_all(limit);
        engine.events().close_all();
      };
      serve(config, args, routes::docker_api_hooks(router, who), metrics, signals, life);
      spdlog::info("stopped");
    }
  } catch (const std::exception& e) {
    spdlog::critical("sockerlessd: {}", e.what());
    return 1;
  }
  std::error_code ec;
  std::filesystem::remove(config.data_root + "/sockerlessd.pid", ec);
  return 0;
}

}  // namespace
}  // namespace sockerless::daemon

int main(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  // The helper roles, when sockerless-monitor is not beside this binary.
  if (auto code = sockerless::monitor::run_role(args)) return *code;
  return sockerless::daemon::run(args);
}
