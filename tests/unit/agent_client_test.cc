// The daemon's agent client against an agent of our own making (the real one is exercised
// by the integration suites in --agent-mode): the Backend contract on the exec socket,
// sessions multiplexed on one connection, tokens, and connections that drop or never come.
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "agent/link.h"
#include "agent/wire.h"
#include "common/errors.h"
#include "engine/agent_client.h"

namespace sockerless::engine {
namespace {

using nlohmann::json;

struct Frame {
  int type;
  std::string payload;
};

// Docker's multiplexed frames read from an exec socket to its end.
std::vector<Frame> read_frames(int fd) {
  std::string all;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0)
    all.append(buf, static_cast<std::size_t>(n));
  std::vector<Frame> out;
  std::size_t at = 0;
  while (at + 8 <= all.size()) {
    std::uint32_t len = (std::uint32_t{static_cast<unsigned char>(all[at + 4])} << 24) |
                        (std::uint32_t{static_cast<unsigned char>(all[at + 5])} << 16) |
                        (std::uint32_t{static_cast<unsigned char>(all[at + 6])} << 8) |
                        static_cast<unsigned char>(all[at + 7]);
    out.push_back({all[at], all.substr(at + 8, len)});
    at += 8 + len;
  }
  return out;
}

// An agent listening on a unix socket; `on_message` answers each message it reads.
class FakeAgent {
 public:
  using Handler = std::function<void(agent::Link&, const json&)>;

