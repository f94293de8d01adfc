#include "engine/agent_client.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <thread>

#include "agent/link.h"
#include "agent/wire.h"
#include "api/mux.h"
#include "common/errors.h"

namespace sockerless::engine {

using nlohmann::json;

namespace {

[[noreturn]] void throw_kind(const std::string& kind, const std::string& message) {
  if (kind == "invalid") throw InvalidArgument(message);
  if (kind == "forbidden") throw Forbidden(message);
  if (kind == "not_found") throw NotFound(message);
  if (kind == "conflict") throw Conflict(message);
  if (kind == "unsupported") throw NotImplemented(message);
  throw Internal(message);
}

}  // namespace

PathStat path_stat_from_json(const json& j) {
  PathStat st;
  st.name = j.value("name", "");
  st.size = j.value("size", std::int64_t{0});
  st.mode = j.value("mode", std::uint32_t{0});
  st.mtime = j.value("mtime", "");
  st.link_target = j.value("linkTarget", "");
  return st;
}

// ---------------------------------------------------------------- AgentConnection

class AgentConnection : public std::enable_shared_from_this<AgentConnection> {
 public:
  struct Event {
    bool data = false;
    std::uint8_t stream = 0;
    std::string payload;
    json control;
  };

  struct Session {
    std::uint32_t id = 0;
    agent::Window window;  // credit for what we send (stdin, uploads)
    std::mutex mu;
    std::condition_variable cv;
    std::deque<Event> events;
    bool ended = false;

