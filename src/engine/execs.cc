#include "engine/execs.h"

#include <sys/socket.h>
#include <unistd.h>

#include <set>

#include "api/detach_keys.h"
#include "api/mux.h"
#include "common/errors.h"
#include "common/ids.h"
#include "engine/container_entry.h"
#include "engine/containers.h"
#include "engine/links.h"
#include "store/database.h"

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

Execs::Execs(store::Database& db, Containers& containers, Backend& backend, EventBus& events)
    : db_(db), containers_(containers), backend_(backend), events_(events) {
  std::set<std::string> orphans;  // containers removed in a run that crashed
  {
    auto lock = db_.lock();
    auto s = db_.prepare("SELECT doc FROM execs");
    while (s.step()) {
      ExecRecord r = from_json(json::parse(s.text(0)));  // not running: no one follows it
      execs_[r.id] = std::move(r);
    }
  }
  std::set<std::string> present;
  for (const auto& [id, r] : execs_) {
    if (present.count(r.container_id) || orphans.count(r.container_id)) continue;
    try {
      containers_.get(r.container_id);
      present.insert(r.container_id);
    } catch (const NotFound&) {
      orphans.insert(r.container_id);
    }
  }
  for (const auto& container_id : orphans)
    forget_container(container_id);
}

json Execs::to_json(const ExecRecord& r) {
  json d = {{"id", r.id},
            {"container_id", r.container_id},
            {"argv", r.argv},
            {"env", r.env},
            {"user", r.user},
            {"working_dir", r.working_dir},
            {"detach_keys", r.detach_keys},
            {"tty", r.tty},
            {"privileged", r.privileged},
            {"attach_stdin", r.attach_stdin},
            {"attach_stdout", r.attach_stdout},
            {"attach_stderr", r.attach_stderr},
            {"height", r.height},
            {"width", r.width},
            {"started", r.started},
            {"pid", r.pid}};
  if (r.exit_code) d["exit_code"] = *r.exit_code;
  return d;
}

ExecRecord Execs::from_json(const json& d) {
  ExecRecord r;
  r.id = d.value("id", "");
  r.container_id = d.value("container_id", "");
  r.argv = d.value("argv", std::vector<std::string>{});
  r.env = d.value("env", std::vector<std::string>{});
  r.user = d.value("user", "");
  r.working_dir = d.value("working_dir", "");
  r.detach_keys = d.value("detach_keys", "");
  r.tty = d.value("tty", false);
  r.privileged = d.value("privileged", false);
  r.attach_stdin = d.value("attach_stdin", false);
  r.attach_stdout = d.value("attach_stdout", false);
  r.attach_stderr = d.value("attach_stderr", false);
  r.height = d.value("height", 0);
  r.width = d.value("width", 0);
  r.started = d.value("started", false);
  r.pid = d.value("pid", 0);
  if (d.contains("exit_code") && d["exit_code"].is_number())
    r.exit_code = d["exit_code"].get<int>();
  return r;
}

// With mu_ held.
void Execs::persist(const ExecRecord& r) {
  db_.transaction([&] {
    auto s = db_.prepare("INSERT OR REPLACE INTO execs (id, container_id, doc) VALUES (?, ?, ?)");
    s.bind(1, r.id);
    s.bind(2, r.container_id);
    s.bind(3, to_json(r).dump());
    s.run();
  });
}

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
  // The container's environment (with the exec's terminal), then the exec's own (which wins).
  r.env = replace_or_append_env(process_environment(c.config, body.value("Tty", false)),
                                string_array(body, "Env"));
  r.user = body.value("User", "");
  if (r.user.empty()) r.user = c.config.value("User", "");
  r.working_dir = body.value("WorkingDir", "");
  if (r.working_dir.empty()) r.working_dir = c.config.value("WorkingDir", "");
  r.detach_keys = body.value("DetachKeys", "");
  if (!r.detach_keys.empty() && !api::parse_detach_keys(r.detach_keys))
    throw Internal("Invalid escape keys (" + r.detach_keys + ") provided");
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
    persist(r);
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

std::vector<std::string> Execs::live_ids(const std::string& container_id) const {
  std::lock_guard lock(mu_);
  std::vector<std::string> ids;
  for (const auto& [id, r] : execs_)
    if (r.container_id == container_id && !r.exit_code && (r.running || !r.started))
      ids.push_back(id);
  return ids;
}

UniqueFd Execs::start(const std::string& id, int height, int width) {
  ExecRecord r;
  {
    std::lock_guard lock(mu_);
    auto it = execs_.find(id);
    if (it == execs_.end()) throw NotFound("No such exec instance: " + id);
    if (it->second.started) throw Conflict("Error: Exec command " + id + " is already running");
    if (height > 0 && width > 0) {
      it->second.height = height;
      it->second.width = width;
    }
    it->second.started = true;
    it->second.running = true;
    persist(it->second);
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
    try {
      persist(r);
    } catch (const std::exception&) {
      // The exit is still known in memory; inspect shows it until the daemon restarts.
    }
  }
  try {
    publish(events_, containers_.get(r.container_id), "exec_die",
            {{"execID", r.id}, {"exitCode", std::to_string(exit_code)}});
  } catch (const NotFound&) {
  }
}

void Execs::on_detach(const std::string& id) {
  ExecRecord r = get(id);
  try {
    publish(events_, containers_.get(r.container_id), "exec_detach", {{"execID", r.id}});
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
  db_.transaction([&] {
    auto s = db_.prepare("DELETE FROM execs WHERE container_id = ?");
    s.bind(1, container_id);
    s.run();
  });
}

int Execs::drain(const std::string& id, UniqueFd conn, std::string* output,
                 api::MuxDecoder decoder) {
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
