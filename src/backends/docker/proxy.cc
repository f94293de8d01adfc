#include "backends/docker/proxy.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <system_error>

#include "api/errors.h"
#include "api/respond.h"
#include "common/errors.h"
#include "http/router.h"

namespace sockerless::backends::docker {
namespace {

namespace beast = boost::beast;
namespace bh = beast::http;
namespace net = boost::asio;
using json = nlohmann::json;

constexpr std::size_t kChunk = 64 * 1024;
// Answers up to this size with a known length are read whole and sent with their length;
// larger ones, and every chunked or open-ended one, are relayed as they arrive.
constexpr std::uint64_t kWholeBody = 1 << 20;

// Fields that describe one hop of HTTP, never forwarded as they are.
bool hop_by_hop(std::string_view name) {
  static const std::set<std::string, http::CaseInsensitiveLess> fields = {
      "Connection", "Keep-Alive",     "Proxy-Connection",
      "TE",         "Trailer",        "Transfer-Encoding",
      "Upgrade",    "Content-Length", "Date",
      "Expect"};  // sockerless's server answers 100-continue itself
  return fields.count(std::string(name)) > 0;
}

// An EngineConnection as a Beast SyncReadStream. While it waits for the engine it also
// watches `watch_fd` (the client's side of a stream): when that reports an error or
// hang-up, the read fails with operation_aborted, so a relay whose client left ends even
// when the engine has nothing to say (an idle event stream).
class EngineStream {
 public:
  explicit EngineStream(EngineConnection& c) : c_(c) {}
  void watch(int fd) { watch_fd_ = fd; }

  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers) {
    beast::error_code ec;
    std::size_t n = read_some(buffers, ec);
    if (ec) throw beast::system_error(ec);
    return n;
  }

  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers, beast::error_code& ec) {
    ec = {};
    net::mutable_buffer b = *net::buffer_sequence_begin(buffers);
    if (b.size() == 0) return 0;
    if (!wait_readable()) {
      ec = net::error::operation_aborted;
      return 0;
    }
    try {
      std::size_t n = c_.read_some(static_cast<char*>(b.data()), b.size());
      if (n == 0) ec = net::error::eof;
      return n;
    } catch (const std::system_error& e) {
      ec = beast::error_code(e.code().value(), beast::system_category());
    } catch (const std::exception&) {
      ec = net::error::connection_reset;
    }
    return 0;
  }

 private:
  bool wait_readable() {
    if (watch_fd_ < 0 || c_.buffered()) return true;
    pollfd p[2] = {{c_.fd(), POLLIN, 0}, {watch_fd_, 0, 0}};
    for (;;) {
      int r = ::poll(p, 2, -1);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return true;  // let the read report it
      if (p[1].revents & (POLLERR | POLLHUP | POLLNVAL)) return false;
      if (p[0].revents) return true;
    }
  }

  EngineConnection& c_;
  int watch_fd_ = -1;
};

