// What a route handler gets to answer with. A handler answers exactly once, in one of
// four ways: a complete response, a streamed body, a hijacked connection or a WebSocket.
// Streams, hijacked connections and WebSockets are plain file descriptors, so blocking
// code (and child processes) can use them without knowing about the server's event loop.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/unique_fd.h"
#include "http/message.h"

namespace sockerless::http {

// A streamed response body. Each write reaches the client as soon as the event loop
// forwards it (one chunk of chunked encoding). Destroying or closing ends the body.
class StreamWriter {
 public:
  StreamWriter() = default;
  explicit StreamWriter(UniqueFd fd, std::shared_ptr<std::atomic<bool>> aborted = nullptr)
      : fd_(std::move(fd)), aborted_(std::move(aborted)) {}

  // Writes all of data; false once the client has gone away.
  bool write(std::string_view data);
  // True once the client has gone away (the server closed the other end).
  bool client_gone() const;
  // Blocks up to timeout_ms for the client to go away; true if it did.
  bool wait_client_gone(int timeout_ms) const;
  void close() { fd_.reset(); }
  // Ends the body as broken: the client's connection is dropped without the final chunk,
  // so it sees a truncated response rather than a complete one (a relay whose source
  // failed midway).
  void abort();
  int fd() const { return fd_.get(); }

 private:
  UniqueFd fd_;
  std::shared_ptr<std::atomic<bool>> aborted_;
};

// The kind of WebSocket message that carries what a handler writes.
enum class WebSocketMessages { Binary, Text };

class Responder {
 public:
  virtual ~Responder() = default;
  // A complete response.
  virtual void send(Response response) = 0;
  // Sends status and headers now; the body follows through the returned writer
  // (chunked). Only for routes that run on a worker (Execution::Blocking).
  virtual StreamWriter stream(int status, Headers headers) = 0;
  // Takes over the connection: answers "101 UPGRADED" when the client asked to upgrade
  // (or a bare 200 otherwise) with the given content type, then returns a socket carrying
  // the client's raw bytes both ways. shutdown(SHUT_WR) on it half-closes toward the client.
  // Only for routes that run on a worker.
  virtual UniqueFd hijack(const std::string& content_type) = 0;
  // Like hijack, but the answer is exactly this status line and these header fields (no
  // defaults added): for relaying another server's upgrade, WebSocket handshakes included.
  virtual UniqueFd hijack(const Response& head) = 0;
  // Accepts a WebSocket upgrade (RFC 6455) and returns a socket: what the handler writes
  // goes to the client as messages of the given kind (one per chunk the server reads, so
  // writes may be split or joined), and the payloads of the client's messages arrive as
  // plain bytes. Closing it makes the server send a close frame and hang up; reads return
  // EOF once the client has closed or left. Throws InvalidArgument (400) when the request
  // is not a WebSocket upgrade. Only for routes that run on a worker.
  virtual UniqueFd websocket(WebSocketMessages messages) = 0;
};

using Handler = std::function<void(Request&, Responder&)>;

enum class Execution {
  Inline,    // quick and non-blocking: runs on the event loop
  Blocking,  // may block or stream: runs on a worker thread
};

enum class BodyMode {
  Buffered,  // the whole body is read into Request::body first (bounded)
  Streamed,  // the body is handed over as Request::body_fd while the handler runs
};

struct RouteTarget {
  Handler handler;
  Execution execution = Execution::Blocking;
  BodyMode body = BodyMode::Buffered;
};

}  // namespace sockerless::http
