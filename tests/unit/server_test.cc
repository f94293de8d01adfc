#include "http/server.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <thread>

#include "common/errors.h"
#include "http/router.h"
#include "raw_client.h"

namespace sockerless::http {
namespace {

using test_support::RawClient;

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("sockerless-server-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "s.sock").string();
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }
  void start() {
    ServerHooks hooks;
    hooks.resolve = [this](Request& req) {
      auto m = router_.match(req.method, req.path);
      if (!m.route)
        return RouteTarget{[](Request&, Responder& r) { r.send(Response::text(404, "nope")); },
                           Execution::Inline, BodyMode::Buffered};
      req.params = m.params;
      req.route = m.route->pattern;
      return m.route->target;
    };
    hooks.error_response = [](std::exception_ptr e) {
      try {
        std::rethrow_exception(e);
      } catch (const InvalidArgument& ex) {
        return Response::text(400, ex.what());
      } catch (const std::exception& ex) {
        return Response::text(500, ex.what());
      }
    };
    hooks.default_headers.set("Api-Version", "1.44");
    server_ = std::make_unique<Server>(std::move(hooks), 2);
    server_->listen(ListenerOptions{"unix://" + path_, std::nullopt});
    server_->start();
  }

  std::filesystem::path dir_;
  std::string path_;
  Router router_;
  std::unique_ptr<Server> server_;
};

TEST_F(ServerTest, KeepAliveAndDefaultHeaders) {
  router_.add("GET", "/hello",
              {[](Request& req, Responder& r) {
                 r.send(Response::text(200, "hi " + req.query.get("n").value_or("")));
               },
               Execution::Inline, BodyMode::Buffered});
  start();
  RawClient c(path_);
  c.send("GET /hello?n=1 HTTP/1.1\r\nHost: x\r\n\r\nGET /hello?n=2 HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string first = c.read_until("hi 1");
  EXPECT_NE(first.find("HTTP/1.1 200 OK"), std::string::npos);
  EXPECT_NE(first.find("Api-Version: 1.44"), std::string::npos);
  EXPECT_NE(first.find("Content-Length: 4"), std::string::npos);
  std::string second = c.read_until("hi 2");
  EXPECT_NE(second.find("hi 2"), std::string::npos);
}

TEST_F(ServerTest, ChunkedRequestBodyIsBuffered) {
  router_.add(
      "POST", "/echo",
      {[](Request& req, Responder& r) { r.send(Response::text(200, "[" + req.body + "]")); },
       Execution::Blocking, BodyMode::Buffered});
  start();
  RawClient c(path_);
  c.send(
      "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
      "chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
  EXPECT_NE(c.read_until("]").find("[abcde]"), std::string::npos);
}

TEST_F(ServerTest, StreamedResponseIsChunked) {
  router_.add("GET", "/stream",
              {[](Request&, Responder& r) {
                 auto s = r.stream(200, {});
                 s.write("first\n");
                 std::this_thread::sleep_for(std::chrono::milliseconds(20));
                 s.write("second\n");
               },
               Execution::Blocking, BodyMode::Buffered});
  router_.add("GET", "/after",
              {[](Request&, Responder& r) { r.send(Response::text(200, "after")); },
               Execution::Inline, BodyMode::Buffered});
  start();
  RawClient c(path_);
  c.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string out = c.read_until("0\r\n\r\n");
  EXPECT_NE(out.find("Transfer-Encoding: chunked"), std::string::npos);
  EXPECT_NE(out.find("6\r\nfirst\n\r\n"), std::string::npos);
  EXPECT_NE(out.find("7\r\nsecond\n\r\n"), std::string::npos);
  // The connection stays usable after a stream ends.
  c.send("GET /after HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(c.read_until("after").find("200 OK"), std::string::npos);
}

TEST_F(ServerTest, StreamingHandlerSeesClientLeave) {
  std::promise<bool> saw;
  router_.add("GET", "/wait",
              {[&saw](Request&, Responder& r) {
                 auto s = r.stream(200, {});
                 saw.set_value(s.wait_client_gone(10000));
               },
               Execution::Blocking, BodyMode::Buffered});
  start();
  {
    RawClient c(path_);
    c.send("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n");
    c.read_until("\r\n\r\n");
  }
  auto f = saw.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_TRUE(f.get());
}

TEST_F(ServerTest, HijackUpgradesAndHalfCloses) {
  router_.add("POST", "/attach",
              {[](Request&, Responder& r) {
                 UniqueFd io = r.hijack("application/vnd.docker.raw-stream");
                 test_support::shout_back(io.get());
               },
               Execution::Blocking, BodyMode::Buffered});
  start();
  RawClient c(path_);
  c.send(
      "POST /attach HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: "
      "0\r\n\r\nearly");
  std::string head = c.read_until("\r\n\r\n");
  EXPECT_NE(head.find("HTTP/1.1 101 UPGRADED"), std::string::npos);
  EXPECT_NE(head.find("Content-Type: application/vnd.docker.raw-stream"), std::string::npos);
  EXPECT_NE(head.find("Upgrade: tcp"), std::string::npos);
  EXPECT_EQ(c.read_until("EARLY"), "EARLY");  // bytes sent along with the request
  c.send("late");
  EXPECT_EQ(c.read_until("LATE"), "LATE");
  c.half_close();  // the handler sees EOF on its side and answers
  EXPECT_EQ(c.read_to_eof(), "bye");
  EXPECT_TRUE(c.eof());
}

// A client's WebSocket frame: final, masked (as RFC 6455 requires of clients), short.
std::string client_frame(unsigned opcode, const std::string& payload) {
  const unsigned char mask[4] = {0x11, 0x22, 0x33, 0x44};
  std::string f;
  f += static_cast<char>(0x80 | opcode);
  f += static_cast<char>(0x80 | payload.size());
  f.append(reinterpret_cast<const char*>(mask), 4);
  for (std::size_t i = 0; i < payload.size(); ++i)
    f += static_cast<char>(payload[i] ^ mask[i % 4]);
  return f;
}

struct ServerFrame {
  unsigned opcode = 0;
  std::string payload;
};

// Reads one unmasked, short server frame.
ServerFrame read_server_frame(RawClient& c) {
  std::string head = c.read_exact(2);
  if (head.size() < 2) return {};
  ServerFrame f;
  f.opcode = static_cast<unsigned char>(head[0]) & 0x0f;
  f.payload = c.read_exact(static_cast<unsigned char>(head[1]) & 0x7f);
  return f;
}

constexpr const char* kWebSocketHandshake =
    "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

TEST_F(ServerTest, WebSocketCarriesMessagesAndEndsOnClientClose) {
  std::promise<void> handler_saw_eof;
  router_.add("GET", "/ws",
              {[&handler_saw_eof](Request&, Responder& r) {
                 UniqueFd io = r.websocket(WebSocketMessages::Binary);
                 char buf[256];
                 ssize_t n;
                 while ((n = ::read(io.get(), buf, sizeof buf)) > 0) {
                   for (ssize_t i = 0; i < n; ++i)
                     buf[i] = static_cast<char>(std::toupper(buf[i]));
                   (void)!::write(io.get(), buf, static_cast<std::size_t>(n));
                 }
                 handler_saw_eof.set_value();
               },
               Execution::Blocking, BodyMode::Buffered});
  start();
  RawClient c(path_);
  c.send(kWebSocketHandshake);
  std::string head = c.read_until("\r\n\r\n");
  EXPECT_NE(head.find("HTTP/1.1 101"), std::string::npos) << head;
  // RFC 6455's own example key and answer.
  EXPECT_NE(head.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), std::string::npos);
  EXPECT_NE(head.find("Api-Version: 1.44"), std::string::npos);  // the server's own fields
  c.send(client_frame(0x1, "hello"));                            // text in, binary out
  ServerFrame echo = read_server_frame(c);
  EXPECT_EQ(echo.opcode, 0x2u);
  EXPECT_EQ(echo.payload, "HELLO");
  c.send(client_frame(0x8, std::string("\x03\xe8", 2)));  // close, 1000
  ServerFrame close = read_server_frame(c);
  EXPECT_EQ(close.opcode, 0x8u);
  // The handler hears of the close while the client still holds the connection open.
  auto f = handler_saw_eof.get_future();
  EXPECT_EQ(f.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(c.read_to_eof(), "");
  EXPECT_TRUE(c.eof());
}

TEST_F(ServerTest, WebSocketClosesWhenHandlerDoes) {
  router_.add("GET", "/ws",
              {[](Request&, Responder& r) {
                 UniqueFd io = r.websocket(WebSocketMessages::Text);
                 (void)!::write(io.get(), "bye", 3);
               },
               Execution::Blocking, BodyMode::Buffered});
  start();
  RawClient c(path_);
  c.send(kWebSocketHandshake);
  EXPECT_NE(c.read_until("\r\n\r\n").find("HTTP/1.1 101"), std::string::npos);
  ServerFrame text = read_server_frame(c);
  EXPECT_EQ(text.opcode, 0x1u);
  EXPECT_EQ(text.payload, "bye");
  ServerFrame close = read_server_frame(c);
  EXPECT_EQ(close.opcode, 0x8u);
  EXPECT_EQ(close.payload, std::string("\x03\xe8", 2));  // normal closure
  c.send(client_frame(0x8, std::string("\x03\xe8", 2)));
  EXPECT_EQ(c.read_to_eof(), "");
  EXPECT_TRUE(c.eof());
}

TEST_F(ServerTest, WebSocketHangsUpOnClientThatIgnoresTheClose) {
  router_.add("GET", "/ws",
              {[](Request&, Responder& r) { r.websocket(WebSocketMessages::Binary); },
               Execution::Blocking, BodyMode::Buffered});
  start();
  RawClient c(path_);
  c.send(kWebSocketHandshake);
  EXPECT_NE(c.read_until("\r\n\r\n").find("HTTP/1.1 101"), std::string::npos);
  EXPECT_EQ(read_server_frame(c).opcode, 0x8u);
  auto asked = std::chrono::steady_clock::now();
  EXPECT_EQ(c.read_to_eof(10000), "");  // no answer from us: the server gives up
  EXPECT_TRUE(c.eof());
  EXPECT_LT(std::chrono::steady_clock::now() - asked, std::chrono::seconds(5));
}

TEST_F(ServerTest, WebSocketRefusesPlainRequest) {
  router_.add("GET", "/ws",
              {[](Request&, Responder& r) { r.websocket(WebSocketMessages::Binary); },
               Execution::Blocking, BodyMode::Buffered});
  start();
  RawClient c(path_);
  c.send("GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
  std::string out = c.read_until("not websocket protocol");
  EXPECT_NE(out.find("HTTP/1.1 400"), std::string::npos) << out;
}

TEST_F(ServerTest, StreamedRequestBody) {
  router_.add("PUT", "/upload",
              {[](Request& req, Responder& r) {
                 std::size_t total = 0;
                 char buf[4096];
                 ssize_t n;
                 while ((n = ::read(req.body_fd.get(), buf, sizeof buf)) > 0)
                   total += static_cast<std::size_t>(n);
                 r.send(Response::text(200, "got " + std::to_string(total)));
               },
               Execution::Blocking, BodyMode::Streamed});
  start();
  RawClient c(path_);
  std::string body(300000, 'z');
  c.send("PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n");
  c.send(body);
  EXPECT_NE(c.read_until("got 300000").find("got 300000"), std::string::npos);
  c.send("PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
  EXPECT_NE(c.read_until("got 3").find("got 3"), std::string::npos);
}

TEST_F(ServerTest, HandlerExceptionBecomesErrorResponse) {
  router_.add("GET", "/boom",
              {[](Request&, Responder&) { throw std::runtime_error("kaput"); }, Execution::Blocking,
               BodyMode::Buffered});
  start();
  RawClient c(path_);
  c.send("GET /boom HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string out = c.read_until("kaput");
  EXPECT_NE(out.find("HTTP/1.1 500"), std::string::npos);
}

TEST_F(ServerTest, RefusesSocketOfLiveServer) {
  start();
  Server second(ServerHooks{}, 1);
  try {
    second.listen(ListenerOptions{"unix://" + path_, std::nullopt});
    FAIL() << "a second server took a live socket";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("already listening"), std::string::npos);
  }
}

TEST_F(ServerTest, StopRemovesSocketFile) {
  start();
  EXPECT_TRUE(std::filesystem::exists(path_));
  server_->stop(std::chrono::milliseconds(100));
  server_.reset();
  EXPECT_FALSE(std::filesystem::exists(path_));
}

}  // namespace
}  // namespace sockerless::http