  FakeAgent(std::string token, Handler handler, bool drop_after_first = false)
      : token_(std::move(token)), handler_(std::move(handler)), drop_(drop_after_first) {
    dir_ = std::filesystem::temp_directory_path() /
           ("agent-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    std::filesystem::create_directories(dir_);
    address_ = "unix:" + (dir_ / "agent.sock").string();
    listener_ = agent::listen_on(address_);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeAgent() {
    ::shutdown(listener_.get(), SHUT_RDWR);
    thread_.join();
    std::filesystem::remove_all(dir_);
  }
  const std::string& address() const { return address_; }
  int connections() const { return connections_; }

 private:
  void serve() {
    for (;;) {
      int fd = ::accept(listener_.get(), nullptr, nullptr);
      if (fd < 0) return;
      ++connections_;
      UniqueFd conn(fd);
      std::string rest;
      try {
        rest = agent::server_handshake(conn.get(), agent::kAgentPath, token_);
      } catch (const agent::HandshakeError&) {
        continue;
      }
      agent::Link link(std::move(conn), false, rest);
      link.send_json(agent::hello("agent", {"exec", "attach", "archive"}, "c1"));
      if (!link.read()) continue;  // the daemon's hello
      std::vector<std::thread> workers;
      while (auto m = link.read()) {
        if (m->binary) continue;
        json j = json::parse(m->payload);
        if (j["type"] == "window") continue;
        if (drop_) {
          link.close(1001, "going away");
          break;
        }
        workers.emplace_back([this, &link, j] { handler_(link, j); });
      }
      for (auto& w : workers)
        w.join();
    }
  }

  std::string token_;
  Handler handler_;
  bool drop_;
  std::filesystem::path dir_;
  std::string address_;
  UniqueFd listener_;
  std::thread thread_;
  std::atomic<int> connections_{0};
  static inline std::atomic<int> counter_{0};
};

// Runs every exec as "print argv[1] on stdout, exit with argv.size()".
void echo_exec(agent::Link& link, const json& j) {
  if (j["type"] != "exec") return;
  std::uint32_t s = j["session"];
  link.send_json({{"type", "started"}, {"session", s}, {"pid", 42}});
  link.send_data(agent::kStdout, s, j["argv"][1].get<std::string>());
  link.send_data(agent::kStderr, s, "e");
  link.send_json({{"type", "exit"}, {"session", s}, {"code", j["argv"].size()}});
}

ExecLaunch exec_of(std::vector<std::string> argv, const std::string& id = "e1") {
  ExecLaunch l;
  l.id = id;
  l.argv = std::move(argv);
  return l;
}

TEST(AgentClient, ExecKeepsTheBackendContract) {
  FakeAgent fake("tok", echo_exec);
  AgentClients clients;
  AgentEndpoint ep{"c1", "tok", fake.address()};
  UniqueFd fd = clients.exec(ep, exec_of({"echo", "hello", "x"}));
  auto frames = read_frames(fd.get());
  ASSERT_EQ(frames.size(), 4u);
  EXPECT_EQ(frames[0].type, 3);
  EXPECT_EQ(json::parse(frames[0].payload)["Pid"], 42);
  EXPECT_EQ(frames[1].type, 1);
  EXPECT_EQ(frames[1].payload, "hello");
  EXPECT_EQ(frames[2].type, 2);
  EXPECT_EQ(frames[3].type, 3);
  EXPECT_EQ(json::parse(frames[3].payload)["ExitCode"], 3);
}

TEST(AgentClient, FiftyConcurrentExecsShareOneConnection) {
  FakeAgent fake("tok", echo_exec);
  AgentClients clients;
  AgentEndpoint ep{"c1", "tok", fake.address()};
  std::vector<std::thread> threads;
  std::atomic<int> right{0};
  for (int i = 0; i < 50; ++i)
    threads.emplace_back([&, i] {
      std::string word = "w" + std::to_string(i);
      UniqueFd fd = clients.exec(ep, exec_of({"echo", word}, "exec" + std::to_string(i)));
      auto frames = read_frames(fd.get());
      if (frames.size() == 4 && frames[1].payload == word &&
          json::parse(frames[3].payload)["ExitCode"] == 2)
        ++right;
    });
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(right, 50);
  EXPECT_EQ(fake.connections(), 1);
}

TEST(AgentClient, AWrongTokenIsRefused) {
  FakeAgent fake("right", echo_exec);
  AgentClients clients(std::chrono::milliseconds(500));
  AgentEndpoint ep{"c1", "wrong", fake.address()};
  try {
    clients.exec(ep, exec_of({"echo", "x"}));
    FAIL() << "the exec ran with a wrong token";
  } catch (const Unavailable& e) {
    EXPECT_NE(std::string(e.what()).find("refused our token"), std::string::npos) << e.what();
  }
}

TEST(AgentClient, ADroppedConnectionEndsItsSessionsWithAnError) {
  FakeAgent fake("tok", echo_exec, /*drop_after_first=*/true);
  AgentClients clients;
  AgentEndpoint ep{"c1", "tok", fake.address()};
  auto start = std::chrono::steady_clock::now();
  UniqueFd fd = clients.exec(ep, exec_of({"sleep", "100"}));
  auto frames = read_frames(fd.get());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  ASSERT_FALSE(frames.empty());
  auto last = json::parse(frames.back().payload);
  EXPECT_EQ(last["ExitCode"], 126);
  EXPECT_NE(last["Error"].get<std::string>().find("dropped"), std::string::npos) << last.dump();
}

TEST(AgentClient, AReverseAgentThatNeverDialsIsWaitedForThenUnavailable) {
  AgentClients clients(std::chrono::milliseconds(200));
  clients.expect("c9", "tok");
  EXPECT_TRUE(clients.accepts("c9", "tok"));
  EXPECT_FALSE(clients.accepts("c9", "tok2"));
  EXPECT_FALSE(clients.accepts("c8", "tok"));
  AgentEndpoint ep{"c9", "tok", ""};
  try {
    clients.exec(ep, exec_of({"true", "x"}));
    FAIL();
  } catch (const Unavailable& e) {
    EXPECT_NE(std::string(e.what()).find("has not connected"), std::string::npos) << e.what();
  }
}

TEST(AgentClient, AReverseAgentIsAdoptedAndUsed) {
  AgentClients clients;
  clients.expect("c1", "tok");
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  // The agent's end: it dialed, so it is the WebSocket client.
  std::thread agent_side([fd = sv[1]] {
    agent::Link link(UniqueFd(fd), true);
    link.send_json(agent::hello("agent", {"exec"}, "c1"));
    link.read();
    while (auto m = link.read()) {
      if (m->binary) continue;
      json j = json::parse(m->payload);
      if (j["type"] == "exec") {
        echo_exec(link, j);
        break;
      }
    }
    link.read();  // until the daemon closes
  });
  std::thread adopt([&] { clients.adopt("c1", UniqueFd(sv[0]), ""); });
  AgentEndpoint ep{"c1", "tok", ""};
  UniqueFd fd = clients.exec(ep, exec_of({"echo", "via-reverse"}));
  auto frames = read_frames(fd.get());
  adopt.join();
  ASSERT_EQ(frames.size(), 4u);
  EXPECT_EQ(frames[1].payload, "via-reverse");
  clients.forget("c1");
  agent_side.join();
}

TEST(AgentClient, ArchiveErrorsKeepTheirKind) {
  FakeAgent fake("tok", [](agent::Link& link, const json& j) {
    link.send_json({{"type", "error"},
                    {"session", j["session"]},
                    {"kind", "not_found"},
                    {"message", "Could not find the file /x in container c1"}});
  });
  AgentClients clients;
  AgentEndpoint ep{"c1", "tok", fake.address()};
  ContainerLaunch l;
  l.name = "c1";
  EXPECT_THROW(clients.archive_stat(ep, l, "/x"), NotFound);
}

}  // namespace
}  // namespace sockerless::engine
