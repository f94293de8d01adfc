// Beast/Asio live only in this translation unit (and the client's): see DESIGN.md.
#include <utility>  // Boost 1.74's asio/awaitable.hpp needs std::exchange declared first.

#include "http/server.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <future>
#include <limits>
#include <map>
#include <mutex>
#include <thread>
#include <type_traits>

#include "common/errors.h"
#include "common/worker_pool.h"

namespace sockerless::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bh = boost::beast::http;
namespace bws = boost::beast::websocket;
using net::awaitable;
using net::use_awaitable;
using tcp = net::ip::tcp;
using local = net::local::stream_protocol;
using Executor = net::any_io_executor;
using ContextExecutor = net::io_context::executor_type;

namespace {

std::system_error errno_error(const std::string& what) {
  return std::system_error(errno, std::generic_category(), what);
}

// What a handler answered with.
struct Decision {
  enum Kind { Complete, Stream, Hijack, WebSocket } kind = Complete;
  Response response;  // Complete: all of it; Stream: status and headers
  UniqueFd fd;        // Stream: the read end of the body pipe; Hijack, WebSocket: our end
  std::string content_type;
  bool exact_head = false;  // Hijack: answer with `response`'s status and headers as they are
  std::shared_ptr<std::atomic<bool>> aborted;  // Stream: the handler ended the body as broken
  WebSocketMessages messages = WebSocketMessages::Binary;
};

// The request head a WebSocket handshake answers, kept when the request asks for one.
using UpgradeRequest = std::shared_ptr<const bh::request<bh::empty_body>>;

// Whether the head is a WebSocket opening handshake Beast will accept.
bool is_websocket_upgrade(const bh::request<bh::empty_body>& head) {
  return bws::is_upgrade(head) && !head[bh::field::sec_websocket_key].empty() &&
         head[bh::field::sec_websocket_version] == "13";
}

UniqueFd socket_pair_end(UniqueFd& other) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    throw errno_error("socketpair");
  other = UniqueFd(sv[0]);
  return UniqueFd(sv[1]);
}

using DecisionSink = std::function<void(Decision)>;

class DecisionResponder final : public Responder {
 public:
  DecisionResponder(bool on_worker, bool websocket_upgrade, DecisionSink sink)
      : on_worker_(on_worker), websocket_upgrade_(websocket_upgrade), sink_(std::move(sink)) {}

  void send(Response response) override {
    Decision d;
    d.response = std::move(response);
    decide(std::move(d));
  }

  StreamWriter stream(int status, Headers headers) override {
    require_worker("streamed response");
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) throw errno_error("pipe2");
    Decision d;
    d.kind = Decision::Stream;
    d.response.status = status;
    d.response.headers = std::move(headers);
    d.fd = UniqueFd(p[0]);
    d.aborted = std::make_shared<std::atomic<bool>>(false);
    auto aborted = d.aborted;
    decide(std::move(d));
    return StreamWriter(UniqueFd(p[1]), std::move(aborted));
  }

  UniqueFd hijack(const std::string& content_type) override {
    require_worker("hijacked connection");
    Decision d;
    d.kind = Decision::Hijack;
    UniqueFd handler_end = socket_pair_end(d.fd);
    d.content_type = content_type;
    decide(std::move(d));
    return handler_end;
  }

  UniqueFd hijack(const Response& head) override {
    require_worker("hijacked connection");
    Decision d;
    d.kind = Decision::Hijack;
    d.exact_head = true;
    d.response = head;
    UniqueFd handler_end = socket_pair_end(d.fd);
    decide(std::move(d));
    return handler_end;
  }

  UniqueFd websocket(WebSocketMessages messages) override {
    require_worker("WebSocket");
    if (!websocket_upgrade_) throw InvalidArgument("not websocket protocol");
    Decision d;
    d.kind = Decision::WebSocket;
    UniqueFd handler_end = socket_pair_end(d.fd);
    d.messages = messages;
    decide(std::move(d));
    return handler_end;
  }

  bool decided() const { return decided_; }

 private:
  void require_worker(const char* what) {
    if (!on_worker_) throw std::logic_error(std::string(what) + " from an inline route");
  }
  void decide(Decision d) {
    if (decided_) throw std::logic_error("handler answered twice");
    decided_ = true;
    sink_(std::move(d));
  }

  bool on_worker_;
  bool websocket_upgrade_;
  DecisionSink sink_;
  bool decided_ = false;
};

std::string http_date() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

template <class T>
struct IsTls : std::false_type {};
template <class T>
struct IsTls<net::ssl::stream<T>> : std::true_type {};