bool write_fd_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// Bridges a hijacked client and the engine until the engine ends its output: the client's
// bytes go up (its half-close becomes ours toward the engine), the engine's come down.
void bridge(EngineConnection& engine, int client) {
  char buf[kChunk];
  bool client_open = true;
  for (;;) {
    bool engine_ready = engine.buffered(), client_ready = false;
    if (!engine_ready) {
      pollfd p[2] = {{engine.fd(), POLLIN, 0}, {client_open ? client : -1, POLLIN, 0}};
      int r = ::poll(p, 2, -1);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return;
      engine_ready = p[0].revents != 0;
      client_ready = p[1].revents != 0;
    }
    if (client_ready) {
      ssize_t n = ::read(client, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      try {
        if (n <= 0) {
          client_open = false;
          engine.shutdown_write();
        } else {
          engine.write_all(buf, static_cast<std::size_t>(n));
        }
      } catch (const std::exception&) {
        return;  // the engine is gone: its read below would say so too
      }
    }
    if (engine_ready) {
      std::size_t n = 0;
      try {
        n = engine.read_some(buf, sizeof buf);
      } catch (const std::exception&) {
        return;
      }
      if (n == 0) {
        ::shutdown(client, SHUT_WR);
        return;
      }
      if (!write_fd_all(client, buf, n)) return;
    }
  }
}

bool is_hijack_path(std::string_view path) {
  // POST /containers/{id}/attach and POST /exec/{id}/start (after the version prefix).
  auto segs = http::split_path(path);
  if (segs.size() == 3 && segs[0] == "containers" && segs[2] == "attach") return true;
  if (segs.size() == 3 && segs[0] == "exec" && segs[2] == "start") return true;
  return false;
}

std::string version_path(const http::Request& r) {
  return api::split_version_prefix(
             http::percent_decode(
                 std::string_view(r.target).substr(0, std::string_view(r.target).find('?')), false))
      .rest;
}

// sockerless's own identity on top of the engine's answers to /version and /info.
void overlay_identity(const std::string& path, json& doc, const ProxyOptions& o) {
  if (path == "/version") {
    if (auto v = api::parse_version(doc.value("ApiVersion", "")))
      doc["ApiVersion"] = std::min(*v, api::kMaxVersion).str();
    if (auto v = api::parse_version(doc.value("MinAPIVersion", "")))
      doc["MinAPIVersion"] = std::max(*v, api::kMinVersion).str();
    doc["Platform"]["Name"] = "sockerless";
    json component = {{"Name", "sockerless"},
                      {"Version", o.version},
                      {"Details", {{"Backend", "docker"}, {"Engine", o.engine.url}}}};
    if (!doc.contains("Components") || !doc["Components"].is_array())
      doc["Components"] = json::array();
    doc["Components"].push_back(std::move(component));
  } else if (path == "/info") {
    if (!doc.contains("Labels") || !doc["Labels"].is_array()) doc["Labels"] = json::array();
    for (const auto& l : o.labels)
      doc["Labels"].push_back(l);
  }
}

}  // namespace

DockerProxy::DockerProxy(ProxyOptions options) : options_(std::move(options)) {}

void DockerProxy::forget_engine() {
  std::lock_guard lock(mu_);
  api_.reset();
  idle_.clear();
}

std::unique_ptr<EngineConnection> DockerProxy::take_idle() {
  for (;;) {
    std::unique_ptr<EngineConnection> conn;
    {
      std::lock_guard lock(mu_);
      if (idle_.empty()) return nullptr;
      conn = std::move(idle_.back());
      idle_.pop_back();
    }
    // An idle connection has nothing to say: readable means closed (or broken).
    pollfd p{conn->fd(), POLLIN, 0};
    if (!conn->buffered() && ::poll(&p, 1, 0) == 0) return conn;
  }
}

void DockerProxy::keep_idle(std::unique_ptr<EngineConnection> conn) {
  std::lock_guard lock(mu_);
  if (idle_.size() < 32) idle_.push_back(std::move(conn));
}

std::unique_ptr<EngineConnection> DockerProxy::connect() {
  try {
    return EngineConnection::open(options_.engine, options_.connect_timeout);
  } catch (...) {
    forget_engine();
    throw;
  }
}

DockerProxy::EngineApi DockerProxy::engine_api() {
  {
    std::lock_guard lock(mu_);
    if (api_) return *api_;
  }
  auto conn = connect();
  EngineApi found{api::kMaxVersion, api::kMinVersion};
  try {
    conn->write_all("GET /version HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n");
    EngineStream stream(*conn);
    beast::flat_buffer buf;
    bh::response_parser<bh::string_body> parser;
    parser.body_limit(kWholeBody);
    bh::read(stream, buf, parser);
    auto doc = json::parse(parser.get().body());
    if (auto v = api::parse_version(doc.value("ApiVersion", ""))) found.max = *v;
    if (auto v = api::parse_version(doc.value("MinAPIVersion", ""))) found.min = *v;
  } catch (const std::exception& e) {
    throw BadGateway("docker backend: cannot read the version of the Docker engine at " +
                     options_.engine.url + ": " + e.what());
  }
  std::lock_guard lock(mu_);
  api_ = found;
  return found;
}

