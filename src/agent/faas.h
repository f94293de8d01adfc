// The FaaS contracts sockerless-agent speaks when it is a function image's entrypoint:
// the AWS Lambda Runtime API loop (next invocation, response or error) and an HTTP server
// for Cloud Functions, Cloud Run services and Azure Functions custom handlers. Each
// invocation runs the container's command once: the event (request body) on its stdin, its
// stdout the answer, its exit code reported. The command runner is passed in, so the loops
// are tested against fake runtimes without processes.
#pragma once

#include <functional>
#include <map>
#include <string>

namespace sockerless::agent {

struct Invocation {
  std::string id;     // Lambda's request id; "" for HTTP
  std::string event;  // what the command reads on stdin
};

struct InvocationResult {
  int exit_code = 0;
  std::string output;  // stdout
  std::string errors;  // stderr (also kept in the container's log)
};

using Runner = std::function<InvocationResult(const Invocation&)>;

// A minimal HTTP/1.1 exchange on its own connection ("host:port" or "unix:/path").
struct HttpResult {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};
HttpResult http_call(const std::string& address, const std::string& method,
                     const std::string& target, const std::string& body,
                     const std::map<std::string, std::string>& headers = {});

// The Lambda Runtime API loop against `api` (AWS_LAMBDA_RUNTIME_API, "host:port"): GET
// …/invocation/next, run, then POST …/{id}/response (exit 0) or …/{id}/error with
// {"errorMessage","errorType"} and Lambda-Runtime-Function-Error-Type. Returns after
// `max_invocations` (0: never) or when the runtime API fails; the return value is how many
// invocations ran.
int run_lambda_loop(const std::string& api, const Runner& run, int max_invocations = 0);

// An HTTP function: each request's body is the event; the answer is 200 with the output,
// or 500 with the output and errors when the command fails. X-Sockerless-Exit-Code carries
// the exit code either way. Serves on `listener` (a listening socket) until it fails.
void serve_http_functions(int listener, const Runner& run);

}  // namespace sockerless::agent