// A one-shot signal a coroutine can wait for: set() wakes wait().
class Signal {
 public:
  explicit Signal(const Executor& ex) : timer_(ex, net::steady_timer::time_point::max()) {}
  void set() {
    set_ = true;
    timer_.cancel();
  }
  awaitable<void> wait() {
    while (!set_) {
      beast::error_code ec;
      co_await timer_.async_wait(net::redirect_error(use_awaitable, ec));
    }
  }
  // Waits at most `limit`; true if set.
  awaitable<bool> wait_for(std::chrono::milliseconds limit) {
    if (set_) co_return true;
    net::steady_timer t(timer_.get_executor(), limit);
    bool fired = false;
    t.async_wait([this, &fired](beast::error_code ec) {
      if (!ec) {
        fired = true;
        timer_.cancel();
      }
    });
    while (!set_ && !fired) {
      beast::error_code ec;
      co_await timer_.async_wait(net::redirect_error(use_awaitable, ec));
    }
    t.cancel();
    co_return set_;
  }
  bool is_set() const { return set_; }

 private:
  net::steady_timer timer_;
  bool set_ = false;
};

struct ConnectionBase {
  virtual ~ConnectionBase() = default;
  virtual void close() = 0;       // posts a close to the connection's own context
  virtual bool idle() const = 0;  // waiting for the next request
};

}  // namespace

struct Server::Impl {
  ServerHooks hooks;
  std::vector<std::unique_ptr<net::io_context>> contexts;
  std::vector<std::unique_ptr<net::executor_work_guard<ContextExecutor>>> guards;
  std::vector<std::thread> threads;
  std::atomic<std::size_t> next_context{0};
  std::atomic<bool> stopping{false};
  std::atomic<bool> listeners_closed{false};

  std::vector<std::string> addresses;
  std::vector<std::string> unix_paths;
  std::vector<std::shared_ptr<net::ssl::context>> tls_contexts;
  std::vector<std::unique_ptr<tcp::acceptor>> tcp_acceptors;
  std::vector<std::unique_ptr<local::acceptor>> unix_acceptors;

  std::mutex conns_mu;
  std::map<ConnectionBase*, std::weak_ptr<ConnectionBase>> conns;

  WorkerPool workers;  // destroyed first: waits for handlers before the contexts go

  net::io_context& pick_context() { return *contexts[next_context.fetch_add(1) % contexts.size()]; }
  void add(const std::shared_ptr<ConnectionBase>& c) {
    std::lock_guard lock(conns_mu);
    conns[c.get()] = c;
  }
  void remove(ConnectionBase* c) {
    std::lock_guard lock(conns_mu);
    conns.erase(c);
  }
  std::size_t close_connections(bool idle_only) {
    std::vector<std::shared_ptr<ConnectionBase>> live;
    {
      std::lock_guard lock(conns_mu);
      for (auto& [p, w] : conns)
        if (auto s = w.lock()) live.push_back(std::move(s));
    }
    std::size_t busy = 0;
    for (auto& c : live) {
      if (!idle_only || c->idle())
        c->close();
      else
        ++busy;
    }
    return busy;
  }

  // Runs the handler on a worker; completes, on the caller's executor, with the first
  // answer the handler gives (the handler may go on streaming after that).
  auto run_on_worker(RouteTarget target, Request request, bool websocket_upgrade) {
    return net::async_initiate<const net::use_awaitable_t<>&, void(Decision)>(
        [this, target = std::move(target), request = std::move(request),
         websocket_upgrade](auto handler) mutable {
          using HandlerT = decltype(handler);
          auto ex = net::get_associated_executor(handler);
          auto slot = std::make_shared<std::optional<HandlerT>>(std::move(handler));
          struct Job {
            RouteTarget target;
            Request request;
          };
          auto job = std::make_shared<Job>(Job{std::move(target), std::move(request)});
          workers.submit([this, job, slot, ex, websocket_upgrade] {
            DecisionSink sink = [slot, ex](Decision d) {
              net::post(ex, [slot, d = std::move(d)]() mutable {
                auto h = std::move(**slot);
                slot->reset();
                h(std::move(d));
              });
            };
            DecisionResponder responder(true, websocket_upgrade, sink);
            try {
              job->target.handler(job->request, responder);
            } catch (...) {
              if (!responder.decided())
                responder.send(hooks.error_response(std::current_exception()));
              else
                spdlog::debug("handler for {} failed after answering", job->request.target);
            }
            if (!responder.decided())
              responder.send(hooks.error_response(std::make_exception_ptr(
                  std::logic_error("handler for " + job->request.route + " gave no answer"))));
          });
        },
        use_awaitable);
  }
};

