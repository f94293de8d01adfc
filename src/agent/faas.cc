#include "agent/faas.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <thread>

#include "agent/link.h"

namespace sockerless::agent {

namespace {

// Reads until `buf` holds `n` bytes (or EOF).
bool read_until(int fd, std::string& buf, std::size_t n) {
  char chunk[65536];
  while (buf.size() < n) {
    ssize_t r = ::recv(fd, chunk, sizeof chunk, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    buf.append(chunk, static_cast<std::size_t>(r));
  }
  return true;
}

// A body after its head: by Content-Length, chunked, or (answers only) to EOF.
std::string read_body(int fd, std::string rest, const std::map<std::string, std::string>& headers,
                      bool to_eof) {
  if (auto te = headers.find("transfer-encoding");
      te != headers.end() && te->second.find("chunked") != std::string::npos) {
    std::string body;
    for (;;) {
      std::size_t eol;
      while ((eol = rest.find("\r\n")) == std::string::npos)
        if (!read_until(fd, rest, rest.size() + 1)) throw std::runtime_error("truncated chunk");
      std::size_t size = std::stoul(rest.substr(0, eol), nullptr, 16);
      rest.erase(0, eol + 2);
      if (!read_until(fd, rest, size + 2)) throw std::runtime_error("truncated chunk");
      if (size == 0) return body;
      body.append(rest, 0, size);
      rest.erase(0, size + 2);
    }
  }
  if (auto cl = headers.find("content-length"); cl != headers.end()) {
    std::size_t n = std::stoul(cl->second);
    if (!read_until(fd, rest, n)) throw std::runtime_error("truncated body");
    return rest.substr(0, n);
  }
  if (to_eof) read_until(fd, rest, std::string::npos);
  return rest;
}

std::string reason_of(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 500:
      return "Internal Server Error";
    default:
      return "Status";
  }
}

}  // namespace

HttpResult http_call(const std::string& address, const std::string& method,
                     const std::string& target, const std::string& body,
                     const std::map<std::string, std::string>& headers) {
  UniqueFd fd = dial(address);
  std::string request = method + " " + target + " HTTP/1.1\r\nHost: " + address +
                        "\r\nConnection: close\r\nContent-Length: " + std::to_string(body.size()) +
                        "\r\n";
  for (const auto& [k, v] : headers)
    request += k + ": " + v + "\r\n";
  request += "\r\n" + body;
  if (!send_all(fd.get(), request))
    throw std::runtime_error("the connection to " + address + " broke");
  HttpResult r;
  std::string rest;
  std::string first = parse_http_head(read_http_head(fd.get(), rest), r.headers);
  auto sp = first.find(' ');
  if (sp == std::string::npos) throw std::runtime_error("a malformed answer from " + address);
  r.status = std::atoi(first.c_str() + sp + 1);
  r.body = read_body(fd.get(), std::move(rest), r.headers, true);
  return r;
}

int run_lambda_loop(const std::string& api, const Runner& run, int max_invocations) {
  const std::string base = "/2018-06-01/runtime/invocation/";
  int done = 0;
  while (max_invocations == 0 || done < max_invocations) {
    HttpResult next;
    try {
      next = http_call(api, "GET", base + "next", "");
    } catch (const std::exception&) {
      return done;  // the runtime went away: the function's environment is ending
    }
    if (next.status != 200) return done;
    Invocation inv;
    inv.id = next.headers["lambda-runtime-aws-request-id"];
    inv.event = next.body;
    InvocationResult result = run(inv);
    ++done;
    try {
      if (result.exit_code == 0) {
        http_call(api, "POST", base + inv.id + "/response", result.output);
      } else {
        nlohmann::json error = {
            {"errorMessage", "the command exited with code " + std::to_string(result.exit_code) +
                                 (result.errors.empty() ? "" : ": " + result.errors)},
            {"errorType", "Sockerless.ExitCode." + std::to_string(result.exit_code)},
            {"exitCode", result.exit_code},
            {"output", result.output}};
        http_call(api, "POST", base + inv.id + "/error",
                  error.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                  {{"Content-Type", "application/json"},
                   {"Lambda-Runtime-Function-Error-Type", "Unhandled"}});
      }
    } catch (const std::exception&) {
      return done;
    }
  }
  return done;
}

void serve_http_functions(int listener, const Runner& run) {
  for (;;) {
    int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;
    }
    std::thread([fd, run] {
      UniqueFd conn(fd);
      try {
        std::string rest;
        std::map<std::string, std::string> headers;
        parse_http_head(read_http_head(conn.get(), rest), headers);
        Invocation inv;
        inv.event = read_body(conn.get(), std::move(rest), headers, false);
        InvocationResult result = run(inv);
        int status = result.exit_code == 0 ? 200 : 500;
        std::string body = status == 200 ? result.output : result.output + result.errors;
        std::string answer = "HTTP/1.1 " + std::to_string(status) + " " + reason_of(status) +
                             "\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
                             std::to_string(body.size()) +
                             "\r\nX-Sockerless-Exit-Code: " + std::to_string(result.exit_code) +
                             "\r\nConnection: close\r\n\r\n" + body;
        send_all(conn.get(), answer);
      } catch (const std::exception& e) {
        std::string msg = std::string(e.what()) + "\n";
        send_all(conn.get(),
                 "HTTP/1.1 400 Bad Request\r\nContent-Length: " + std::to_string(msg.size()) +
                     "\r\nConnection: close\r\n\r\n" + msg);
      }
    }).detach();
  }
}

}  // namespace sockerless::agent
