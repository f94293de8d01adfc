// Container routes: create, list, inspect, start, stop, kill, restart, wait, delete,
// attach, logs, resize, rename.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <deque>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "api/detach_keys.h"
#include "api/filters.h"
#include "api/log_line.h"
#include "api/mux.h"
#include "api/respond.h"
#include "common/errors.h"
#include "common/time.h"
#include "engine/containers.h"
#include "engine/engine.h"
#include "engine/execs.h"
#include "engine/health.h"
#include "image/credentials.h"
#include "image/image_service.h"
#include "network/ipam.h"
#include "routes/docker_api.h"

namespace sockerless::routes {
namespace {

using engine::Container;
using nlohmann::json;

http::RouteTarget on_worker(http::Handler h) {
  return http::RouteTarget{std::move(h), http::Execution::Blocking, http::BodyMode::Buffered};
}

std::string time_text(std::int64_t nanos) {
  return nanos ? format_rfc3339_nano(from_unix_nanos(nanos)) : "0001-01-01T00:00:00Z";
}

std::string command_line(const Container& c) {
  std::string out;
  for (const auto& a : c.argv)
    out += (out.empty() ? "" : " ") + a;
  return out;
}

std::string status_text(const Container& c,
                        const std::optional<engine::Health>& health = std::nullopt) {
  auto now = unix_nanos(Clock::now());
  const auto& s = c.state;
  if (s.status == "running") {
    std::string up = "Up " + engine::human_duration(now - s.started_at);
    if (health)
      up += health->status == "starting" ? " (health: starting)" : " (" + health->status + ")";
    return up;
  }
  if (s.status == "paused") return "Up " + engine::human_duration(now - s.started_at) + " (Paused)";
  if (s.status == "restarting")
    return "Restarting (" + std::to_string(s.exit_code) + ") " +
           engine::human_duration(now - s.finished_at) + " ago";
  if (s.status == "exited")
    return "Exited (" + std::to_string(s.exit_code) + ") " +
           engine::human_duration(now - s.finished_at) + " ago";
  if (s.status == "removing") return "Removal In Progress";
  if (s.status == "dead") return "Dead";
  return "Created";
}

json mounts_json(const Container& c) {
  return engine::public_mounts(c.mounts);
}

// The container's endpoints as the API shows them: without what only the engine keeps
// (the MAC address asked for; MacAddress is the one in use).
json public_networks(const json& networks) {
  json out = networks;
  if (out.is_object())
    for (auto& [name, e] : out.items())
      if (e.is_object()) e.erase("DesiredMacAddress");
  return out;
}

// NetworkSettings: the endpoints, with the default bridge's also at the top level as
// dockerd shows them.
json network_settings(engine::Engine& engine, const Container& c) {
  json top = {{"Bridge", ""},
              {"SandboxID", ""},
              {"HairpinMode", false},
              {"LinkLocalIPv6Address", ""},
              {"LinkLocalIPv6PrefixLen", 0},
              {"Ports", c.ports},
              {"SandboxKey", ""},
              {"SecondaryIPAddresses", nullptr},
              {"SecondaryIPv6Addresses", nullptr},
              {"EndpointID", ""},
              {"Gateway", ""},
              {"GlobalIPv6Address", ""},
              {"GlobalIPv6PrefixLen", 0},
              {"IPAddress", ""},
              {"IPPrefixLen", 0},
              {"IPv6Gateway", ""},
              {"MacAddress", ""},
              {"Networks", public_networks(c.networks)}};
  bool wired = false;
  for (const auto& [name, e] : c.networks.items())
    if (!e.value("IPAddress", "").empty()) wired = true;
  if (wired) {
    top["SandboxID"] = c.id;
    top["SandboxKey"] = engine.options().data_root + "/netns/" + c.id;
  }
  if (c.networks.contains("bridge")) {
    const json& b = c.networks["bridge"];
    for (const char* k : {"EndpointID", "Gateway", "IPAddress", "IPPrefixLen", "MacAddress",
                          "IPv6Gateway", "GlobalIPv6Address", "GlobalIPv6PrefixLen"})
      if (b.contains(k)) top[k] = b[k];
  }
  return top;
}

json inspect_doc(engine::Engine& engine, const Container& c) {
  const auto& s = c.state;
  auto health = engine.health().health(c.id);
  std::string log_path = engine.backend().log_path(c.id);
  auto exec_ids = engine.execs().live_ids(c.id);
  json args = json::array();
  for (std::size_t i = 1; i < c.argv.size(); ++i)
    args.push_back(c.argv[i]);
  json doc = {
      {"Id", c.id},
      {"Created", time_text(c.created)},
      {"Path", c.argv.empty() ? "" : c.argv[0]},
      {"Args", args},
      {"State",
       {{"Status", s.status},
        {"Running", s.status == "running" || s.status == "paused"},
        {"Paused", s.status == "paused"},
        {"Restarting", s.status == "restarting"},
        {"OOMKilled", s.oom_killed},
        {"Dead", s.status == "dead"},
        {"Pid", s.pid},
        {"ExitCode", s.exit_code},
        {"Error", s.error},
        {"StartedAt", time_text(s.started_at)},
        {"FinishedAt", time_text(s.finished_at)}}},
      {"Image", c.image_id},
      {"ResolvConfPath", ""},
      {"HostnamePath", ""},
      {"HostsPath", ""},
      {"LogPath", log_path},
      {"Name", "/" + c.name},
      {"RestartCount", c.restart_count},
      {"Driver", engine.backend().describe().driver},
      {"Platform", "linux"},
      {"MountLabel", ""},
      {"ProcessLabel", ""},
      {"AppArmorProfile", ""},
      {"ExecIDs", exec_ids.empty() ? json(nullptr) : json(exec_ids)},
      {"HostConfig", c.host_config},
      {"GraphDriver", {{"Data", nullptr}, {"Name", engine.backend().describe().driver}}},
      {"Mounts", mounts_json(c)},
      {"Config", c.config},
      {"NetworkSettings", network_settings(engine, c)},
  };
  // Only a container with a healthcheck has State.Health, as with dockerd.
  if (health) doc["State"]["Health"] = health->to_json();
  return doc;
}

// Ports as docker ps lists them: one entry per published binding, or the bare port.
json port_list(const Container& c) {
  json out = json::array();
  for (const auto& [key, bindings] : c.ports.items()) {
    auto slash = key.find('/');
    int private_port = std::atoi(key.substr(0, slash).c_str());
    std::string type = slash == std::string::npos ? "tcp" : key.substr(slash + 1);
    if (!bindings.is_array() || bindings.empty()) {
      out.push_back({{"PrivatePort", private_port}, {"Type", type}});
      continue;
    }
    for (const auto& b : bindings)
      out.push_back({{"IP", b.value("HostIp", "")},
                     {"PrivatePort", private_port},
                     {"PublicPort", std::atoi(b.value("HostPort", "0").c_str())},
                     {"Type", type}});
  }
  return out;
}

// Built field by field (an initializer list would copy every value once more): the list
// of a thousand containers is mostly this.
// `link_names`: the names other containers' links give it ("/web/db"), listed after its own
// as dockerd lists them.
json list_item(const Container& c, const std::optional<engine::Health>& health,
               const std::vector<std::string>& link_names = {}) {
  json item = json::object();
  item["Id"] = c.id;
  item["Names"] = json::array({"/" + c.name});
  for (const auto& n : link_names)
    item["Names"].push_back(n);
  item["Image"] = c.image_ref;
  item["ImageID"] = c.image_id;
  item["Command"] = command_line(c);
  item["Created"] = c.created / 1'000'000'000;
  item["Ports"] = port_list(c);
  auto labels = c.config.find("Labels");
  item["Labels"] = labels != c.config.end() && labels->is_object() ? *labels : json::object();
  item["State"] = c.state.status;
  item["Status"] = status_text(c, health);
  json host = json::object();
  host["NetworkMode"] = c.host_config.value("NetworkMode", "default");
  item["HostConfig"] = std::move(host);
  json settings = json::object();
  settings["Networks"] = public_networks(c.networks);
  item["NetworkSettings"] = std::move(settings);
  item["Mounts"] = mounts_json(c);
  return item;
}

void list_containers(engine::Engine& engine, http::Request& req, http::Responder& out) {
  auto filters = api::Filters::parse(req.query.get("filters").value_or(""));
  filters.validate({"ancestor", "before", "expose", "exited", "health", "id", "isolation",
                    "is-task", "label", "name", "network", "publish", "since", "status", "volume"});
  bool all = req.query.get_bool("all");
  int limit = std::atoi(req.query.get("limit").value_or("-1").c_str());
  std::optional<std::int64_t> before, since;
  if (filters.has("before"))
    before = engine.containers().get(filters.values("before").front()).created;
  if (filters.has("since"))
    since = engine.containers().get(filters.values("since").front()).created;
  // Resolved first: the image store is not to be asked from inside visit().
  std::vector<std::pair<std::string, std::optional<std::string>>> ancestors;
  for (const auto& v : filters.values("ancestor"))
    ancestors.emplace_back(v, engine.images().store().find(v));
  // Which filters are given, looked up once rather than per container.
  const bool by_status = filters.has("status"), by_id = filters.has("id"),
             by_name = filters.has("name"), by_exited = filters.has("exited"),
             by_ancestor = filters.has("ancestor"), by_label = filters.has("label"),
             by_health = filters.has("health");
  // The names links give containers (few: legacy links are rare), by linked container.
  std::map<std::string, std::vector<std::string>> link_names;
  engine.containers().visit([&](const Container& c) {
    for (const auto& l : c.links)
      link_names[l.child_id].push_back(l.name);
  });
  for (auto& [id, names] : link_names)
    std::sort(names.begin(), names.end());
  // Each item is written out as soon as it is built: no document of the whole list.
  std::string body = "[";
  int listed = 0;
  engine.containers().visit([&](const Container& c) {
    if (limit > 0 && listed >= limit) return;
    bool running = c.running();
    if (!all && !running && !by_status && !by_exited && limit <= 0 && !before && !since) return;
    if (by_status && !filters.exact_match("status", c.state.status)) return;
    if (by_id) {
      bool ok = false;
      for (const auto& v : filters.values("id"))
        ok = ok || c.id.rfind(v, 0) == 0;
      if (!ok) return;
    }
    if (by_name) {
      bool ok = false;
      for (const auto& v : filters.values("name"))
        ok = ok || c.name.find(v[0] == '/' ? v.substr(1) : v) != std::string::npos;
      if (!ok) return;
    }
    if (by_exited) {
      if (c.state.status != "exited") return;
      if (!filters.exact_match("exited", std::to_string(c.state.exit_code))) return;
    }
    if (by_ancestor) {
      bool ok = false;
      for (const auto& [v, id] : ancestors)
        ok = ok || v == c.image_ref || (id && *id == c.image_id);
      if (!ok) return;
    }
    if (by_label) {
      std::map<std::string, std::string> labels;
      auto label_doc = c.config.find("Labels");
      if (label_doc != c.config.end() && label_doc->is_object())
        for (const auto& [k, v] : label_doc->items())
          labels[k] = v.is_string() ? v.get<std::string>() : v.dump();
      if (!filters.match_labels("label", labels)) return;
    }
    if (before && c.created >= *before) return;
    if (since && c.created <= *since) return;
    if (by_health) {
      auto h = engine.health().health(c.id);
      if (!filters.exact_match("health", h ? h->status : "none")) return;
    }
    if (listed++ > 0) body += ',';
    auto names = link_names.find(c.id);
    body += list_item(c, engine.health().health(c.id),
                      names == link_names.end() ? std::vector<std::string>{} : names->second)
                .dump(-1, ' ', false, json::error_handler_t::replace);
  });
  body += "]\n";
  out.send(http::Response::json(200, std::move(body)));
}

// Where the MAC address asked for goes. Before API 1.44 it is Config.MacAddress, for the
// primary network (an endpoint's own MacAddress was ignored); since then each endpoint's
// MacAddress, Config.MacAddress going to the primary network's when that has none. From
// 1.44 a bad one is refused here; dockerd 20.10 took it and failed the start.
void place_mac_addresses(json& body, bool before_1_44) {
  json* endpoints = nullptr;
  if (body.contains("NetworkingConfig") && body["NetworkingConfig"].is_object()) {
    json& nc = body["NetworkingConfig"];
    if (nc.contains("EndpointsConfig") && nc["EndpointsConfig"].is_object())
      endpoints = &nc["EndpointsConfig"];
  }
  if (before_1_44 && endpoints)
    for (auto& [name, e] : endpoints->items())
      if (e.is_object()) e.erase("MacAddress");
  std::string mac =
      body.value("MacAddress", json("")).is_string() ? body.value("MacAddress", "") : std::string();
  std::string mode = "default";
  if (body.contains("HostConfig") && body["HostConfig"].is_object())
    mode = body["HostConfig"].value("NetworkMode", json("")).is_string()
               ? body["HostConfig"].value("NetworkMode", "")
               : std::string();
  if (mode.empty()) mode = "default";
  if (!mac.empty() && mode != "host" && mode != "none" && mode.rfind("container:", 0) != 0) {
    if (!endpoints) {
      body["NetworkingConfig"] = {{"EndpointsConfig", json::object()}};
      endpoints = &body["NetworkingConfig"]["EndpointsConfig"];
    }
    std::string key = endpoints->size() == 1 ? endpoints->begin().key() : mode;
    json& e = (*endpoints)[key];
    if (!e.is_object()) e = json::object();
    if (e.value("MacAddress", json("")) == "") e["MacAddress"] = mac;
  }
  if (before_1_44 || !endpoints) return;
  for (const auto& [name, e] : endpoints->items()) {
    if (!e.is_object() || !e.contains("MacAddress") || e["MacAddress"] == "") continue;
    std::string m = e["MacAddress"].is_string() ? e["MacAddress"].get<std::string>() : "";
    if (!network::parse_mac(m))
      throw InvalidArgument("invalid config for network " + name + ": invalid MAC address " + m);
  }
}

void create(engine::Engine& engine, http::Request& req, http::Responder& out) {
  json body = api::parse_body(req.body, nullptr);
  if (!body.is_object()) throw InvalidArgument("invalid JSON: the body must be an object");
  place_mac_addresses(body, req.api_before(1, 44));
  auto [id, warnings] = engine.containers().create(req.query.get("name").value_or(""), body);
  out.send(api::json_response(201, {{"Id", id}, {"Warnings", warnings}}));
}

std::optional<int> timeout_param(const http::Request& req) {
  auto t = req.query.get("t");
  if (!t || t->empty()) return std::nullopt;
  try {
    return std::stoi(*t);
  } catch (const std::exception&) {
    throw InvalidArgument("invalid value for t: " + *t);
  }
}

// One line of a json-file log.
struct LogLine {
  std::string stream;
  std::string text;
  std::string time;
  std::int64_t nanos = 0;
};

// `with_time`: also parse the timestamp into nanos (only --since/--until need it).
std::optional<LogLine> parse_log_line(std::string_view raw, bool with_time) {
  auto e = api::parse_log_entry(raw);
  if (!e) return std::nullopt;
  LogLine l{std::move(e->stream), std::move(e->text), std::move(e->time), 0};
  if (with_time)
    if (auto t = parse_api_timestamp(l.time)) l.nanos = unix_nanos(*t);
  return l;
}

struct LogOptions {
  bool stdout_ = true, stderr_ = true, timestamps = false, follow = false;
  std::optional<std::int64_t> since, until;
  long tail = -1;
};

std::string frame(const LogLine& l, const LogOptions& o, bool tty) {
  std::string text = o.timestamps ? l.time + " " + l.text : l.text;
  if (tty) return text;
  std::string out;
  api::append_frame(out, l.stream == "stderr" ? api::StreamType::Stderr : api::StreamType::Stdout,
                    text);
  return out;
}

bool wanted(const LogLine& l, const LogOptions& o) {
  if (l.stream == "stderr" ? !o.stderr_ : !o.stdout_) return false;
  if (o.since && l.nanos < *o.since) return false;
  if (o.until && l.nanos > *o.until) return false;
  return true;
}

// Writes the log through `write` (false: stop); with follow, keeps going while
// `still_running` says so.
void stream_log(const std::string& path, const LogOptions& o, bool tty,
                const std::function<bool(const std::string&)>& write_out,
                const std::function<bool()>& still_running,
                const std::function<bool()>& client_gone) {
  // Frames go out in batches of up to 64 KiB (one chunk each), not one chunk per line; a
  // batch is flushed whenever the log has nothing more to give right now.
  std::string batch;
  auto write = [&](const std::string& framed) {
    batch += framed;
    if (batch.size() < 64 * 1024) return true;
    bool ok = write_out(batch);
    batch.clear();
    return ok;
  };
  auto flush = [&] {
    if (batch.empty()) return true;
    bool ok = write_out(batch);
    batch.clear();
    return ok;
  };
  bool with_time = o.since || o.until;
  std::ifstream in(path, std::ios::binary);
  std::string line;
  std::deque<LogLine> tail;
  std::streampos consumed = 0;
  while (std::getline(in, line)) {
    if (in.eof()) break;  // a partial last line: read again when following
    consumed = in.tellg();
    auto l = parse_log_line(line, with_time);
    if (!l || !wanted(*l, o)) continue;
    if (o.tail >= 0) {
      tail.push_back(*l);
      if (static_cast<long>(tail.size()) > o.tail) tail.pop_front();
    } else if (!write(frame(*l, o, tty))) {
      return;
    }
  }
  for (const auto& l : tail)
    if (!write(frame(l, o, tty))) return;
  if (!flush() || !o.follow) return;
  std::string pending;
  std::ifstream follow(path, std::ios::binary);
  follow.seekg(consumed);
  for (;;) {
    bool running = still_running();
    char buf[8192];
    follow.clear();
    follow.read(buf, sizeof buf);
    std::streamsize n = follow.gcount();
    if (n > 0) {
      pending.append(buf, static_cast<std::size_t>(n));
      std::size_t start = 0, nl;
      while ((nl = pending.find('\n', start)) != std::string::npos) {
        auto l = parse_log_line(std::string_view(pending).substr(start, nl - start), with_time);
        start = nl + 1;
        if (l && wanted(*l, o) && !write(frame(*l, o, tty))) return;
      }
      pending.erase(0, start);
      continue;
    }
    if (!flush() || !running) return;
    if (client_gone()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

LogOptions log_options(const http::Request& req) {
  LogOptions o;
  o.stdout_ = req.query.get_bool("stdout");
  o.stderr_ = req.query.get_bool("stderr");
  o.timestamps = req.query.get_bool("timestamps");
  o.follow = req.query.get_bool("follow");
  auto ts = [&](const char* key) -> std::optional<std::int64_t> {
    auto v = req.query.get(key);
    if (!v || v->empty() || *v == "0") return std::nullopt;
    auto t = parse_api_timestamp(*v);
    if (!t) throw InvalidArgument("invalid value for " + std::string(key) + ": " + *v);
    return unix_nanos(*t);
  };
  o.since = ts("since");
  o.until = ts("until");
  auto tail = req.query.get("tail").value_or("all");
  if (tail != "all" && !tail.empty()) {
    try {
      o.tail = std::stol(tail);
    } catch (const std::exception&) {
      o.tail = -1;
    }
  }
  return o;
}

void logs(engine::Engine& engine, http::Request& req, http::Responder& out) {
  LogOptions o = log_options(req);
  if (!o.stdout_ && !o.stderr_)
    throw InvalidArgument("Bad parameters: you must choose at least one stream");
  Container c = engine.containers().get(req.param("id"));
  if (c.host_config.contains("LogConfig") && c.host_config["LogConfig"].value("Type", "") == "none")
    throw NotImplemented("configured logging driver does not support reading");
  http::Headers h;
  h.set("Content-Type", std::string(c.tty() ? api::kRawStream : api::kMultiplexedStream));
  auto stream = out.stream(200, std::move(h));
  std::string id = c.id;
  stream_log(
      engine.backend().log_path(id), o, c.tty(),
      [&](const std::string& s) { return stream.write(s); },
      [&] {
        try {
          return engine.containers().get(id).running();
        } catch (const NotFound&) {
          return false;
        }
      },
      [&] { return stream.client_gone(); });
}

// Writes all of data to a socket; false once the peer is gone.
bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// How an attach reaches its client: a hijacked connection or a WebSocket.
struct AttachTransport {
  int client = -1;
  // The client takes raw bytes even when the container has no TTY (the WebSocket: dockerd
  // never multiplexes it), so stdcopy frames are unwrapped on the way.
  bool raw_output = false;
  // The client closing its side ends the attach (the WebSocket), rather than only
  // closing stdin (a hijacked connection's half-close).
  bool close_ends = false;
};

// What an attach asks for, read from the query alike for both transports.
struct AttachOptions {
  Container container;
  bool in = false, out = false, err = false, stream = false, logs = false;
  std::string detach_keys;
};

// Copies between the client and the container's stdio until the output ends, the client
// detaches or (with close_ends) the client leaves.
void bridge(const AttachTransport& t, int container, bool with_stdin, bool multiplexed,
            const std::string& detach_keys) {
  api::DetachScanner keys(detach_keys);
  bool client_open = with_stdin || t.close_ends;
  bool demultiplex = multiplexed && t.raw_output;
  api::MuxDecoder decoder;
  char buf[32 * 1024];
  for (;;) {
    pollfd fds[2] = {{container, POLLIN, 0}, {client_open ? t.client : -1, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::read(container, buf, sizeof buf);
      if (n <= 0) return;
      std::string_view bytes(buf, static_cast<std::size_t>(n));
      if (!demultiplex) {
        if (!send_all(t.client, bytes)) return;
      } else {
        for (const auto& f : decoder.feed(bytes))
          if (f.type != api::StreamType::System && !send_all(t.client, f.payload)) return;
      }
    }
    if (client_open && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t n = ::read(t.client, buf, sizeof buf);
      if (n <= 0) {
        if (with_stdin) ::shutdown(container, SHUT_WR);
        if (t.close_ends) return;
        client_open = false;
        continue;
      }
      if (!with_stdin) continue;  // read only to notice the client leave
      bool detached = false;
      std::string data = keys.feed(std::string_view(buf, static_cast<std::size_t>(n)), detached);
      if (!data.empty() && !send_all(container, data)) return;
      if (detached) return;
    }
  }
}

// Resolves the container first, so a missing one is a 404 before any upgrade.
// `all_streams`: the request predates per-stream selection and gets stdin, stdout and stderr.
AttachOptions attach_options(engine::Engine& engine, const http::Request& req, bool all_streams) {
  AttachOptions a;
  a.container = engine.containers().get(req.param("id"));
  a.in = all_streams || req.query.get_bool("stdin");
  a.out = all_streams || req.query.get_bool("stdout");
  a.err = all_streams || req.query.get_bool("stderr");
  a.stream = req.query.get_bool("stream");
  a.logs = req.query.get_bool("logs");
  std::string spec = req.query.get("detachKeys").value_or("");
  auto keys = api::parse_detach_keys(spec);
  if (!keys) throw InvalidArgument("Invalid detach keys (" + spec + ") provided");
  a.detach_keys = *keys;
  return a;
}

// The attach itself: the transport opened by `open` (which answers the request), the log
// first if asked, then the live streams. The live attach is registered before the client
// hears the answer, so a start it sends next cannot run the process without it.
void run_attach(engine::Engine& engine, const AttachOptions& a,
                const std::function<UniqueFd()>& open, AttachTransport t) {
  const Container& c = a.container;
  UniqueFd client;
  auto answer = [&] {
    client = open();
    t.client = client.get();
    if (!a.logs) return;
    LogOptions lo;
    lo.stdout_ = a.out;
    lo.stderr_ = a.err;
    stream_log(
        engine.backend().log_path(c.id), lo, c.tty() || t.raw_output,
        [&](const std::string& s) { return send_all(t.client, s); }, [] { return false; },
        [] { return false; });
  };
  if (!a.stream) {
    answer();
    return;
  }
  // Gone while the attach waits for the start: the connection closed both ways. A half-close
  // is not a leave: the docker CLI shuts its write side as soon as it has no stdin to send
  // (`docker run` without -i, right after the attach) and reads the output all the same.
  auto gone = [&] {
    pollfd p{t.client, POLLRDHUP, 0};
    if (::poll(&p, 1, 0) <= 0) return false;
    return (p.revents & (POLLHUP | POLLERR)) || ((p.revents & POLLRDHUP) && t.close_ends);
  };
  UniqueFd container = engine.containers().attach(c.id, a.in, a.out, a.err, gone, answer);
  if (!container) return;
  // dockerd watches for the detach keys only on a TTY.
  bridge(t, container.get(), a.in, !c.tty(), a.in && c.tty() ? a.detach_keys : "");
}

// POST /containers/{id}/attach: the hijacked connection.
void attach(engine::Engine& engine, http::Request& req, http::Responder& out) {
  AttachOptions a = attach_options(engine, req, false);
  bool multiplexed = !a.container.tty();
  std::string ctype(multiplexed && !req.api_before(1, 42) ? api::kMultiplexedStream
                                                          : api::kRawStream);
  run_attach(
      engine, a, [&] { return out.hijack(ctype); }, AttachTransport{-1, false, false});
}

// GET /containers/{id}/attach/ws: dockerd sends the output raw, stdout and stderr alike,
// in binary messages since API 1.28 (text before), and attached every stream before 1.42.
void attach_websocket(engine::Engine& engine, http::Request& req, http::Responder& out) {
  AttachOptions a = attach_options(engine, req, req.api_before(1, 42));
  auto kind =
      req.api_before(1, 28) ? http::WebSocketMessages::Text : http::WebSocketMessages::Binary;
  run_attach(
      engine, a, [&] { return out.websocket(kind); }, AttachTransport{-1, true, true});
}

void wait(engine::Engine& engine, http::Request& req, http::Responder& out) {
  std::string id = engine.containers().get(req.param("id")).id;
  http::Headers h;
  h.set("Content-Type", "application/json");
  auto stream = out.stream(200, std::move(h));
  auto result = engine.containers().wait(id, req.query.get("condition").value_or(""),
                                         [&] { return stream.client_gone(); });
  if (!result) return;
  json body = {{"StatusCode", result->status_code}};
  if (!result->error.empty()) body["Error"] = {{"Message", result->error}};
  stream.write(api::dump_json(body));
}

// X-Docker-Container-Path-Stat: base64 of the JSON Go's encoder writes for dockerd's
// ContainerPathStat (its field order, <>& and line separators escaped, bad UTF-8 replaced).
std::string stat_header(const engine::PathStat& st) {
  nlohmann::ordered_json j = {{"name", st.name},
                              {"size", st.size},
                              {"mode", st.mode},
                              {"mtime", st.mtime},
                              {"linkTarget", st.link_target}};
  std::string text = j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  std::string go;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '<' || c == '>' || c == '&') {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\u%04x", static_cast<unsigned>(c));
      go += esc;
    } else if (c == '\xe2' && i + 2 < text.size() && text[i + 1] == '\x80' &&
               (text[i + 2] == '\xa8' || text[i + 2] == '\xa9')) {
      go += text[i + 2] == '\xa8' ? "\\u2028" : "\\u2029";
      i += 2;
    } else {
      go += c;
    }
  }
  return image::base64_encode(go);
}

// Sends a tar the backend produces as the response body.
void stream_tar(UniqueFd tar, http::Responder& out, http::Headers headers) {
  auto stream = out.stream(200, std::move(headers));
  char buf[64 * 1024];
  for (;;) {
    ssize_t n = ::read(tar.get(), buf, sizeof buf);
    if (n <= 0 || !stream.write(std::string_view(buf, static_cast<std::size_t>(n)))) break;
  }
}

std::string archive_path(const http::Request& req) {
  auto p = req.query.get("path");
  // dockerd's wording, missing space included.
  if (!p || p->empty()) throw InvalidArgument("bad parameter: pathcannot be empty");
  return *p;
}

http::Handler simple(std::function<void(engine::Engine&, http::Request&)> action, int status,
                     engine::Engine& engine) {
  return [action = std::move(action), status, &engine](http::Request& req, http::Responder& out) {
    action(engine, req);
    out.send(http::Response::empty(status));
  };
}

}  // namespace

void add_container_routes(http::Router& router, engine::Engine& engine) {
  auto& cs = engine.containers();
  router.add("POST", "/containers/create",
             on_worker([&engine](http::Request& r, http::Responder& o) { create(engine, r, o); }));
  router.add("GET", "/containers/json", on_worker([&engine](http::Request& r, http::Responder& o) {
               list_containers(engine, r, o);
             }));
  router.add(
      "GET", "/containers/{id*}/json", on_worker([&engine](http::Request& r, http::Responder& o) {
        o.send(
            api::json_response(200, inspect_doc(engine, engine.containers().get(r.param("id")))));
      }));
  router.add("POST", "/containers/{id*}/start",
             on_worker(simple([&cs](engine::Engine&, http::Request& r) { cs.start(r.param("id")); },
                              204, engine)));
  router.add("POST", "/containers/{id*}/stop",
             on_worker(simple(
                 [&cs](engine::Engine&, http::Request& r) {
                   cs.stop(r.param("id"), timeout_param(r), r.query.get("signal").value_or(""));
                 },
                 204, engine)));
  router.add("POST", "/containers/{id*}/restart",
             on_worker(simple(
                 [&cs](engine::Engine&, http::Request& r) {
                   cs.restart(r.param("id"), timeout_param(r), r.query.get("signal").value_or(""));
                 },
                 204, engine)));
  router.add("POST", "/containers/{id*}/kill",
             on_worker(simple(
                 [&cs](engine::Engine&, http::Request& r) {
                   cs.kill(r.param("id"), r.query.get("signal").value_or("KILL"));
                 },
                 204, engine)));
  // {id*}: docker rm --link names a link, "/web/db".
  router.add("DELETE", "/containers/{id*}",
             on_worker(simple(
                 [&cs](engine::Engine&, http::Request& r) {
                   if (r.query.get_bool("link"))
                     cs.remove_link(r.param("id"));
                   else
                     cs.remove(r.param("id"), r.query.get_bool("force"), r.query.get_bool("v"));
                 },
                 204, engine)));
  router.add("POST", "/containers/{id*}/rename",
             on_worker(simple(
                 [&cs](engine::Engine&, http::Request& r) {
                   cs.rename(r.param("id"), r.query.get("name").value_or(""));
                 },
                 204, engine)));
  router.add("POST", "/commit", on_worker([&engine](http::Request& r, http::Responder& o) {
               engine.require(engine::Capability::Commit, "commit");
               engine::Containers::CommitOptions opts;
               opts.repo = r.query.get("repo").value_or("");
               opts.tag = r.query.get("tag").value_or("");
               opts.author = r.query.get("author").value_or("");
               opts.comment = r.query.get("comment").value_or("");
               opts.changes = r.query.all("changes");
               auto pause = r.query.get("pause");
               opts.pause = !pause || pause->empty() || r.query.get_bool("pause");
               if (!r.body.empty()) opts.config = api::parse_body(r.body, nullptr);
               std::string container = r.query.get("container").value_or("");
               if (container.empty()) throw NotFound("No such container: ");
               std::string id = engine.containers().commit(container, opts);
               o.send(api::json_response(201, {{"Id", id}}));
             }));
  router.add("POST", "/containers/{id*}/update",
             on_worker([&engine](http::Request& r, http::Responder& o) {
               json body = api::parse_body(r.body, nullptr);
               json warnings = engine.containers().update(r.param("id"), body);
               o.send(api::json_response(200, {{"Warnings", warnings}}));
             }));
  router.add("POST", "/containers/{id*}/resize",
             on_worker(simple(
                 [&cs](engine::Engine&, http::Request& r) {
                   cs.resize(r.param("id"), std::atoi(r.query.get("h").value_or("0").c_str()),
                             std::atoi(r.query.get("w").value_or("0").c_str()));
                 },
                 200, engine)));
  router.add("POST", "/containers/{id*}/pause",
             on_worker(simple(
                 [&cs](engine::Engine& e, http::Request& r) {
                   e.require(engine::Capability::Pause, "pause");
                   cs.pause(r.param("id"));
                 },
                 204, engine)));
  router.add("POST", "/containers/{id*}/unpause",
             on_worker(simple(
                 [&cs](engine::Engine& e, http::Request& r) {
                   e.require(engine::Capability::Pause, "unpause");
                   cs.unpause(r.param("id"));
                 },
                 204, engine)));
  router.add("GET", "/containers/{id*}/top",
             on_worker([&engine](http::Request& r, http::Responder& o) {
               engine.require(engine::Capability::Top, "top");
               auto [titles, rows] =
                   engine.containers().top(r.param("id"), r.query.get("ps_args").value_or(""));
               o.send(api::json_response(200, {{"Titles", titles}, {"Processes", rows}}));
             }));
  router.add("HEAD", "/containers/{id*}/archive",
             on_worker([&engine](http::Request& r, http::Responder& o) {
               engine.require(engine::Capability::Archive, "archive");
               auto st = engine.containers().archive_stat(r.param("id"), archive_path(r));
               http::Response res = http::Response::empty(200);
               res.headers.set("X-Docker-Container-Path-Stat", stat_header(st));
               res.headers.set("Content-Type", "application/json");
               o.send(std::move(res));
             }));
  router.add("GET", "/containers/{id*}/archive",
             on_worker([&engine](http::Request& r, http::Responder& o) {
               engine.require(engine::Capability::Archive, "archive");
               engine::PathStat st;
               UniqueFd tar = engine.containers().archive_get(r.param("id"), archive_path(r), st);
               http::Headers h;
               h.set("Content-Type", "application/x-tar");
               h.set("X-Docker-Container-Path-Stat", stat_header(st));
               stream_tar(std::move(tar), o, std::move(h));
             }));
  router.add("PUT", "/containers/{id*}/archive",
             http::RouteTarget{[&engine](http::Request& r, http::Responder& o) {
                                 engine.require(engine::Capability::Archive, "archive");
                                 engine.containers().archive_put(
                                     r.param("id"), archive_path(r), r.body_fd.get(),
                                     r.query.get_bool("noOverwriteDirNonDir"),
                                     r.query.get_bool("copyUIDGID"));
                                 o.send(http::Response::empty(200));
                               },
                               http::Execution::Blocking, http::BodyMode::Streamed});
  router.add("GET", "/containers/{id*}/export",
             on_worker([&engine](http::Request& r, http::Responder& o) {
               engine.require(engine::Capability::Archive, "export");
               UniqueFd tar = engine.containers().export_rootfs(r.param("id"));
               http::Headers h;
               h.set("Content-Type", "application/x-tar");
               stream_tar(std::move(tar), o, std::move(h));
             }));
  router.add("GET", "/containers/{id*}/changes",
             on_worker([&engine](http::Request& r, http::Responder& o) {
               engine.require(engine::Capability::Changes, "changes");
               json list = json::array();
               for (const auto& [path, kind] : engine.containers().changes(r.param("id")))
                 list.push_back({{"Path", path}, {"Kind", kind}});
               o.send(api::json_response(200, list.empty() ? json(nullptr) : list));
             }));
  router.add(
      "POST", "/containers/prune", on_worker([&engine](http::Request& r, http::Responder& o) {
        auto filters = api::Filters::parse(r.query.get("filters").value_or(""));
        filters.validate({"until", "label", "label!"});
        std::optional<std::int64_t> until;
        if (filters.has("until")) {
          auto t = parse_api_timestamp(filters.values("until").front());
          if (!t)
            throw InvalidArgument("invalid filter 'until=" + filters.values("until").front() + "'");
          until = unix_nanos(*t);
        }
        json deleted = json::array();
        std::int64_t reclaimed = 0;
        for (const auto& c : engine.containers().list()) {
          if (c.running() || c.state.status == "restarting") continue;
          if (until && c.created >= *until) continue;
          std::map<std::string, std::string> labels;
          const json label_doc = c.config.value("Labels", json::object());
          for (const auto& [k, v] : label_doc.items())
            labels[k] = v.is_string() ? v.get<std::string>() : v.dump();
          if (!filters.match_labels("label", labels)) continue;
          bool excluded = false;
          for (const auto& l : filters.values("label!")) {
            api::Filters one;
            one.add("label", l);
            excluded = excluded || one.match_labels("label", labels);
          }
          if (excluded) continue;
          try {
            // Measured first, as dockerd does: the layer goes with the container.
            std::int64_t size = engine.containers().changes_size(c.id);
            engine.containers().remove(c.id, false);
            deleted.push_back(c.id);
            reclaimed += size;
          } catch (const Conflict&) {
          } catch (const NotFound&) {
          }
        }
        o.send(api::json_response(200,
                                  {{"ContainersDeleted", deleted.empty() ? json(nullptr) : deleted},
                                   {"SpaceReclaimed", reclaimed}}));
      }));
  router.add("POST", "/containers/{id*}/wait",
             on_worker([&engine](http::Request& r, http::Responder& o) { wait(engine, r, o); }));
  router.add("POST", "/containers/{id*}/attach",
             on_worker([&engine](http::Request& r, http::Responder& o) { attach(engine, r, o); }));
  router.add("GET", "/containers/{id*}/attach/ws",
             on_worker([&engine](http::Request& r, http::Responder& o) {
               attach_websocket(engine, r, o);
             }));
  router.add("GET", "/containers/{id*}/logs",
             on_worker([&engine](http::Request& r, http::Responder& o) { logs(engine, r, o); }));
}

}  // namespace sockerless::routes
