// Exec routes: create, start (hijacked or detached), resize, inspect.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>
#include <thread>

#include "api/detach_keys.h"
#include "api/mux.h"
#include "api/respond.h"
#include "common/errors.h"
#include "engine/engine.h"
#include "engine/execs.h"
#include "image/credentials.h"
#include "routes/docker_api.h"

namespace sockerless::routes {
namespace {

using nlohmann::json;

http::RouteTarget on_worker(http::Handler h) {
  return http::RouteTarget{std::move(h), http::Execution::Blocking, http::BodyMode::Buffered};
}

bool send_all(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    s.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Relays between the client and the exec's connection until the process is done or the
// client detaches: output frames pass through (stdout only on a raw stream), System frames
// update the record. True on a detach: the connection is then left in `conn`, with what was
// read of it in `decoder`, to be drained while the process runs on.
bool relay(engine::Engine& engine, const std::string& id, int client, UniqueFd& conn,
           api::MuxDecoder& decoder, bool raw, bool with_stdin, const std::string& detach_keys) {
  api::DetachScanner keys(detach_keys);
  bool client_open = with_stdin;
  if (!with_stdin) ::shutdown(conn.get(), SHUT_WR);
  int code = -1;
  char buf[32 * 1024];
  for (;;) {
    pollfd fds[2] = {{conn.get(), POLLIN, 0}, {client_open ? client : -1, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::read(conn.get(), buf, sizeof buf);
      if (n <= 0) break;
      for (auto& f : decoder.feed(std::string_view(buf, static_cast<std::size_t>(n)))) {
        if (f.type == api::StreamType::System) {
          auto doc = json::parse(f.payload, nullptr, false);
          if (!doc.is_object()) continue;
          if (doc.contains("Pid")) engine.execs().on_pid(id, doc["Pid"].get<int>());
          if (doc.contains("ExitCode")) {
            code = doc["ExitCode"].get<int>();
            if (doc.contains("Error")) {
              std::string text = doc["Error"].get<std::string>() + "\r\n";
              std::string framed;
              if (!raw) api::append_frame(framed, api::StreamType::Stdout, text);
              send_all(client, raw ? text : framed);
            }
          }
          continue;
        }
        // dockerd gives a raw stream no stderr: a process without a terminal loses it.
        if (raw && f.type == api::StreamType::Stderr) continue;
        std::string framed;
        if (!raw) api::append_frame(framed, f.type, f.payload);
        if (!send_all(client, raw ? std::string_view(f.payload) : std::string_view(framed))) {
          client_open = false;
        }
      }
    }
    if (client_open && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t n = ::read(client, buf, sizeof buf);
      if (n <= 0) {
        ::shutdown(conn.get(), SHUT_WR);
        client_open = false;
        continue;
      }
      bool detached = false;
      std::string data = keys.feed(std::string_view(buf, static_cast<std::size_t>(n)), detached);
      if (!data.empty() && !send_all(conn.get(), data)) client_open = false;
      if (detached) return true;
    }
  }
  engine.execs().on_exit(id, code < 0 ? 126 : code);
  return false;
}

void drain_in_background(engine::Engine& engine, const std::string& id, UniqueFd conn,
                         api::MuxDecoder decoder = {}) {
  std::thread([&engine, id, c = std::make_shared<UniqueFd>(std::move(conn)),
               decoder = std::move(decoder)]() mutable {
    engine.execs().drain(id, std::move(*c), nullptr, std::move(decoder));
  }).detach();
}

void create(engine::Engine& engine, http::Request& req, http::Responder& out) {
  json body = api::parse_body(req.body, nullptr);
  if (!body.is_object()) throw InvalidArgument("invalid JSON: the body must be an object");
  std::string id = engine.execs().create(req.param("id"), body);
  out.send(api::json_response(201, {{"Id", id}}));
}

void start(engine::Engine& engine, http::Request& req, http::Responder& out) {
  json body = api::parse_body(req.body);
  std::string id = req.param("id");
  auto record = engine.execs().get(id);
  bool detach = body.value("Detach", false);
  // As dockerd: the start's Tty (false when left out) only says whether the stream is raw
  // or multiplexed; whether the process has a terminal was settled by the create.
  bool raw = body.contains("Tty") && body["Tty"].is_boolean() && body["Tty"].get<bool>();
  int h = 0, w = 0;
  if (body.contains("ConsoleSize") && body["ConsoleSize"].is_array() &&
      body["ConsoleSize"].size() == 2) {
    h = body["ConsoleSize"][0].get<int>();
    w = body["ConsoleSize"][1].get<int>();
  }
  UniqueFd conn = engine.execs().start(id, h, w);
  if (detach) {
    ::shutdown(conn.get(), SHUT_WR);  // no stdin
    drain_in_background(engine, id, std::move(conn));
    out.send(http::Response::empty(200));
    return;
  }
  UniqueFd client = out.hijack(
      std::string(raw || req.api_before(1, 42) ? api::kRawStream : api::kMultiplexedStream));
  // dockerd watches for the detach keys only on a terminal with stdin attached.
  std::string keys;
  if (record.tty && record.attach_stdin)
    keys = api::parse_detach_keys(record.detach_keys).value_or("");
  api::MuxDecoder decoder;
  if (relay(engine, id, client.get(), conn, decoder, raw, record.attach_stdin, keys)) {
    engine.execs().on_detach(id);
    drain_in_background(engine, id, std::move(conn), std::move(decoder));
  }
}

json inspect(const engine::ExecRecord& r) {
  json args = json::array();
  for (std::size_t i = 1; i < r.argv.size(); ++i)
    args.push_back(r.argv[i]);
  return {{"CanRemove", false},
          {"ContainerID", r.container_id},
          // As dockerd: the bytes of the keys given (none by default), in base64.
          {"DetachKeys",
           image::base64_encode(
               r.detach_keys.empty() ? "" : api::parse_detach_keys(r.detach_keys).value_or(""))},
          {"ExitCode", r.exit_code ? json(*r.exit_code) : json(nullptr)},
          {"ID", r.id},
          {"OpenStderr", r.attach_stderr},
          {"OpenStdin", r.attach_stdin},
          {"OpenStdout", r.attach_stdout},
          {"ProcessConfig",
           {{"arguments", args},
            {"entrypoint", r.argv.empty() ? "" : r.argv[0]},
            {"privileged", r.privileged},
            {"tty", r.tty},
            {"user", r.user}}},
          {"Running", r.running},
          {"Pid", r.pid}};
}

}  // namespace

void add_exec_routes(http::Router& router, engine::Engine& engine) {
  router.add("POST", "/containers/{id*}/exec",
             on_worker([&engine](http::Request& r, http::Responder& o) {
               engine.require(engine::Capability::Exec, "exec");
               create(engine, r, o);
             }));
  router.add("POST", "/exec/{id}/start",
             on_worker([&engine](http::Request& r, http::Responder& o) { start(engine, r, o); }));
  router.add(
      "POST", "/exec/{id}/resize", on_worker([&engine](http::Request& r, http::Responder& o) {
        engine.execs().resize(r.param("id"), std::atoi(r.query.get("h").value_or("0").c_str()),
                              std::atoi(r.query.get("w").value_or("0").c_str()));
        o.send(http::Response::empty(200));
      }));
  router.add("GET", "/exec/{id}/json", on_worker([&engine](http::Request& r, http::Responder& o) {
               o.send(api::json_response(200, inspect(engine.execs().get(r.param("id")))));
             }));
}

}  // namespace sockerless::routes
