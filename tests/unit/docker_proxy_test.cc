#include "backends/docker/proxy.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <thread>

#include "api/errors.h"
#include "common/errors.h"
#include "http/router.h"
#include "raw_client.h"

namespace sockerless::backends::docker {
namespace {

using test_support::RawClient;

TEST(DockerProxy, RouteLabels) {
  EXPECT_EQ(route_label("/_ping"), "/_ping");
  EXPECT_EQ(route_label("/containers/json"), "/containers/json");
  EXPECT_EQ(route_label("/containers/abc/json"), "/containers/{id}/json");
  EXPECT_EQ(route_label("/containers/abc"), "/containers/{id}");
  EXPECT_EQ(route_label("/containers/abc/archive"), "/containers/{id}/archive");
  EXPECT_EQ(route_label("/exec/abc/start"), "/exec/{id}/start");
  EXPECT_EQ(route_label("/images/json"), "/images/json");
  EXPECT_EQ(route_label("/images/localhost:5000/a/b:1/json"), "/images/{name}/json");
  EXPECT_EQ(route_label("/images/busybox"), "/images/{name}");
  EXPECT_EQ(route_label("/volumes/prune"), "/volumes/prune");
  EXPECT_EQ(route_label("/networks/n1/connect"), "/networks/{id}/connect");
  EXPECT_EQ(route_label("/system/df"), "/system/df");
  EXPECT_EQ(route_label("/"), "/");
}

TEST(DockerProxy, EngineTargetLowersOnlyNewerVersions) {
  api::ApiVersion v141{1, 41};
  EXPECT_EQ(engine_target("/v1.44/containers/json?all=1", v141), "/v1.41/containers/json?all=1");
  EXPECT_EQ(engine_target("/v1.40/containers/json", v141), "/v1.40/containers/json");
  EXPECT_EQ(engine_target("/containers/json", v141), "/containers/json");
  EXPECT_EQ(engine_target("/v1.44/images/a%2Fb/json", v141), "/v1.41/images/a%2Fb/json");
}

TEST(DockerProxy, EngineAddresses) {
  EngineTls none;
  auto a = parse_engine_address("unix:///var/run/docker.sock", none);
  EXPECT_EQ(a.unix_path, "/var/run/docker.sock");
  EXPECT_EQ(a.url, "unix:///var/run/docker.sock");
  a = parse_engine_address("/run/d.sock", none);
  EXPECT_EQ(a.unix_path, "/run/d.sock");
  a = parse_engine_address("tcp://10.0.0.2", none);
  EXPECT_EQ(a.host, "10.0.0.2");
  EXPECT_EQ(a.port, "2375");
  EXPECT_FALSE(a.tls);
  a = parse_engine_address("tcp://[::1]:1234", none);
  EXPECT_EQ(a.host, "::1");
  EXPECT_EQ(a.url, "tcp://[::1]:1234");
  EngineTls verify{false, true, "/certs"};
  a = parse_engine_address("tcp://engine.example", verify);
  EXPECT_EQ(a.port, "2376");
  EXPECT_TRUE(a.tls);
  EXPECT_TRUE(a.verify);
  EXPECT_EQ(a.ca_file, "/certs/ca.pem");
  EXPECT_EQ(a.key_file, "/certs/key.pem");
  EXPECT_THROW(parse_engine_address("ssh://host", none), InvalidArgument);
  EXPECT_THROW(parse_engine_address("unix://", none), InvalidArgument);
}

// A proxy in front of a small engine made of our own HTTP server.
class ProxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("sockerless-proxy-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    engine_path_ = (dir_ / "engine.sock").string();
    proxy_path_ = (dir_ / "proxy.sock").string();
    engine_routes_.add("GET", "/version",
                       {[this](http::Request&, http::Responder& r) {
                          r.send(http::Response::json(
                              200, "{\"ApiVersion\":\"" + engine_version_ +
                                       "\",\"MinAPIVersion\":\"1.12\",\"Components\":[]}"));
                        },
                        http::Execution::Inline, http::BodyMode::Buffered});
  }
  void TearDown() override {
    proxy_server_.reset();
    engine_.reset();
    std::filesystem::remove_all(dir_);
  }
  void start_engine() {
    http::ServerHooks hooks;
    hooks.resolve = [this](http::Request& req) {
      auto split = api::split_version_prefix(req.path);
      req.path = split.rest;
      auto m = engine_routes_.match(req.method, req.path);
      if (!m.route)
        return http::RouteTarget{
            [](http::Request&, http::Responder& r) {
              r.send(http::Response::json(404, "{\"message\":\"page not found\"}"));
            },
            http::Execution::Inline, http::BodyMode::Buffered};
      return m.route->target;
    };
    hooks.error_response = [](std::exception_ptr e) { return api::error_response(e); };
    hooks.default_headers.set("Api-Version", engine_version_);
    engine_ = std::make_unique<http::Server>(std::move(hooks), 1);
    engine_->listen(http::ListenerOptions{"unix://" + engine_path_, std::nullopt});
    engine_->start();
  }
  void start_proxy() {
    ProxyOptions o;
    o.engine = parse_engine_address("unix://" + engine_path_, {});
    o.version = "test";
    proxy_ = std::make_unique<DockerProxy>(std::move(o));
    proxy_server_ = std::make_unique<http::Server>(docker_proxy_hooks(*proxy_), 1);
    proxy_server_->listen(http::ListenerOptions{"unix://" + proxy_path_, std::nullopt});
    proxy_server_->start();
  }

