// The agent protocol's wire pieces and the Link over a real socket pair.
#include <signal.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <thread>

#include "agent/link.h"
#include "agent/wire.h"

namespace sockerless::agent {
namespace {

using nlohmann::json;

TEST(AgentWire, AcceptValueIsTheRfcExample) {
  // RFC 6455 section 1.3.
  EXPECT_EQ(websocket_accept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  EXPECT_EQ(base64(""), "");
  EXPECT_EQ(base64("f"), "Zg==");
  EXPECT_EQ(base64("fo"), "Zm8=");
  EXPECT_EQ(base64("foo"), "Zm9v");
  auto d = sha1("abc");
  EXPECT_EQ(d[0], 0xa9);
  EXPECT_EQ(d[19], 0x9d);
}

TEST(AgentWire, FramesRoundTripAtEveryLengthClass) {
  for (std::size_t n : {0ul, 1ul, 125ul, 126ul, 65535ul, 65536ul, 300000ul}) {
    std::string payload(n, 'x');
    for (bool masked : {false, true}) {
      std::optional<std::array<std::uint8_t, 4>> mask;
      if (masked) mask = std::array<std::uint8_t, 4>{1, 2, 3, 4};
      std::string frame = encode_frame(Opcode::Binary, payload, true, mask);
      auto h = parse_frame_header(frame);
      ASSERT_TRUE(h) << n;
      EXPECT_EQ(h->length, n);
      EXPECT_EQ(h->masked, masked);
      EXPECT_EQ(h->op, Opcode::Binary);
      std::string body = frame.substr(h->header_size);
      if (masked) {
        EXPECT_NE(body, payload.empty() ? "?" : payload);
        unmask(body, h->mask);
      }
      EXPECT_EQ(body, payload);
      // Every prefix of the header is "not yet".
      for (std::size_t cut = 0; cut < h->header_size; ++cut)
        EXPECT_FALSE(parse_frame_header(frame.substr(0, cut)));
    }
  }
}

TEST(AgentWire, ForbiddenFramesAreRefused) {
  std::string reserved = encode_frame(Opcode::Text, "x");
  reserved[0] = static_cast<char>(reserved[0] | 0x40);
  EXPECT_THROW(parse_frame_header(reserved), ProtocolError);
  std::string op = encode_frame(Opcode::Text, "x");
  op[0] = static_cast<char>(0x83);
  EXPECT_THROW(parse_frame_header(op), ProtocolError);
  EXPECT_THROW(parse_frame_header(encode_frame(Opcode::Ping, std::string(126, 'p'))),
               ProtocolError);
  EXPECT_THROW(parse_frame_header(encode_frame(Opcode::Close, "", false)), ProtocolError);
  EXPECT_THROW(parse_frame_header(encode_frame(Opcode::Binary, std::string(100, 'b')), 99),
               ProtocolError);
}

TEST(AgentWire, DataHeaderCarriesStreamAndSession) {
  std::string m = data_header(kStderr, 0x01020304) + "payload";
  auto d = parse_data(m);
  EXPECT_EQ(d.stream, kStderr);
  EXPECT_EQ(d.session, 0x01020304u);
  EXPECT_EQ(d.payload, "payload");
  EXPECT_THROW(parse_data("abc"), ProtocolError);
  EXPECT_THROW(parse_data(data_header(7, 1) + "x"), ProtocolError);
}

TEST(AgentWire, HelloNegotiatesTheHighestCommonVersion) {
  json h = hello("agent", {"exec"}, "c1");
  EXPECT_EQ(h["type"], "hello");
  EXPECT_EQ(h["container"], "c1");
  EXPECT_EQ(negotiate(h), 1);
  EXPECT_EQ(negotiate(json{{"type", "hello"}, {"versions", {1, 2, 3}}}, {1, 2}), 2);
  try {
    negotiate(json{{"type", "hello"}, {"versions", {7}}});
    FAIL();
  } catch (const ProtocolError& e) {
    EXPECT_NE(std::string(e.what()).find("ours [1], theirs [7]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(negotiate(json{{"type", "exec"}}), ProtocolError);
}

TEST(AgentWire, ErrorKindsMapToStatuses) {
  for (int status : {400, 403, 404, 409, 500, 501})
    EXPECT_EQ(status_of_kind(kind_of_status(status)), status);
  EXPECT_EQ(kind_of_status(502), "internal");
  EXPECT_EQ(status_of_kind("whatever"), 500);
}

TEST(AgentWire, SignalsByNameAndNumber) {
  EXPECT_EQ(parse_signal("SIGTERM"), SIGTERM);
  EXPECT_EQ(parse_signal("term"), SIGTERM);
  EXPECT_EQ(parse_signal("KILL"), SIGKILL);
  EXPECT_EQ(parse_signal("9"), 9);
  EXPECT_EQ(parse_signal("SIGRTMIN"), SIGRTMIN);
  EXPECT_EQ(parse_signal("RTMIN+3"), SIGRTMIN + 3);
  EXPECT_EQ(parse_signal("SIGRTMAX-1"), SIGRTMAX - 1);
  EXPECT_FALSE(parse_signal("0"));
  EXPECT_FALSE(parse_signal("65"));
  EXPECT_FALSE(parse_signal("SIGNOPE"));
  EXPECT_FALSE(parse_signal(""));
  EXPECT_FALSE(parse_signal("RTMIN+99"));
}

TEST(AgentWire, TokensCompareWhole) {
  EXPECT_TRUE(same_token("abc", "abc"));
  EXPECT_FALSE(same_token("abc", "abd"));
  EXPECT_FALSE(same_token("abc", "abcd"));
  EXPECT_FALSE(same_token("", ""));
}

TEST(AgentWire, QueryParametersAndUrls) {
  EXPECT_EQ(query_param("/x?container=abc&y=1", "container"), "abc");
  EXPECT_EQ(query_param("/x?a=%2Fp", "a"), "/p");
  EXPECT_EQ(query_param("/x", "a"), "");
  auto u = parse_url("ws://127.0.0.1:9/p?q=1");
  EXPECT_EQ(u.address, "127.0.0.1:9");
  EXPECT_EQ(u.target, "/p?q=1");
  auto v = parse_url("ws+unix://%2Frun%2Fd.sock/internal/v1/agent/connect?container=c");
  EXPECT_EQ(v.address, "unix:/run/d.sock");
  EXPECT_EQ(v.target, "/internal/v1/agent/connect?container=c");
  auto w = parse_url("wss://daemon.example/internal");
  EXPECT_TRUE(w.tls);
  EXPECT_EQ(w.address, "daemon.example:443");
  EXPECT_EQ(w.hostname, "daemon.example");
  auto w6 = parse_url("wss://[::1]:8443/x");
  EXPECT_EQ(w6.address, "[::1]:8443");
  EXPECT_EQ(w6.hostname, "::1");
  EXPECT_FALSE(u.tls);
  EXPECT_THROW(parse_url("http://x/"), std::invalid_argument);
}

// Two ends of one connection, after the handshake.
struct Pair {
  Pair() {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    client = std::make_unique<Link>(UniqueFd(sv[0]), true);
    server = std::make_unique<Link>(UniqueFd(sv[1]), false);
  }
  std::unique_ptr<Link> client, server;
};

TEST(AgentLink, MessagesBothWaysAndPingsAnsweredByTheReader) {
  Pair p;
  ASSERT_TRUE(p.client->send_json({{"type", "hello"}}));
  ASSERT_TRUE(p.client->ping());
  ASSERT_TRUE(p.client->send_data(kStdin, 5, std::string(200000, 'z')));
  auto m1 = p.server->read();
  ASSERT_TRUE(m1);
  EXPECT_FALSE(m1->binary);
  EXPECT_EQ(json::parse(m1->payload)["type"], "hello");
  auto m2 = p.server->read();  // the ping was answered on the way
  ASSERT_TRUE(m2);
  EXPECT_TRUE(m2->binary);
  auto d = parse_data(m2->payload);
  EXPECT_EQ(d.session, 5u);
  EXPECT_EQ(d.payload.size(), 200000u);
  ASSERT_TRUE(p.server->send_data(kStdout, 5, "out"));
  auto back = p.client->read();  // the pong is skipped
  ASSERT_TRUE(back);
  EXPECT_EQ(parse_data(back->payload).payload, "out");
}

TEST(AgentLink, FragmentedMessagesAreJoined) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  Link server(UniqueFd(sv[1]), false);
  std::array<std::uint8_t, 4> mask{9, 8, 7, 6};
  std::string wire = encode_frame(Opcode::Text, "{\"a\":", false, mask) +
                     encode_frame(Opcode::Ping, "p", true, mask) +
                     encode_frame(Opcode::Continuation, "1}", true, mask);
  ASSERT_EQ(::write(sv[0], wire.data(), wire.size()), static_cast<ssize_t>(wire.size()));
  auto m = server.read();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->payload, "{\"a\":1}");
  ::close(sv[0]);
}

TEST(AgentLink, AnUnmaskedClientFrameEndsTheConnection) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  Link server(UniqueFd(sv[1]), false);
  std::string wire = encode_frame(Opcode::Text, "x");
  ASSERT_EQ(::write(sv[0], wire.data(), wire.size()), static_cast<ssize_t>(wire.size()));
  EXPECT_FALSE(server.read());
  EXPECT_TRUE(server.closed());
  EXPECT_NE(server.end_reason().find("unmasked"), std::string::npos);
  ::close(sv[0]);
}

TEST(AgentLink, CloseUnblocksTheReaderAndEndsThePeer) {
  Pair p;
  std::thread reader([&] { EXPECT_FALSE(p.server->read()); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  p.server->close(1000, "bye");
  reader.join();
  EXPECT_FALSE(p.client->read());
  EXPECT_NE(p.client->end_reason().find("bye"), std::string::npos);
  EXPECT_FALSE(p.server->send_json({{"type", "x"}}));
}

TEST(AgentLink, HandshakeChecksTheToken) {
  for (bool right : {true, false}) {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    UniqueFd a(sv[0]), b(sv[1]);
    std::thread server([&] {
      try {
        server_handshake(b.get(), kAgentPath, "secret");
      } catch (const HandshakeError&) {
      }
    });
    if (right) {
      EXPECT_NO_THROW(client_handshake(a.get(), "localhost", kAgentPath, "secret"));
    } else {
      try {
        client_handshake(a.get(), "localhost", kAgentPath, "secreT");
        ADD_FAILURE() << "a wrong token was accepted";
      } catch (const HandshakeError& e) {
        EXPECT_EQ(e.status(), 401);
        EXPECT_NE(std::string(e.what()).find("token"), std::string::npos) << e.what();
      }
    }
    server.join();
  }
}

TEST(AgentLink, WindowsBlockUntilGrantedAndCloseReleases) {
  Window w(10);
  EXPECT_EQ(w.take(4), 4u);
  EXPECT_EQ(w.take(100), 6u);
  std::atomic<std::size_t> got{0};
  std::thread t([&] { got = w.take(5); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(got, 0u);
  w.grant(3);
  t.join();
  EXPECT_EQ(got, 3u);
  std::thread t2([&] { got = w.take(5); });
  w.close();
  t2.join();
  EXPECT_EQ(got, 0u);
}

}  // namespace
}  // namespace sockerless::agent