    // The next event; after the connection dropped, an error event saying so.
    Event next() {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return !events.empty() || ended; });
      if (events.empty())
        return {false, 0, "", json{{"type", "error"}, {"kind", "internal"}, {"message", why}}};
      Event e = std::move(events.front());
      events.pop_front();
      return e;
    }
    void push(Event e) {
      {
        std::lock_guard lock(mu);
        events.push_back(std::move(e));
      }
      cv.notify_all();
    }
    void end(const std::string& reason) {
      {
        std::lock_guard lock(mu);
        ended = true;
        why = reason;
      }
      cv.notify_all();
      window.close();
    }
    std::string why;
  };

  // Serves an upgraded connection: the hello exchange (within 10 s), then a reading thread.
  static std::shared_ptr<AgentConnection> start(UniqueFd fd, bool client, std::string leftover,
                                                const std::string& container) {
    timeval tv{10, 0};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int raw = fd.get();
    auto c = std::shared_ptr<AgentConnection>(
        new AgentConnection(std::move(fd), client, std::move(leftover), container));
    c->link_.send_json(agent::hello("daemon", {}));
    auto first = c->link_.read();
    if (!first || first->binary)
      throw Unavailable("the agent of container " + container + " did not say hello" +
                        (first ? "" : " (" + c->link_.end_reason() + ")"));
    try {
      auto h = json::parse(first->payload, nullptr, false);
      agent::negotiate(h);
      if (h.contains("capabilities") && h["capabilities"].is_array())
        for (const auto& cap : h["capabilities"])
          if (cap.is_string()) c->capabilities_.insert(cap.get<std::string>());
    } catch (const agent::ProtocolError& e) {
      c->link_.close(1002, e.what());
      throw Unavailable("the agent of container " + container + ": " + e.what());
    }
    tv = {0, 0};
    ::setsockopt(raw, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::thread([c] { c->read_loop(); }).detach();
    return c;
  }

  bool alive() const { return !link_.closed(); }
  void close() { link_.close(1000, "done"); }
  void require(const std::string& capability, const std::string& op) {
    if (!capabilities_.count(capability))
      throw NotImplemented(op + " is not supported by the agent of container " + container_);
  }

  std::shared_ptr<Session> open(json request) {
    auto s = std::make_shared<Session>();
    {
      std::lock_guard lock(mu_);
      if (dropped_) throw Unavailable(dropped_message());
      do {
        s->id = ++next_id_;
      } while (s->id == 0 || sessions_.count(s->id));
      sessions_[s->id] = s;
    }
    request["session"] = s->id;
    if (!link_.send_json(request)) {
      close_session(s->id);
      throw Unavailable(dropped_message());
    }
    return s;
  }

  void close_session(std::uint32_t id) {
    std::lock_guard lock(mu_);
    sessions_.erase(id);
  }

  void send(json message) { link_.send_json(message); }

  void grant(std::uint32_t session, std::uint8_t stream, std::size_t n) {
    link_.send_json({{"type", "window"}, {"session", session}, {"stream", stream}, {"bytes", n}});
  }

  // Sends data on a session's stream, waiting for the agent's credit.
  bool send_data(Session& s, std::uint8_t stream, std::string_view data) {
    while (!data.empty()) {
      std::size_t n = s.window.take(std::min(data.size(), agent::kChunk));
      if (n == 0) return false;
      if (!link_.send_data(stream, s.id, data.substr(0, n))) return false;
      data.remove_prefix(n);
    }
    return true;
  }

  const std::string& container() const { return container_; }

 private:
  AgentConnection(UniqueFd fd, bool client, std::string leftover, std::string container)
      : link_(std::move(fd), client, std::move(leftover)), container_(std::move(container)) {}

  std::string dropped_message() const {
    return "the connection to the agent of container " + container_ + " dropped (" +
           link_.end_reason() + ")";
  }

  std::shared_ptr<Session> find(std::uint32_t id) {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(id);
    return it == sessions_.end() ? nullptr : it->second;
  }

  void read_loop() {
    while (auto m = link_.read()) {
      try {
        if (m->binary) {
          auto d = agent::parse_data(m->payload);
          if (auto s = find(d.session)) s->push({true, d.stream, std::string(d.payload), {}});
        } else {
          json j = json::parse(m->payload);
          std::uint32_t id = j.value("session", 0u);
          auto s = find(id);
          if (!s) continue;
          if (j.value("type", "") == "window") {
            s->window.grant(j.value("bytes", std::size_t{0}));
          } else {
            s->push({false, 0, "", std::move(j)});
          }
        }
      } catch (const std::exception& e) {
        link_.close(1002, std::string("protocol error: ") + e.what());
        break;
      }
    }
    std::map<std::uint32_t, std::shared_ptr<Session>> sessions;
    {
      std::lock_guard lock(mu_);
      dropped_ = true;
      sessions.swap(sessions_);
    }
    for (auto& [id, s] : sessions)
      s->end(dropped_message());
  }

  agent::Link link_;
  std::string container_;
  std::set<std::string> capabilities_;
  std::mutex mu_;
  std::map<std::uint32_t, std::shared_ptr<Session>> sessions_;
  std::uint32_t next_id_ = 0;
  bool dropped_ = false;
};

// ---------------------------------------------------------------- AgentClients

AgentClients::AgentClients(std::chrono::milliseconds reverse_wait) : reverse_wait_(reverse_wait) {}

AgentClients::~AgentClients() {
  std::lock_guard lock(mu_);
  for (auto& [id, c] : connections_)
    c->close();
}

void AgentClients::expect(const std::string& container, const std::string& token) {
  std::lock_guard lock(mu_);
  tokens_[container] = token;
}

bool AgentClients::accepts(const std::string& container, const std::string& token) const {
  std::lock_guard lock(mu_);
  auto it = tokens_.find(container);
  // Compared whatever the outcome of the lookup, so timing tells nothing either way.
  return agent::same_token(it == tokens_.end() ? std::string(32, '\0') : it->second, token) &&
         it != tokens_.end();
}

void AgentClients::adopt(const std::string& container, UniqueFd fd, std::string leftover) {
  auto c = AgentConnection::start(std::move(fd), false, std::move(leftover), container);
  std::shared_ptr<AgentConnection> old;
  {
    std::lock_guard lock(mu_);
    auto& slot = connections_[container];
    old = std::move(slot);
    slot = c;
  }
  cv_.notify_all();
  if (old) old->close();
}

