// The FaaS loops against fake runtimes of the test's own: the Lambda Runtime API (next,
// response, error) and HTTP invocations, with a runner that needs no processes.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "agent/faas.h"
#include "agent/link.h"

namespace sockerless::agent {
namespace {

int port_of(int fd) {
  sockaddr_in sa{};
  socklen_t len = sizeof sa;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  return ntohs(sa.sin_port);
}

struct Recorded {
  std::string method, target, error_type, body;
};

// Hands out `events`, records what comes back, answers 500 to "next" once they are out.
class FakeRuntimeApi {
 public:
  explicit FakeRuntimeApi(std::deque<std::string> events) : events_(std::move(events)) {
    listener_ = listen_on("127.0.0.1:0");
    address_ = "127.0.0.1:" + std::to_string(port_of(listener_.get()));
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeRuntimeApi() {
    ::shutdown(listener_.get(), SHUT_RDWR);
    thread_.join();
  }
  const std::string& address() const { return address_; }
  std::vector<Recorded> recorded() {
    std::lock_guard lock(mu_);
    return recorded_;
  }

 private:
  void serve() {
    int n = 0;
    for (;;) {
      int fd = ::accept(listener_.get(), nullptr, nullptr);
      if (fd < 0) return;
      UniqueFd conn(fd);
      std::string rest;
      std::map<std::string, std::string> headers;
      std::string first = parse_http_head(read_http_head(conn.get(), rest), headers);
      std::size_t length =
          headers.count("content-length") ? std::stoul(headers["content-length"]) : 0;
      char buf[4096];
      while (rest.size() < length) {
        ssize_t r = ::recv(conn.get(), buf, sizeof buf, 0);
        if (r <= 0) break;
        rest.append(buf, static_cast<std::size_t>(r));
      }
      std::string method = first.substr(0, first.find(' '));
      std::string target = first.substr(first.find(' ') + 1);
      target = target.substr(0, target.find(' '));
      std::string answer;
      if (method == "GET") {
        std::lock_guard lock(mu_);
        if (events_.empty()) {
          answer = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n";
        } else {
          std::string e = events_.front();
          events_.pop_front();
          answer = "HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: req-" + std::to_string(n++) +
                   "\r\nTransfer-Encoding: chunked\r\n\r\n";
          // Chunked, in two pieces, as a Go server may answer.
          std::string a = e.substr(0, e.size() / 2), b = e.substr(e.size() / 2);
          auto chunk = [](const std::string& s) {
            char size[16];
            std::snprintf(size, sizeof size, "%zx", s.size());
            return std::string(size) + "\r\n" + s + "\r\n";
          };
          if (!a.empty()) answer += chunk(a);
          if (!b.empty()) answer += chunk(b);
          answer += "0\r\n\r\n";
        }
      } else {
        std::lock_guard lock(mu_);
        recorded_.push_back({method, target,
                             headers.count("lambda-runtime-function-error-type")
                                 ? headers["lambda-runtime-function-error-type"]
                                 : "",
                             rest.substr(0, length)});
        answer = "HTTP/1.1 202 Accepted\r\nContent-Length: 16\r\n\r\n{\"status\":\"OK\"}\n";
      }
      ::send(conn.get(), answer.data(), answer.size(), MSG_NOSIGNAL);
    }
  }

  std::mutex mu_;
  std::deque<std::string> events_;
  std::vector<Recorded> recorded_;
  UniqueFd listener_;
  std::string address_;
  std::thread thread_;
};

// "Runs" the command: upper-cases the event; "fail" exits 3 with a message.
InvocationResult fake_command(const Invocation& inv) {
  InvocationResult r;
  if (inv.event == "fail") {
    r.exit_code = 3;
    r.errors = "it failed\n";
    return r;
  }
  for (char c : inv.event)
    r.output.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  r.output += " (" + inv.id + ")";
  return r;
}

TEST(AgentFaas, LambdaLoopAnswersEachInvocation) {
  FakeRuntimeApi api({"{\"a\":1}", "hello", "fail"});
  int ran = run_lambda_loop(api.address(), fake_command);
  EXPECT_EQ(ran, 3);  // then "next" failed: the environment is ending
  auto rec = api.recorded();
  ASSERT_EQ(rec.size(), 3u);
  EXPECT_EQ(rec[0].target, "/2018-06-01/runtime/invocation/req-0/response");
  EXPECT_EQ(rec[0].body, "{\"A\":1} (req-0)");
  EXPECT_EQ(rec[1].body, "HELLO (req-1)");
  EXPECT_EQ(rec[2].target, "/2018-06-01/runtime/invocation/req-2/error");
  EXPECT_EQ(rec[2].error_type, "Unhandled");
  auto error = nlohmann::json::parse(rec[2].body);
  EXPECT_EQ(error["exitCode"], 3);
  EXPECT_EQ(error["errorType"], "Sockerless.ExitCode.3");
  EXPECT_NE(error["errorMessage"].get<std::string>().find("it failed"), std::string::npos);
}

TEST(AgentFaas, LambdaLoopStopsAtItsLimitAndWhenTheApiIsGone) {
  FakeRuntimeApi api({"a", "b", "c"});
  EXPECT_EQ(run_lambda_loop(api.address(), fake_command, 2), 2);
  EXPECT_EQ(run_lambda_loop("127.0.0.1:1", fake_command), 0);
}

TEST(AgentFaas, HttpInvocationsReturnOutputAndExitCode) {
  UniqueFd listener = listen_on("127.0.0.1:0");
  std::string address = "127.0.0.1:" + std::to_string(port_of(listener.get()));
  int raw = listener.get();
  std::thread server([raw] { serve_http_functions(raw, fake_command); });
  auto ok = http_call(address, "POST", "/", "payload");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "PAYLOAD ()");
  EXPECT_EQ(ok.headers["x-sockerless-exit-code"], "0");
  auto bad = http_call(address, "POST", "/run", "fail");
  EXPECT_EQ(bad.status, 500);
  EXPECT_EQ(bad.body, "it failed\n");
  EXPECT_EQ(bad.headers["x-sockerless-exit-code"], "3");
  ::shutdown(raw, SHUT_RDWR);
  server.join();
}

}  // namespace
}  // namespace sockerless::agent
