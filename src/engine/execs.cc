#include "engine/execs.h"

#include <sys/socket.h>
#include <unistd.h>

#include "api/mux.h"
#include "common/errors.h"
#include "common/ids.h"
#include "engine/containers.h"

namespace sockerless::engine {

using nlohmann::json;

namespace {

std::string command_text(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv)
    out += (out.empty() ? "" : " ") + a;
  return out;
}

void publish(EventBus& events, const Container& c, const std::string& action,
             std::map<std::string, std::string> extra = {}) {
  Event e;
  e.type = "container";
  e.action = action;
  e.actor_id = c.id;
  e.attributes = {{"image", c.image_ref}, {"name", c.name}};
  for (auto& [k, v] : extra)
    e.attributes[k] = v;
  events.publish(std::move(e));
}

}  // namespace

Execs::Execs(Containers& containers, Backend& backend, EventBus& events)
    : containers_(containers), backend_(backend), events_(events) {}

std::string Execs::create(const std::string& container_ref, const json& body) {
  Container c = containers_.get(container_ref);
  if (!c.running()) throw Conflict("Container " + c.id + " is not running");
  if (c.state.status == "paused")
    throw Conflict("Container " + c.id + " is paused, unpause the container before exec");
  if (!body.contains("Cmd") || !body["Cmd"].is_array() || body["Cmd"].empty())
    throw InvalidArgument("No exec command specified");
  ExecRecord r;
  r.id = generate_id();
  r.container_id = c.id;
  for (const auto& a : body["Cmd"])
    r.argv.push_back(a.get<std::string>());
  // The container's environment, then the exec's own (which wins).
  std::vector<std::string> env;
  for (const auto& e : c.config.value("Env", json::array()))
    env.push_back(e.get<std::string>());
  if (body.contains("Env") && body["Env"].is_array())
    for (const auto& e : body["Env"]) {
      std::string kv = e.get<std::string>();
      std::string key = kv.substr(0, kv.find('='));
      std::erase_if(env, [&](const std::string& x) { return x.substr(0, x.find('=')) == key; });
      env.push_back(kv);
    }
  r.env = env;
  r.user = body.value("User", "");
  if (r.user.empty()) r.user = c.config.value("User", "");
  r.working_dir = body.value("WorkingDir", "");
  if (r.working_dir.empty()) r.working_dir = c.config.value("WorkingDir", "");
  r.detach_keys = body.value("DetachKeys", "");
  r.tty = body.value("Tty", false);
  r.privileged = body.value("Privileged", false);
  r.attach_stdin = body.value("AttachStdin", false);
  r.attach_stdout = body.value("AttachStdout", false);
  r.attach_stderr = body.value("AttachStderr", false);
  if (body.contains("ConsoleSize") && body["ConsoleSize"].is_array() &&
      body["ConsoleSize"].size() == 2) {
    r.height = body["ConsoleSize"][0].get<int>();
    r.width = body["ConsoleSize"][1].get<int>();
  }
  {
    std::lock_guard lock(mu_);
    execs_[r.id] = r;
  }
  publish(events_, c, "exec_create: " + command_text(r.argv), {{"execID", r.id}});
  return r.id;
}

ExecRecord Execs::get(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = execs_.find(id);
  if (it == execs_.end()) throw NotFound("No such exec instance: " + id);
  return it->second;
}

UniqueFd Execs::start(const std::string& id, std::optional<bool> tty, int height, int width) {
  ExecRecord r;
  {
    std::lock_guard lock(mu_);
    auto it = execs_.find(id);
    if (it == execs_.end()) throw NotFound("No such exec instance: " + id);
    if (it->second.started) throw Conflict("Error: Exec command " + id + " is already running");
    if (tty) it->second.tty = *tty;
    if (height > 0 && width > 0) {
      it->second.height = height;
      it->second.width = width;
    }
    it->second.started = true;
    it->second.running = true;
    r = it->second;
  }
  Container c = containers_.get(r.container_id);
  if (!c.running()) {
    std::lock_guard lock(mu_);
    execs_[id].running = false;
    throw Conflict("Container " + c.id + " is not running");
  }
  ExecLaunch l;
  l.id = r.id;
  l.argv = r.argv;
  l.env = r.env;
  l.working_dir = r.working_dir;
  l.user = r.user;
  l.tty = r.tty;
  l.privileged = r.privileged;
  l.attach_stdin = r.attach_stdin;
  l.height = r.height;
  l.width = r.width;
  UniqueFd conn = backend_.exec(c.id, l);
  publish(events_, c, "exec_start: " + command_text(r.argv), {{"execID", r.id}});
  return conn;
}

void Execs::on_pid(const std::string& id, int pid) {
  std::lock_guard lock(mu_);
  if (auto it = execs_.find(id); it != execs_.end()) it->second.pid = pid;
}

void Execs::on_exit(const std::string& id, int exit_code) {
  ExecRecord r;
  {
    std::lock_guard lock(mu_);
    auto it = execs_.find(id);
    if (it == execs_.end()) return;
    it->second.running = false;
    it->second.exit_code = exit_code;
    r = it->second;
  }
  try {
    publish(events_, containers_.get(r.container_id), "exec_die",
            {{"execID", r.id}, {"exitCode", std::to_string(exit_code)}});
  } catch (const NotFound&) {
  }
}

void Execs::resize(const std::string& id, int height, int width) {
  ExecRecord r = get(id);
  if (!r.running) throw Conflict("Exec " + id + " is not running");
  backend_.resize_exec(r.container_id, id, height, width);
}

void Execs::forget_container(const std::string& container_id) {
  std::lock_guard lock(mu_);
  std::erase_if(execs_, [&](const auto& kv) { return kv.second.container_id == container_id; });
}

int Execs::drain(const std::string& id, UniqueFd conn, std::string* output) {
  ::shutdown(conn.get(), SHUT_WR);
  api::MuxDecoder decoder;
  int code = -1;
  char buf[16 * 1024];
  for (;;) {
    ssize_t n = ::read(conn.get(), buf, sizeof buf);
    if (n <= 0) break;
    for (auto& f : decoder.feed(std::string_view(buf, static_cast<std::size_t>(n)))) {
      if (f.type == api::StreamType::System) {
        auto doc = json::parse(f.payload, nullptr, false);
        if (doc.is_object() && doc.contains("Pid")) on_pid(id, doc["Pid"].get<int>());
        if (doc.is_object() && doc.contains("ExitCode")) {
          code = doc["ExitCode"].get<int>();
          if (output && doc.contains("Error")) *output += doc["Error"].get<std::string>();
        }
      } else if (output && output->size() < 4096) {
        *output += f.payload;
      }
    }
  }
  if (code < 0) code = 126;
  on_exit(id, code);
  return code;
}

}  // namespace sockerless::engine