  std::filesystem::path dir_;
  std::string engine_path_, proxy_path_;
  std::string engine_version_ = "1.41";
  http::Router engine_routes_;
  std::unique_ptr<http::Server> engine_;
  std::unique_ptr<DockerProxy> proxy_;
  std::unique_ptr<http::Server> proxy_server_;
};

TEST_F(ProxyTest, UnreachableEngineIs502NamingIt) {
  start_proxy();
  RawClient c(proxy_path_);
  c.send("GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string answer = c.read_until("}");
  EXPECT_NE(answer.find("HTTP/1.1 502"), std::string::npos) << answer;
  EXPECT_NE(answer.find("cannot connect to the Docker engine at unix://" + engine_path_),
            std::string::npos)
      << answer;
  // The engine coming up is picked up by the next request.
  engine_routes_.add(
      "GET", "/_ping",
      {[](http::Request&, http::Responder& r) { r.send(http::Response::text(200, "OK")); },
       http::Execution::Inline, http::BodyMode::Buffered});
  start_engine();
  c.send("GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n");
  answer = c.read_until("\r\n\r\nOK");
  EXPECT_NE(answer.find("HTTP/1.1 200"), std::string::npos) << answer;
  EXPECT_NE(answer.find("Api-Version: 1.41"), std::string::npos) << answer;
}

TEST_F(ProxyTest, KeptConnectionsToAnEngineThatRestartedAreReplaced) {
  engine_routes_.add(
      "GET", "/_ping",
      {[](http::Request&, http::Responder& r) { r.send(http::Response::text(200, "OK")); },
       http::Execution::Inline, http::BodyMode::Buffered});
  start_engine();
  start_proxy();
  RawClient c(proxy_path_);
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 3; ++i) {
      c.send("GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n");
      std::string answer = c.read_until("\r\n\r\nOK");
      EXPECT_NE(answer.find("HTTP/1.1 200"), std::string::npos) << round << answer;
    }
    engine_->stop(std::chrono::milliseconds(0));  // the proxy's kept connection dies
    engine_.reset();
    start_engine();
  }
}

TEST_F(ProxyTest, VersionLoweredAndHeadersPassedOn) {
  engine_routes_.add(
      "POST", "/echo",
      {[](http::Request& req, http::Responder& r) {
         r.send(http::Response::text(
             201,
             req.target + "|" + req.headers.get("X-Registry-Auth").value_or("") + "|" + req.body));
       },
       http::Execution::Blocking, http::BodyMode::Buffered});
  engine_version_ = "1.45";  // newer than sockerless: clients are told 1.44
  start_engine();
  start_proxy();
  RawClient c(proxy_path_);
  c.send(
      "POST /v1.44/echo?x=1 HTTP/1.1\r\nHost: x\r\nX-Registry-Auth: abc\r\nContent-Length: "
      "4\r\n\r\nbody");
  std::string answer = c.read_until("body");
  EXPECT_NE(answer.find("HTTP/1.1 201"), std::string::npos) << answer;
  EXPECT_NE(answer.find("Api-Version: 1.44"), std::string::npos) << answer;
  EXPECT_NE(answer.find("/v1.44/echo?x=1|abc|body"), std::string::npos) << answer;
}

TEST_F(ProxyTest, VersionNegotiatedDownToTheEngine) {
  engine_routes_.add("GET", "/where",
                     {[](http::Request& req, http::Responder& r) {
                        r.send(http::Response::text(200, "[" + req.target + "]"));
                      },
                      http::Execution::Inline, http::BodyMode::Buffered});
  start_engine();
  start_proxy();
  RawClient c(proxy_path_);
  c.send("GET /v1.44/where HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(c.read_until("]").find("[/v1.41/where]"), std::string::npos);
  c.send("GET /v1.99/where HTTP/1.1\r\nHost: x\r\n\r\n");  // beyond sockerless: its own 400
  EXPECT_NE(c.read_until("}").find("HTTP/1.1 400"), std::string::npos);
}

TEST_F(ProxyTest, VersionAndInfoCarrySockerlessIdentity) {
  start_engine();
  start_proxy();
  RawClient c(proxy_path_);
  c.send("GET /version HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string answer = c.read_until("\"Platform\":{\"Name\":\"sockerless\"}}");
  EXPECT_NE(answer.find("\"Platform\":{\"Name\":\"sockerless\"}"), std::string::npos) << answer;
  EXPECT_NE(answer.find("\"Name\":\"sockerless\",\"Version\":\"test\""), std::string::npos)
      << answer;
  EXPECT_NE(answer.find("\"MinAPIVersion\":\"1.24\""), std::string::npos) << answer;
}