void DockerProxy::handle(http::Request& req, http::Responder& out) {
  std::string target = req.target;
  if (auto named = api::split_version_prefix(req.target).version) {
    // Only a client that named a version may need it checked and lowered. The range is
    // the engine's, as /_ping and /version advertise it, except that versions up to
    // sockerless's own are accepted too and lowered to the engine's.
    auto engine = engine_api();
    api::check_version(*named, std::max(engine.min, api::kMinVersion), api::kMaxVersion,
                       std::min(engine.max, api::kMaxVersion));
    target = engine_target(req.target, engine.max);
  }
  const std::string path = version_path(req);

  // The request head: the client's fields, minus this hop's; the body re-framed.
  std::string head = req.method + " " + target + " HTTP/1.1\r\n";
  for (const auto& [name, value] : req.headers.fields())
    if (!hop_by_hop(name)) head += name + ": " + value + "\r\n";
  auto upgrade = req.headers.get("Upgrade");
  if (upgrade) head += "Connection: Upgrade\r\nUpgrade: " + *upgrade + "\r\n";
  auto length = req.headers.get("Content-Length");
  bool chunked_body = req.body_fd && !length;
  if (req.body_fd && length)
    head += "Content-Length: " + *length + "\r\n";
  else if (chunked_body)
    head += "Transfer-Encoding: chunked\r\n";
  else if (!req.body.empty() || length)
    head += "Content-Length: " + std::to_string(req.body.size()) + "\r\n";
  head += "\r\n";

  auto unreachable = [this](const std::string& what) {
    forget_engine();
    return BadGateway("docker backend: the Docker engine at " + options_.engine.url + " " + what);
  };
  // A kept connection the engine closed meanwhile is replaced once, when the request can
  // be sent again (its body was not streamed): after a failed write, or, for a GET or
  // HEAD, after no answer at all (the engine may have acted on anything else).
  std::unique_ptr<EngineConnection> conn;
  beast::flat_buffer buf;
  std::optional<bh::response_parser<bh::buffer_body>> parser;
  bool sent = true;
  for (int attempt = 0;; ++attempt) {
    conn = attempt == 0 ? take_idle() : nullptr;
    bool retry_allowed = conn && !req.body_fd;
    if (!conn) conn = connect();
    sent = true;
    try {
      conn->write_all(head);
      if (req.body_fd) {
        char chunk[kChunk];
        for (;;) {
          ssize_t n = ::read(req.body_fd.get(), chunk, sizeof chunk);
          if (n < 0 && errno == EINTR) continue;
          if (n < 0) throw std::system_error(errno, std::generic_category(), "read request body");
          if (n == 0) break;
          if (chunked_body) {
            char size_line[32];
            int len = std::snprintf(size_line, sizeof size_line, "%zx\r\n", static_cast<size_t>(n));
            conn->write_all(size_line, static_cast<std::size_t>(len));
            conn->write_all(chunk, static_cast<std::size_t>(n));
            conn->write_all("\r\n", 2);
          } else {
            conn->write_all(chunk, static_cast<std::size_t>(n));
          }
        }
        if (chunked_body) conn->write_all("0\r\n\r\n", 5);
      } else if (!req.body.empty()) {
        conn->write_all(req.body);
      }
    } catch (const std::system_error& e) {
      // The engine may have answered (an error) without reading the whole body: read on.
      spdlog::debug("docker backend: sending {} {}: {}", req.method, target, e.what());
      sent = false;
    } catch (const std::exception& e) {
      throw unreachable(std::string("failed while receiving the request: ") + e.what());
    }
    if (!sent && retry_allowed) continue;

    // The answer's head.
    EngineStream stream(*conn);
    buf.clear();
    parser.emplace();
    parser->header_limit(256 * 1024);
    // Not boost::none: Boost 1.74 compares a Content-Length with the empty optional as larger.
    parser->body_limit(std::numeric_limits<std::uint64_t>::max());
    if (req.method == "HEAD") parser->skip(true);
    beast::error_code ec;
    bh::read_header(stream, buf, *parser, ec);
    if (!ec) break;
    bool idempotent = req.method == "GET" || req.method == "HEAD";
    if (retry_allowed && idempotent && buf.size() == 0) continue;
    throw unreachable("closed the connection before answering (" + ec.message() + ")");
  }
  EngineStream stream(*conn);
  beast::error_code ec;
  auto& res = parser->get();
  int status = res.result_int();
  // Once the whole answer is read, the connection serves the next request.
  auto reusable = [&] { return sent && !upgrade && res.keep_alive() && parser->is_done(); };

  http::Headers headers;
  for (const auto& field : res) {
    std::string name(field.name_string());
    std::string value(field.value());
    if (beast::iequals(name, "Api-Version")) {
      if (auto v = api::parse_version(value)) value = std::min(*v, api::kMaxVersion).str();
    }
    headers.add(std::move(name), std::move(value));
  }

  // A hijacked stream: an upgrade, or (for clients that did not ask for one) a raw stream
  // with neither length nor chunks.
  std::string content_type(res[bh::field::content_type]);
  bool raw_stream = content_type == "application/vnd.docker.raw-stream" ||
                    content_type == "application/vnd.docker.multiplexed-stream";
  if (status == 101 || (status == 200 && raw_stream && is_hijack_path(path) && !res.chunked() &&
                        !parser->content_length())) {
    http::Response h;
    h.status = status;
    h.reason = std::string(res.reason());
    h.headers = headers;
    UniqueFd client = out.hijack(h);
    // Bytes the engine sent right behind its head.
    auto early = buf.data();
    if (!write_fd_all(client.get(), static_cast<const char*>(early.data()), early.size())) return;
    buf.consume(buf.size());
    bridge(*conn, client.get());
    return;
  }

  http::Headers out_headers;
  for (const auto& [name, value] : headers.fields())
    if (!hop_by_hop(name)) out_headers.add(name, value);

  bool no_body = req.method == "HEAD" || status / 100 == 1 || status == 204 || status == 304;
  auto known = parser->content_length();
  if (no_body || (known && *known <= kWholeBody)) {
    std::string body;
    if (!no_body) {
      body.resize(*known);
      std::size_t got = 0;
      while (!parser->is_done()) {
        res.body().data = body.data() + got;
        res.body().size = body.size() - got;
        bh::read_some(stream, buf, *parser, ec);
        if (ec == bh::error::need_buffer) ec = {};
        got = body.size() - res.body().size;
        if (ec) throw unreachable("broke off its answer (" + ec.message() + ")");
      }
      body.resize(got);
    }
    if (reusable()) keep_idle(std::move(conn));
    if (status == 200 && (path == "/version" || path == "/info")) {
      try {
        auto doc = json::parse(body);
        overlay_identity(path, doc, options_);
        body = api::dump_json(doc);
      } catch (const json::exception&) {
        // not JSON: relay it as it is
      }
    }
    http::Response r;
    r.status = status;
    r.reason = std::string(res.reason());
    r.headers = std::move(out_headers);
    if (!r.headers.has("Content-Type") && !body.empty())
      r.headers.set("Content-Type", "text/plain; charset=utf-8");
    r.body = std::move(body);
    out.send(std::move(r));
    return;
  }

  // Relayed as it arrives: large downloads, progress and log streams, events.
  http::StreamWriter writer = out.stream(status, std::move(out_headers));
  stream.watch(writer.fd());
  char chunk[kChunk];
  while (!parser->is_done()) {
    res.body().data = chunk;
    res.body().size = sizeof chunk;
    bh::read_some(stream, buf, *parser, ec);
    if (ec == bh::error::need_buffer) ec = {};
    std::size_t n = sizeof chunk - res.body().size;
    if (n > 0 && !writer.write(std::string_view(chunk, n))) return;  // the client left
    if (ec == net::error::operation_aborted) return;                 // the client left
    if (ec) {
      spdlog::warn("docker backend: {} {}: the engine at {} broke off its answer: {}", req.method,
                   target, options_.engine.url, ec.message());
      forget_engine();
      writer.abort();
      return;
    }
  }
  if (reusable()) keep_idle(std::move(conn));
}