namespace {

template <class Stream>
class Connection final : public ConnectionBase,
                         public std::enable_shared_from_this<Connection<Stream>> {
 public:
  Connection(Server::Impl& server, Stream stream)
      : server_(server), stream_(std::move(stream)), peer_(peer_address()) {}

  void close() override {
    net::post(stream_.get_executor(), [self = this->shared_from_this()] {
      beast::error_code ec;
      self->stream_.lowest_layer().shutdown(net::socket_base::shutdown_both, ec);
      self->stream_.lowest_layer().close(ec);
    });
  }
  bool idle() const override { return idle_.load(); }

  // `self` keeps the connection alive for as long as the coroutine runs.
  static awaitable<void> run(std::shared_ptr<Connection> self) { co_await self->serve(); }

 private:
  awaitable<void> serve() {
    try {
      if constexpr (IsTls<Stream>::value)
        co_await stream_.async_handshake(net::ssl::stream_base::server, use_awaitable);
      while (!server_.stopping.load()) {
        if (!co_await serve_one()) break;
      }
    } catch (const std::exception& e) {
      spdlog::debug("connection closed: {}", e.what());
    }
    beast::error_code ec;
    stream_.lowest_layer().close(ec);
    server_.remove(this);
  }

  Executor executor() { return stream_.get_executor(); }

  std::string peer_address() {
    if constexpr (std::is_same_v<Stream, local::socket>) {
      return "";
    } else {
      beast::error_code ec;
      auto ep = stream_.lowest_layer().remote_endpoint(ec);
      return ec ? std::string() : ep.address().to_string();
    }
  }

  // Serves one request; false when the connection should close.
  awaitable<bool> serve_one() {
    bh::request_parser<bh::empty_body> head;
    head.header_limit(256 * 1024);
    // The limit is the buffered bodies' only: a streamed one (an archive, a build context,
    // an image) goes on to the handler whatever its size. Not boost::none: Boost 1.74
    // compares a Content-Length with the empty optional as larger.
    head.body_limit(std::numeric_limits<std::uint64_t>::max());
    beast::error_code ec;
    idle_ = true;
    co_await bh::async_read_header(stream_, buf_, head, net::redirect_error(use_awaitable, ec));
    idle_ = false;
    if (ec) {
      spdlog::debug("reading a request head: {}", ec.message());
      if (ec != bh::error::end_of_stream && ec != net::error::eof &&
          ec != net::error::operation_aborted && ec != net::error::connection_reset &&
          ec != net::error::bad_descriptor) {
        co_await write_raw(
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; "
            "charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request");
      }
      co_return false;
    }
    auto started = std::chrono::steady_clock::now();
    const auto& h = head.get();

    Request req;
    req.method = std::string(h.method_string());
    req.target = std::string(h.target());
    req.peer = peer_;
    for (const auto& field : h)
      req.headers.add(std::string(field.name_string()), std::string(field.value()));
    std::string_view target = req.target;
    auto qpos = target.find('?');
    req.path = percent_decode(target.substr(0, qpos), false);
    if (qpos != std::string_view::npos) req.query = Query::parse(target.substr(qpos + 1));
    bool keep_alive = h.keep_alive();
    bool wants_upgrade = h.count(bh::field::upgrade) > 0;
    UpgradeRequest websocket_request;
    if (is_websocket_upgrade(h))
      websocket_request = std::make_shared<const bh::request<bh::empty_body>>(h);

    RouteTarget route = server_.hooks.resolve(req);

    // The body.
    std::shared_ptr<Signal> body_done;
    std::shared_ptr<bool> body_complete;
    if (route.body == BodyMode::Buffered) {
      bh::request_parser<bh::string_body> full(std::move(head));
      const std::uint64_t limit = server_.hooks.max_body_bytes;
      full.body_limit(limit);  // chunked bodies: counted as they come
      auto length = full.content_length();
      if (length && *length > limit)
        ec = bh::error::body_limit;
      else if (!full.is_done())
        co_await bh::async_read(stream_, buf_, full, net::redirect_error(use_awaitable, ec));
      if (ec == bh::error::body_limit) {
        Response r = server_.hooks.error_response(std::make_exception_ptr(
            std::length_error("request body exceeds the limit of " +
                              std::to_string(server_.hooks.max_body_bytes) + " bytes")));
        r.status = 413;
        co_await write_response(req, r, false);
        finish(req, 413, started);
        co_return false;
      }
      if (ec) co_return false;
      req.body = std::move(full.get().body());
    } else {
      int p[2];
      if (::pipe2(p, O_CLOEXEC) != 0) throw errno_error("pipe2");
      req.body_fd = UniqueFd(p[0]);
      auto parser = std::make_shared<bh::request_parser<bh::buffer_body>>(std::move(head));
      body_done = std::make_shared<Signal>(executor());
      body_complete = std::make_shared<bool>(false);
      net::co_spawn(
          executor(),
          pump_body(parser, UniqueFd(p[1]), body_done, body_complete, this->shared_from_this()),
          net::detached);
    }

    // The answer.
    Decision decision;
    if (route.execution == Execution::Inline) {
      DecisionResponder responder(false, websocket_request != nullptr,
                                  [&decision](Decision d) { decision = std::move(d); });
      try {
        route.handler(req, responder);
      } catch (...) {
        if (!responder.decided())
          responder.send(server_.hooks.error_response(std::current_exception()));
      }
    } else {
      Request copy_for_log;
      copy_for_log.method = req.method;
      copy_for_log.target = req.target;
      copy_for_log.path = req.path;
      copy_for_log.route = req.route;
      copy_for_log.api_major = req.api_major;
      copy_for_log.api_minor = req.api_minor;
      copy_for_log.peer = req.peer;
      decision =
          co_await server_.run_on_worker(route, std::move(req), websocket_request != nullptr);
      req = std::move(copy_for_log);
    }

    bool reuse = keep_alive;
    int status = decision.response.status;
    switch (decision.kind) {
      case Decision::Complete:
        reuse = co_await write_response(req, decision.response, keep_alive) && keep_alive;
        break;
      case Decision::Stream:
        reuse = co_await write_stream(decision, keep_alive) && keep_alive;
        break;
      case Decision::Hijack:
        if (!decision.exact_head) status = wants_upgrade ? 101 : 200;
        finish(req, status, started);
        co_await hijack(std::move(decision), wants_upgrade);
        co_return false;
      case Decision::WebSocket:
        finish(req, 101, started);
        co_await websocket(std::move(decision), *websocket_request);
        co_return false;
    }
    if (body_done) {
      // The handler is done with the body; whatever it left unread makes the connection
      // unusable for another request.
      req.body_fd.reset();
      co_await body_done->wait();
      reuse = reuse && *body_complete;
    }
    finish(req, status, started);
    co_return reuse && !server_.stopping.load();
  }

  void finish(const Request& req, int status, std::chrono::steady_clock::time_point started) {
    if (server_.hooks.on_complete)
      server_.hooks.on_complete(
          Completion{req, status, std::chrono::steady_clock::now() - started});
  }

  template <class Message>
  void apply_headers(Message& out, const Headers& own) {
    for (const auto& [name, value] : server_.hooks.default_headers.fields())
      if (!own.has(name)) out.insert(name, value);
    for (const auto& [name, value] : own.fields())
      out.insert(name, value);
    out.set(bh::field::date, http_date());
  }

  awaitable<bool> write_response(const Request& req, Response& res, bool keep_alive) {
    bh::response<bh::string_body> out{static_cast<bh::status>(res.status), 11};
    if (!res.reason.empty()) out.reason(res.reason);
    apply_headers(out, res.headers);
    if (!res.headers.has("Content-Type") && !res.body.empty())
      out.set(bh::field::content_type, "text/plain; charset=utf-8");
    out.body() = std::move(res.body);
    out.keep_alive(keep_alive);
    out.prepare_payload();
    beast::error_code ec;
    if (req.method == "HEAD") {
      bh::response_serializer<bh::string_body> sr{out};
      co_await bh::async_write_header(stream_, sr, net::redirect_error(use_awaitable, ec));
    } else {
      co_await bh::async_write(stream_, out, net::redirect_error(use_awaitable, ec));
    }
    co_return !ec;
  }

  awaitable<bool> write_stream(Decision& d, bool keep_alive) {
    bh::response<bh::empty_body> out{static_cast<bh::status>(d.response.status), 11};
    apply_headers(out, d.response.headers);
    out.keep_alive(keep_alive);
    out.chunked(true);
    bh::response_serializer<bh::empty_body> sr{out};
    beast::error_code ec;
    co_await bh::async_write_header(stream_, sr, net::redirect_error(use_awaitable, ec));
    if (ec) co_return false;

    auto pipe = std::make_shared<net::posix::stream_descriptor>(executor(), d.fd.release());
    // Watch the client while the body flows: when it leaves, close the pipe so the
    // handler's next write (or its wait_client_gone) notices.
    auto watched = std::make_shared<Signal>(executor());
    auto gone = std::make_shared<bool>(false);
    auto got_data = std::make_shared<bool>(false);
    auto self = this->shared_from_this();
    net::co_spawn(
        executor(),
        [self, pipe, watched, gone, got_data]() -> awaitable<void> {
          beast::error_code wec;
          auto space = self->buf_.prepare(4096);
          std::size_t n = co_await self->stream_.async_read_some(
              space, net::redirect_error(use_awaitable, wec));
          self->buf_.commit(n);
          *got_data = n > 0;
          // Cancelled with the pipe still open: the server is closing this connection
          // (stop), which is the client going away as far as the handler is concerned.
          if (wec && (wec != net::error::operation_aborted || pipe->is_open())) {
            *gone = true;
            beast::error_code ignored;
            pipe->close(ignored);
          }
          watched->set();
        },
        net::detached);

    std::vector<char> chunk(64 * 1024);
    bool client_ok = true;
    for (;;) {
      std::size_t n = co_await pipe->async_read_some(net::buffer(chunk),
                                                     net::redirect_error(use_awaitable, ec));
      if (ec) break;
      co_await net::async_write(stream_, bh::make_chunk(net::buffer(chunk.data(), n)),
                                net::redirect_error(use_awaitable, ec));
      if (ec) {
        client_ok = false;
        break;
      }
    }
    beast::error_code ignored;
    pipe->close(ignored);
    // A body the handler broke off gets no final chunk: the client sees the break.
    if (d.aborted && d.aborted->load()) client_ok = false;
    if (client_ok && !*gone) {
      co_await net::async_write(stream_, bh::make_chunk_last(),
                                net::redirect_error(use_awaitable, ec));
      client_ok = !ec;
    }
    if (!watched->is_set()) {
      stream_.lowest_layer().cancel(ignored);
      co_await watched->wait();
    }
    // A cancelled TLS read may leave the session mid-record: never reuse it.
    co_return client_ok && !*gone && !IsTls<Stream>::value;
  }

  awaitable<void> hijack(Decision d, bool upgrade) {
    std::string head;
    if (d.exact_head) {
      const Response& r = d.response;
      std::string reason = r.reason.empty()
                               ? std::string(bh::obsolete_reason(static_cast<bh::status>(r.status)))
                               : r.reason;
      head = "HTTP/1.1 " + std::to_string(r.status) + " " + reason + "\r\n";
      for (const auto& [name, value] : r.headers.fields())
        head += name + ": " + value + "\r\n";
      head += "\r\n";
    } else {
      head = upgrade ? "HTTP/1.1 101 UPGRADED\r\nContent-Type: " + d.content_type +
                           "\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
                     : "HTTP/1.1 200 OK\r\nContent-Type: " + d.content_type + "\r\n\r\n";
    }
    if (!co_await write_raw(head)) co_return;
    auto pair = std::make_shared<local::socket>(executor());
    pair->assign(local(), d.fd.release());
    auto inbound_done = std::make_shared<Signal>(executor());
    auto self = this->shared_from_this();

    // Client -> handler, starting with what arrived together with the request.
    net::co_spawn(
        executor(),
        [self, pair, inbound_done]() -> awaitable<void> {
          beast::error_code ec;
          if (self->buf_.size() > 0) {
            co_await net::async_write(*pair, self->buf_.data(),
                                      net::redirect_error(use_awaitable, ec));
            self->buf_.consume(self->buf_.size());
          }
          std::vector<char> chunk(64 * 1024);
          while (!ec) {
            std::size_t n = co_await self->stream_.async_read_some(
                net::buffer(chunk), net::redirect_error(use_awaitable, ec));
            if (ec) break;
            co_await net::async_write(*pair, net::buffer(chunk.data(), n),
                                      net::redirect_error(use_awaitable, ec));
          }
          beast::error_code ignored;
          if (ec == net::error::eof || ec == net::ssl::error::stream_truncated)
            pair->shutdown(net::socket_base::shutdown_send, ignored);  // stdin half-close
          else  // gone, or the server closed the connection (stop): the handler must see it
            pair->close(ignored);
          inbound_done->set();
        },
        net::detached);

    // Handler -> client.
    std::vector<char> chunk(64 * 1024);
    beast::error_code ec;
    for (;;) {
      std::size_t n = co_await pair->async_read_some(net::buffer(chunk),
                                                     net::redirect_error(use_awaitable, ec));
      if (ec) break;
      co_await net::async_write(stream_, net::buffer(chunk.data(), n),
                                net::redirect_error(use_awaitable, ec));
      if (ec) break;
    }
    beast::error_code ignored;
    if constexpr (!IsTls<Stream>::value)
      stream_.lowest_layer().shutdown(net::socket_base::shutdown_send, ignored);
    // Give the client a moment to see the end and close its side, then close ours.
    co_await inbound_done->wait_for(std::chrono::milliseconds(2000));
    stream_.lowest_layer().cancel(ignored);
    co_await inbound_done->wait();
    pair->close(ignored);
  }

  // Bridges a WebSocket and the handler's socket: messages of the handler's kind out,
  // message payloads in; a close frame when the handler closes its end.
  awaitable<void> websocket(Decision d, const bh::request<bh::empty_body>& upgrade) {
    auto ws = std::make_shared<bws::stream<Stream&>>(stream_);
    // The handshake's answer is the server's own, so it carries the usual fields (and
    // Beast leaves its Server field out when there is one).
    ws->set_option(bws::stream_base::decorator([hooks = &server_.hooks](bws::response_type& res) {
      for (const auto& [name, value] : hooks->default_headers.fields())
        res.set(name, value);
    }));
    beast::error_code ec;
    if (buf_.size() > 0) spdlog::debug("dropping {} bytes sent before the handshake", buf_.size());
    co_await ws->async_accept(upgrade, net::redirect_error(use_awaitable, ec));
    if (ec) {
      spdlog::debug("WebSocket handshake: {}", ec.message());
      co_return;
    }
    ws->binary(d.messages == WebSocketMessages::Binary);
    auto pair = std::make_shared<local::socket>(executor());
    pair->assign(local(), d.fd.release());
    auto inbound_done = std::make_shared<Signal>(executor());
    // The handler hears of a close frame at once, not only when Beast's teardown (which
    // waits for the client to hang up) lets the read complete.
    ws->control_callback([pair](bws::frame_type kind, beast::string_view) {
      beast::error_code ignored;
      if (kind == bws::frame_type::close) pair->close(ignored);
    });

    // Client -> handler. However the WebSocket ends, the handler's reads see EOF.
    net::co_spawn(
        executor(),
        [ws, pair, inbound_done]() -> awaitable<void> {
          beast::flat_buffer message;
          beast::error_code rec;
          for (;;) {
            co_await ws->async_read(message, net::redirect_error(use_awaitable, rec));
            if (rec) break;
            co_await net::async_write(*pair, message.data(),
                                      net::redirect_error(use_awaitable, rec));
            if (rec) break;
            message.consume(message.size());
          }
          beast::error_code ignored;
          pair->close(ignored);
          inbound_done->set();
        },
        net::detached);

    // Handler -> client.
    std::vector<char> chunk(64 * 1024);
    for (;;) {
      std::size_t n = co_await pair->async_read_some(net::buffer(chunk),
                                                     net::redirect_error(use_awaitable, ec));
      if (ec) break;
      co_await ws->async_write(net::buffer(chunk.data(), n),
                               net::redirect_error(use_awaitable, ec));
      if (ec) break;
    }
    auto closed = std::make_shared<Signal>(executor());
    if (!inbound_done->is_set() && ws->is_open()) {
      net::co_spawn(
          executor(),
          [ws, closed]() -> awaitable<void> {
            beast::error_code cec;
            co_await ws->async_close(bws::close_code::normal,
                                     net::redirect_error(use_awaitable, cec));
            closed->set();
          },
          net::detached);
    } else {
      closed->set();
    }
    // The close handshake ends the pending read. A client that never answers it, or never
    // hangs up after it, gets a moment; then the connection closes under it.
    if (!co_await inbound_done->wait_for(std::chrono::milliseconds(2000))) {
      beast::error_code ignored;
      stream_.lowest_layer().close(ignored);
    }
    co_await inbound_done->wait();
    co_await closed->wait();
  }

  static awaitable<void> pump_body(std::shared_ptr<bh::request_parser<bh::buffer_body>> parser,
                                   UniqueFd out_fd, std::shared_ptr<Signal> done,
                                   std::shared_ptr<bool> complete,
                                   std::shared_ptr<Connection> self) {
    net::posix::stream_descriptor out(self->executor(), out_fd.release());
    std::vector<char> chunk(64 * 1024);
    beast::error_code ec;
    while (!parser->is_done()) {
      parser->get().body().data = chunk.data();
      parser->get().body().size = chunk.size();
      co_await bh::async_read(self->stream_, self->buf_, *parser,
                              net::redirect_error(use_awaitable, ec));
      if (ec == bh::error::need_buffer) ec = {};
      if (ec) break;
      std::size_t n = chunk.size() - parser->get().body().size;
      if (n > 0) {
        co_await net::async_write(out, net::buffer(chunk.data(), n),
                                  net::redirect_error(use_awaitable, ec));
        if (ec) break;
      }
    }
    *complete = parser->is_done();
    beast::error_code ignored;
    out.close(ignored);
    done->set();
  }

  awaitable<bool> write_raw(const std::string& text) {
    beast::error_code ec;
    co_await net::async_write(stream_, net::buffer(text), net::redirect_error(use_awaitable, ec));
    co_return !ec;
  }

  Server::Impl& server_;
  Stream stream_;
  std::string peer_;  // the client's address, read once per connection
  beast::flat_buffer buf_;
  std::atomic<bool> idle_{true};
};

template <class Stream>
void launch(Server::Impl& impl, Stream stream) {
  auto ex = stream.get_executor();
  auto conn = std::make_shared<Connection<Stream>>(impl, std::move(stream));
  impl.add(conn);
  net::co_spawn(ex, Connection<Stream>::run(conn), net::detached);
}

std::pair<std::string, std::string> split_scheme(const std::string& address) {
  auto pos = address.find("://");
  if (pos == std::string::npos) return {"", address};
  return {address.substr(0, pos), address.substr(pos + 3)};
}

}  // namespace