TEST_F(ProxyTest, StreamsRelayAsTheyComeAndBreaksShowAsBreaks) {
  engine_routes_.add("GET", "/stream",
                     {[](http::Request& req, http::Responder& r) {
                        auto w = r.stream(200, {});
                        w.write("first\n");
                        std::this_thread::sleep_for(std::chrono::milliseconds(200));
                        w.write("second\n");
                        if (req.query.get_bool("break")) w.abort();
                      },
                      http::Execution::Blocking, http::BodyMode::Buffered});
  start_engine();
  start_proxy();
  {
    RawClient c(proxy_path_);
    c.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
    // The first line arrives before the engine has written the second.
    std::string first = c.read_until("first\n", 150);
    EXPECT_NE(first.find("first\n"), std::string::npos) << first;
    std::string rest = c.read_until("0\r\n\r\n");
    EXPECT_NE(rest.find("second\n"), std::string::npos);
    EXPECT_NE(rest.find("\r\n0\r\n\r\n"), std::string::npos) << rest;
  }
  {
    RawClient c(proxy_path_);
    c.send("GET /stream?break=1 HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string all = c.read_to_eof();
    EXPECT_NE(all.find("second\n"), std::string::npos) << all;
    EXPECT_EQ(all.find("\r\n0\r\n\r\n"), std::string::npos) << all;  // no final chunk
    EXPECT_TRUE(c.eof());
  }
}

TEST_F(ProxyTest, StreamedRequestBodyReachesTheEngine) {
  engine_routes_.add("POST", "/load",
                     {[](http::Request& req, http::Responder& r) {
                        std::size_t total = 0;
                        char buf[65536];
                        ssize_t n;
                        while ((n = ::read(req.body_fd.get(), buf, sizeof buf)) > 0)
                          total += static_cast<std::size_t>(n);
                        r.send(http::Response::text(200, "got " + std::to_string(total)));
                      },
                      http::Execution::Blocking, http::BodyMode::Streamed});
  start_engine();
  start_proxy();
  RawClient c(proxy_path_);
  std::string chunk(100000, 'x');
  c.send("POST /load HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
  for (int i = 0; i < 20; ++i) {
    char size[16];
    std::snprintf(size, sizeof size, "%zx\r\n", chunk.size());
    c.send(size + chunk + "\r\n");
  }
  c.send("0\r\n\r\n");
  EXPECT_NE(c.read_until("2000000").find("got 2000000"), std::string::npos);
}

TEST_F(ProxyTest, HijackBridgesBothWaysWithHalfClose) {
  engine_routes_.add("POST", "/containers/{id}/attach",
                     {[](http::Request&, http::Responder& r) {
                        UniqueFd io = r.hijack("application/vnd.docker.raw-stream");
                        test_support::shout_back(io.get());
                      },
                      http::Execution::Blocking, http::BodyMode::Buffered});
  start_engine();
  start_proxy();
  RawClient c(proxy_path_);
  c.send(
      "POST /v1.41/containers/c1/attach?stream=1 HTTP/1.1\r\nHost: x\r\nConnection: "
      "Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\nearly");
  std::string head = c.read_until("\r\n\r\n");
  EXPECT_NE(head.find("HTTP/1.1 101 UPGRADED"), std::string::npos) << head;
  EXPECT_NE(head.find("Content-Type: application/vnd.docker.raw-stream"), std::string::npos);
  EXPECT_NE(head.find("Upgrade: tcp"), std::string::npos);
  EXPECT_EQ(c.read_until("EARLY"), "EARLY");
  c.send("late");
  EXPECT_EQ(c.read_until("LATE"), "LATE");
  c.half_close();
  EXPECT_EQ(c.read_to_eof(), "bye");
  EXPECT_TRUE(c.eof());
}

TEST_F(ProxyTest, EngineGoingAwayMidAnswerIsABreakNotAHang) {
  engine_routes_.add("GET", "/events",
                     {[](http::Request&, http::Responder& r) {
                        auto w = r.stream(200, {});
                        w.write("{}\n");
                        w.wait_client_gone(10000);
                      },
                      http::Execution::Blocking, http::BodyMode::Buffered});
  start_engine();
  start_proxy();
  RawClient c(proxy_path_);
  c.send("GET /events HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(c.read_until("{}\n").find("{}\n"), std::string::npos);
  auto t0 = std::chrono::steady_clock::now();
  engine_->stop(std::chrono::milliseconds(0));
  std::string rest = c.read_to_eof(5000);
  EXPECT_TRUE(c.eof());
  EXPECT_EQ(rest.find("0\r\n\r\n"), std::string::npos) << rest;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(4));
}

}  // namespace
}  // namespace sockerless::backends::docker