void AgentClients::forget(const std::string& container) {
  std::shared_ptr<AgentConnection> c;
  {
    std::lock_guard lock(mu_);
    tokens_.erase(container);
    if (auto it = connections_.find(container); it != connections_.end()) {
      c = std::move(it->second);
      connections_.erase(it);
    }
  }
  if (c) c->close();
}

std::shared_ptr<AgentConnection> AgentClients::connection(const AgentEndpoint& ep) {
  auto deadline = std::chrono::steady_clock::now() + reverse_wait_;
  if (ep.address.empty()) {
    std::unique_lock lock(mu_);
    bool up = cv_.wait_until(lock, deadline, [&] {
      auto it = connections_.find(ep.container);
      return it != connections_.end() && it->second->alive();
    });
    if (!up)
      throw Unavailable("the agent of container " + ep.container + " has not connected (waited " +
                        std::to_string(reverse_wait_.count() / 1000.0).substr(0, 4) + " s)");
    return connections_[ep.container];
  }
  // Forward: one dialer at a time, so that concurrent first operations share a connection.
  std::lock_guard dialing(dial_mu_);
  {
    std::lock_guard lock(mu_);
    auto it = connections_.find(ep.container);
    if (it != connections_.end() && it->second->alive()) return it->second;
  }
  // Dial, retrying while the agent is still coming up.
  std::string last;
  for (;;) {
    try {
      UniqueFd fd = agent::dial(ep.address);
      std::string rest =
          agent::client_handshake(fd.get(), "localhost", agent::kAgentPath, ep.token);
      auto c = AgentConnection::start(std::move(fd), true, std::move(rest), ep.container);
      std::lock_guard lock(mu_);
      connections_[ep.container] = c;
      return c;
    } catch (const agent::HandshakeError& e) {
      if (e.status() == 401)
        throw Unavailable("the agent of container " + ep.container + " refused our token");
      last = e.what();
    } catch (const std::runtime_error& e) {
      last = e.what();
    }
    if (std::chrono::steady_clock::now() >= deadline)
      throw Unavailable("cannot reach the agent of container " + ep.container + ": " + last);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

namespace {

void send_frame(int fd, api::StreamType type, std::string_view payload) {
  std::string out;
  api::append_frame(out, type, payload);
  agent::send_all(fd, out);
}

// Copies raw bytes from `fd` to a session's stream until EOF, then says eof.
void pump_input(const std::shared_ptr<AgentConnection>& c,
                const std::shared_ptr<AgentConnection::Session>& s, int fd, std::uint8_t stream) {
  char buf[agent::kChunk];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (!c->send_data(*s, stream, std::string_view(buf, static_cast<std::size_t>(n)))) return;
  }
  c->send({{"type", "eof"}, {"session", s->id}, {"stream", stream}});
}

}  // namespace

UniqueFd AgentClients::exec(const AgentEndpoint& ep, const ExecLaunch& l) {
  auto c = connection(ep);
  c->require("exec", "exec");
  auto s = c->open({{"type", "exec"},
                    {"argv", l.argv},
                    {"env", l.env},
                    {"workdir", l.working_dir},
                    {"user", l.user},
                    {"tty", l.tty},
                    {"privileged", l.privileged},
                    {"height", l.height},
                    {"width", l.width},
                    {"stdin", l.attach_stdin}});
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    throw Internal(std::string("socketpair: ") + std::strerror(errno));
  auto ours = std::make_shared<UniqueFd>(sv[0]);
  UniqueFd theirs(sv[1]);
  {
    std::lock_guard lock(execs_->mu);
    execs_->by_id[l.id] = {c, s->id};
  }
  if (l.attach_stdin)
    std::thread([c, s, ours] { pump_input(c, s, ours->get(), agent::kStdin); }).detach();
  std::thread([execs = execs_, c, s, ours, exec_id = l.id] {
    int fd = ours->get();
    for (;;) {
      auto e = s->next();
      if (e.data) {
        send_frame(fd, static_cast<api::StreamType>(e.stream), e.payload);
        c->grant(s->id, e.stream, e.payload.size());
        continue;
      }
      std::string type = e.control.value("type", "");
      if (type == "started") {
        send_frame(fd, api::StreamType::System, json{{"Pid", e.control.value("pid", 0)}}.dump());
      } else if (type == "exit") {
        json done = {{"ExitCode", e.control.value("code", 0)}};
        if (e.control.contains("error")) done["Error"] = e.control["error"];
        send_frame(fd, api::StreamType::System, done.dump());
        break;
      } else if (type == "error") {
        send_frame(fd, api::StreamType::System,
                   json{{"ExitCode", 126}, {"Error", e.control.value("message", "")}}.dump());
        break;
      }
    }
    c->close_session(s->id);
    s->end("the exec ended");
    {
      std::lock_guard lock(execs->mu);
      execs->by_id.erase(exec_id);
    }
    ::shutdown(fd, SHUT_RDWR);
  }).detach();
  return theirs;
}

void AgentClients::resize_exec(const std::string& exec_id, int height, int width) {
  ExecRef ref;
  {
    std::lock_guard lock(execs_->mu);
    auto it = execs_->by_id.find(exec_id);
    if (it == execs_->by_id.end()) return;
    ref = it->second;
  }
  if (auto c = ref.connection.lock()) {
    auto s = c->open({{"type", "resize"},
                      {"target", std::to_string(ref.session)},
                      {"height", height},
                      {"width", width}});
    c->close_session(s->id);  // answered with done; nothing waits for it
  }
}

UniqueFd AgentClients::attach(const AgentEndpoint& ep, bool in, bool out, bool err, bool tty,
                              bool stdin_once) {
  auto c = connection(ep);
  c->require("attach", "attach");
  auto s = c->open({{"type", "attach"},
                    {"stdin", in},
                    {"stdout", out},
                    {"stderr", err},
                    {"stdin_once", stdin_once},
                    {"replay", 0}});
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    throw Internal(std::string("socketpair: ") + std::strerror(errno));
  auto ours = std::make_shared<UniqueFd>(sv[0]);
  UniqueFd theirs(sv[1]);
  if (in) std::thread([c, s, ours] { pump_input(c, s, ours->get(), agent::kStdin); }).detach();
  std::thread([c, s, ours, tty] {
    int fd = ours->get();
    for (;;) {
      auto e = s->next();
      if (e.data) {
        if (tty) {
          agent::send_all(fd, e.payload);
        } else {
          send_frame(fd, static_cast<api::StreamType>(e.stream), e.payload);
        }
        c->grant(s->id, e.stream, e.payload.size());
        continue;
      }
      std::string type = e.control.value("type", "");
      if (type == "exit" || type == "error") break;
    }
    c->close_session(s->id);
    s->end("the attach ended");
    ::shutdown(fd, SHUT_RDWR);
  }).detach();
  return theirs;
}

namespace {

// Waits for the end of a one-shot session: `done`, or an error thrown with its kind.
json await_done(AgentConnection::Session& s) {
  for (;;) {
    auto e = s.next();
    if (e.data) continue;
    std::string type = e.control.value("type", "");
    if (type == "done") return e.control;
    if (type == "error")
      throw_kind(e.control.value("kind", "internal"), e.control.value("message", ""));
  }
}

}  // namespace

void AgentClients::resize(const AgentEndpoint& ep, int height, int width) {
  auto c = connection(ep);
  auto s = c->open({{"type", "resize"}, {"target", "main"}, {"height", height}, {"width", width}});
  await_done(*s);
  c->close_session(s->id);
}

void AgentClients::signal(const AgentEndpoint& ep, int sig) {
  auto c = connection(ep);
  auto s = c->open({{"type", "signal"}, {"target", "main"}, {"signal", sig}});
  await_done(*s);
  c->close_session(s->id);
}

Backend::TopTable AgentClients::top(const AgentEndpoint& ep, const std::string& ps_args) {
  if (!ps_args.empty() && ps_args != "-ef")
    throw NotImplemented("top with ps options (" + ps_args +
                         ") is not supported for containers under an agent: only ps -ef's table");
  auto c = connection(ep);
  c->require("top", "top");
  auto s = c->open({{"type", "top"}});
  Backend::TopTable table;
  table.first = {"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"};
  for (;;) {
    auto e = s->next();
    std::string type = e.control.value("type", "");
    if (type == "top") {
      for (const auto& p : e.control.value("processes", json::array()))
        table.second.push_back({p.value("user", ""), std::to_string(p.value("pid", 0)),
                                std::to_string(p.value("ppid", 0)), std::to_string(p.value("c", 0)),
                                p.value("stime", ""), p.value("tty", "?"), p.value("time", ""),
                                p.value("cmd", "")});
    } else if (type == "done") {
      break;
    } else if (type == "error") {
      c->close_session(s->id);
      throw_kind(e.control.value("kind", "internal"), e.control.value("message", ""));
    }
  }
  c->close_session(s->id);
  return table;
}

PathStat AgentClients::archive_stat(const AgentEndpoint& ep, const ContainerLaunch& l,
                                    const std::string& path) {
  auto c = connection(ep);
  c->require("archive", "docker cp");
  auto s = c->open({{"type", "stat"}, {"path", path}, {"container", l.name}});
  PathStat st;
  for (;;) {
    auto e = s->next();
    std::string type = e.control.value("type", "");
    if (type == "stat") st = path_stat_from_json(e.control);
    if (type == "done") break;
    if (type == "error") {
      c->close_session(s->id);
      throw_kind(e.control.value("kind", "internal"), e.control.value("message", ""));
    }
  }
  c->close_session(s->id);
  return st;
}

UniqueFd AgentClients::archive_get(const AgentEndpoint& ep, const ContainerLaunch& l,
                                   const std::string& path, PathStat& stat) {
  auto c = connection(ep);
  c->require("archive", "docker cp");
  auto s = c->open({{"type", "get_archive"}, {"path", path}, {"container", l.name}});
  for (;;) {
    auto e = s->next();
    std::string type = e.control.value("type", "");
    if (type == "stat") {
      stat = path_stat_from_json(e.control);
      break;
    }
    if (type == "error") {
      c->close_session(s->id);
      throw_kind(e.control.value("kind", "internal"), e.control.value("message", ""));
    }
  }
  int p[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) != 0)
    throw Internal(std::string("socketpair: ") + std::strerror(errno));
  UniqueFd r(p[0]);
  std::thread([c, s, w = p[1]] {
    UniqueFd out(w);
    bool writing = true;
    for (;;) {
      auto e = s->next();
      if (e.data) {
        if (writing) writing = agent::send_all(out.get(), e.payload);
        c->grant(s->id, e.stream, e.payload.size());
        continue;
      }
      std::string type = e.control.value("type", "");
      if (type == "done" || type == "error") break;
    }
    c->close_session(s->id);
  }).detach();
  return r;
}

void AgentClients::archive_put(const AgentEndpoint& ep, const ContainerLaunch& l,
                               const std::string& dir, int tar_fd, bool no_overwrite_dir_non_dir,
                               bool copy_uid_gid) {
  auto c = connection(ep);
  c->require("archive", "docker cp");
  json mounts = json::array();
  for (const auto& m : l.mounts)
    mounts.push_back({{"target", m.target}, {"type", m.type}, {"readonly", m.readonly}});
  auto s = c->open({{"type", "put_archive"},
                    {"path", dir},
                    {"container", l.name},
                    {"no_overwrite_dir_non_dir", no_overwrite_dir_non_dir},
                    {"copy_uid_gid", copy_uid_gid},
                    {"user", l.user},
                    {"mounts", mounts},
                    {"readonly_rootfs", l.readonly_rootfs}});
  pump_input(c, s, tar_fd, agent::kArchive);
  try {
    await_done(*s);
  } catch (...) {
    c->close_session(s->id);
    throw;
  }
  c->close_session(s->id);
}

}  // namespace sockerless::engine