Server::Server(ServerHooks hooks, std::size_t io_threads) : impl_(std::make_unique<Impl>()) {
  ::signal(SIGPIPE, SIG_IGN);
  impl_->hooks = std::move(hooks);
  if (io_threads == 0) io_threads = 1;
  for (std::size_t i = 0; i < io_threads; ++i) {
    impl_->contexts.push_back(std::make_unique<net::io_context>(1));
    impl_->guards.push_back(std::make_unique<net::executor_work_guard<ContextExecutor>>(
        impl_->contexts.back()->get_executor()));
  }
}

Server::~Server() {
  if (!impl_->threads.empty()) stop(std::chrono::milliseconds(0));
  for (const auto& path : impl_->unix_paths)
    ::unlink(path.c_str());
}

void Server::listen(const ListenerOptions& options) {
  auto [scheme, rest] = split_scheme(options.address);
  auto& ctx = *impl_->contexts.front();
  if (scheme == "unix") {
    if (options.tls)
      throw std::runtime_error("TLS is not supported on unix sockets: " + options.address);
    const std::string& path = rest;
    if (path.empty()) throw std::runtime_error("empty unix socket path in " + options.address);
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode))
        throw std::runtime_error(path + " exists and is not a socket; refusing to replace it");
      // A socket that still answers belongs to a live daemon: never steal it.
      local::socket probe(ctx);
      beast::error_code ec;
      probe.connect(local::endpoint(path), ec);
      if (!ec)
        throw std::runtime_error("another daemon is already listening on " + path +
                                 "; stop it or choose another socket with -H");
      ::unlink(path.c_str());
    }
    auto acceptor = std::make_unique<local::acceptor>(ctx);
    acceptor->open(local());
    acceptor->bind(local::endpoint(path));
    acceptor->listen(net::socket_base::max_listen_connections);
    if (::chmod(path.c_str(), options.unix_mode) != 0) throw errno_error("chmod " + path);
    if (options.unix_group != static_cast<gid_t>(-1) &&
        ::chown(path.c_str(), static_cast<uid_t>(-1), options.unix_group) != 0)
      throw errno_error("chown " + path);
    impl_->unix_paths.push_back(path);
    impl_->addresses.push_back(options.address);
    impl_->unix_acceptors.push_back(std::move(acceptor));
    return;
  }
  if (scheme != "tcp")
    throw std::runtime_error("unsupported listen address " + options.address +
                             " (want unix:///path or tcp://host:port)");
  auto colon = rest.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error("missing port in " + options.address);
  std::string host = rest.substr(0, colon), port = rest.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  tcp::resolver resolver(ctx);
  auto results = resolver.resolve(host, port, tcp::resolver::passive);
  if (results.empty()) throw std::runtime_error("cannot resolve " + options.address);
  tcp::endpoint ep = results.begin()->endpoint();
  auto acceptor = std::make_unique<tcp::acceptor>(ctx);
  acceptor->open(ep.protocol());
  acceptor->set_option(net::socket_base::reuse_address(true));
  beast::error_code ec;
  acceptor->bind(ep, ec);
  if (ec) throw std::runtime_error("cannot listen on " + options.address + ": " + ec.message());
  acceptor->listen(net::socket_base::max_listen_connections);
  auto bound = acceptor->local_endpoint();
  std::string shown = bound.address().is_v6() ? "[" + bound.address().to_string() + "]"
                                              : bound.address().to_string();
  impl_->addresses.push_back("tcp://" + shown + ":" + std::to_string(bound.port()));
  if (options.tls) {
    auto tls = std::make_shared<net::ssl::context>(net::ssl::context::tls_server);
    tls->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                     net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                     net::ssl::context::no_tlsv1_1);
    try {
      tls->use_certificate_chain_file(options.tls->cert_file);
      tls->use_private_key_file(options.tls->key_file, net::ssl::context::pem);
      if (!options.tls->ca_file.empty()) tls->load_verify_file(options.tls->ca_file);
    } catch (const std::exception& e) {
      throw std::runtime_error("could not load TLS material (cert " + options.tls->cert_file +
                               ", key " + options.tls->key_file + ", ca " + options.tls->ca_file +
                               "): " + e.what());
    }
    if (options.tls->verify_client)
      tls->set_verify_mode(net::ssl::verify_peer | net::ssl::verify_fail_if_no_peer_cert);
    impl_->tls_contexts.push_back(tls);
  } else {
    impl_->tls_contexts.push_back(nullptr);
  }
  impl_->tcp_acceptors.push_back(std::move(acceptor));
}