http::ServerHooks docker_proxy_hooks(DockerProxy& proxy) {
  http::ServerHooks hooks;
  hooks.error_response = [](std::exception_ptr e) { return api::error_response(e); };
  // For sockerless's own answers (errors); the engine's carry its own fields.
  hooks.default_headers = api::default_headers(SOCKERLESS_VERSION);
  // Blocking code may stream a body of any size to the engine.
  hooks.max_body_bytes = std::numeric_limits<std::size_t>::max();
  hooks.resolve = [&proxy](http::Request& req) -> http::RouteTarget {
    http::RouteTarget t;
    t.execution = http::Execution::Blocking;
    auto split = api::split_version_prefix(req.path);
    req.path = split.rest;
    req.route = route_label(req.path);
    // The version is checked by the handler, against the engine's range.
    if (auto v = split.version ? api::parse_version(*split.version) : std::nullopt) {
      req.api_major = v->major;
      req.api_minor = v->minor;
    }
    bool has_body = req.headers.has("Transfer-Encoding") ||
                    (req.headers.has("Content-Length") && req.headers.get("Content-Length") != "0");
    bool hijacking = req.headers.has("Upgrade") || is_hijack_path(req.path);
    t.body = has_body && !hijacking ? http::BodyMode::Streamed : http::BodyMode::Buffered;
    t.handler = [&proxy](http::Request& r, http::Responder& out) { proxy.handle(r, out); };
    return t;
  };
  return hooks;
}