std::vector<std::string> Server::addresses() const {
  return impl_->addresses;
}

bool Server::stopping() const {
  return impl_->stopping.load();
}

void Server::start() {
  Impl& impl = *impl_;
  for (std::size_t i = 0; i < impl.tcp_acceptors.size(); ++i) {
    auto* acceptor = impl.tcp_acceptors[i].get();
    auto tls = impl.tls_contexts[i];
    net::co_spawn(
        acceptor->get_executor(),
        [&impl, acceptor, tls]() -> awaitable<void> {
          for (;;) {
            beast::error_code ec;
            auto& ctx = impl.pick_context();
            tcp::socket sock =
                co_await acceptor->async_accept(ctx, net::redirect_error(use_awaitable, ec));
            if (ec == net::error::operation_aborted || impl.stopping.load()) break;
            if (ec) continue;
            sock.set_option(tcp::no_delay(true), ec);
            if (tls)
              launch(impl, net::ssl::stream<tcp::socket>(std::move(sock), *tls));
            else
              launch(impl, std::move(sock));
          }
        },
        net::detached);
  }
  for (auto& a : impl.unix_acceptors) {
    auto* acceptor = a.get();
    net::co_spawn(
        acceptor->get_executor(),
        [&impl, acceptor]() -> awaitable<void> {
          for (;;) {
            beast::error_code ec;
            auto& ctx = impl.pick_context();
            local::socket sock =
                co_await acceptor->async_accept(ctx, net::redirect_error(use_awaitable, ec));
            if (ec == net::error::operation_aborted || impl.stopping.load()) break;
            if (ec) continue;
            launch(impl, std::move(sock));
          }
        },
        net::detached);
  }
  for (auto& ctx : impl.contexts)
    impl.threads.emplace_back([c = ctx.get()] { c->run(); });
}

void Server::close_listeners() {
  Impl& impl = *impl_;
  if (impl.listeners_closed.exchange(true)) return;
  auto& ctx0 = *impl.contexts.front();
  std::promise<void> closed;
  net::post(ctx0, [&impl, &closed] {
    beast::error_code ec;
    for (auto& a : impl.tcp_acceptors)
      a->close(ec);
    for (auto& a : impl.unix_acceptors)
      a->close(ec);
    closed.set_value();
  });
  closed.get_future().wait();
}

void Server::stop(std::chrono::milliseconds grace) {
  Impl& impl = *impl_;
  if (impl.stopping.exchange(true)) return;
  close_listeners();
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (impl.close_connections(true) > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  impl.close_connections(false);
  for (auto& g : impl.guards)
    g->reset();
  // Connections wind down on their own once their sockets are closed.
  auto settle = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (;;) {
    {
      std::lock_guard lock(impl.conns_mu);
      if (impl.conns.empty()) break;
    }
    if (std::chrono::steady_clock::now() > settle) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (auto& ctx : impl.contexts)
    ctx->stop();
  for (auto& t : impl.threads)
    t.join();
  impl.threads.clear();
}

}  // namespace sockerless::http