std::string route_label(std::string_view path) {
  auto segs = http::split_path(path);
  if (!segs.empty() && segs.back().empty()) segs.pop_back();
  if (segs.empty()) return "/";
  auto join = [&segs](std::size_t from) {
    std::string s;
    for (std::size_t i = from; i < segs.size(); ++i)
      s += "/" + std::string(segs[i]);
    return s;
  };
  std::string_view first = segs[0];
  if (first == "images" || first == "distribution") {
    static const std::set<std::string_view> verbs = {"json", "create", "load",
                                                     "get",  "search", "prune"};
    static const std::set<std::string_view> tails = {"json", "history", "push", "tag", "get"};
    if (segs.size() == 2 && first == "images" && verbs.count(segs[1]))
      return "/images/" + std::string(segs[1]);
    if (segs.size() >= 3 && tails.count(segs.back()))
      return "/" + std::string(first) + "/{name}/" + std::string(segs.back());
    return "/" + std::string(first) + "/{name}";
  }
  static const std::set<std::string_view> by_id = {"containers", "exec",     "networks",
                                                   "volumes",    "services", "tasks",
                                                   "secrets",    "configs",  "nodes"};
  static const std::set<std::string_view> collection_verbs = {"json", "create", "prune"};
  if (by_id.count(first) && segs.size() >= 2 && !collection_verbs.count(segs[1]))
    return "/" + std::string(first) + "/{id}" + join(2);
  if (first == "plugins") return segs.size() == 2 ? join(0) : "/plugins/{name}";
  return join(0);
}

std::string engine_target(std::string_view target, const api::ApiVersion& engine_max) {
  auto q = target.find('?');
  auto split = api::split_version_prefix(target.substr(0, q));
  if (!split.version) return std::string(target);
  auto v = api::parse_version(*split.version);
  if (!v || *v <= engine_max) return std::string(target);
  std::string out = "/v" + engine_max.str() + split.rest;
  if (q != std::string_view::npos) out += target.substr(q);
  return out;
}

}  // namespace sockerless::backends::docker
