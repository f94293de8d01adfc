#include "sims/common/simulator.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "cloud/aws/sigv4.h"
#include "common/digest.h"
#include "common/ids.h"
#include "common/log.h"
#include "http/server.h"
#include "sims/common/state.h"
#include "sims/common/workloads.h"

namespace sockerless::sims {
namespace {

std::string raw_path(const std::string& target) {
  return target.substr(0, target.find('?'));
}
std::string raw_query(const std::string& target) {
  auto q = target.find('?');
  return q == std::string::npos ? "" : target.substr(q + 1);
}

// The service name of the credential scope: "Credential=AKID/20150830/us-east-1/iam/aws4_request"
// in the Authorization header, or X-Amz-Credential in a presigned query.
std::string scope_service(const http::Request& req) {
  std::string credential;
  if (auto auth = req.headers.get("Authorization")) {
    auto at = auth->find("Credential=");
    if (at == std::string::npos) return "";
    credential = auth->substr(at + 11, auth->find_first_of(", ", at) - (at + 11));
  } else if (auto q = req.query.get("X-Amz-Credential")) {
    credential = *q;
  }
  // AKID/date/region/service/aws4_request
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    auto slash = credential.find('/', start);
    parts.push_back(credential.substr(start, slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return parts.size() == 5 ? parts[3] : "";
}

bool form_body(const http::Request& req) {
  auto ct = req.headers.get("Content-Type").value_or("");
  return ct.rfind("application/x-www-form-urlencoded", 0) == 0;
}

}  // namespace

Simulator::Simulator(SimOptions options, bool cidr_explicit) : options_(std::move(options)) {
  if (options_.data_root.empty()) throw std::runtime_error("the simulator needs a --data-root");
  std::filesystem::create_directories(options_.data_root);
  // One simulator per data root: a second would run the same tasks twice.
  std::string lock_path = options_.data_root + "/sockerless-sim.pid";
  lock_.reset(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!lock_ || ::flock(lock_.get(), LOCK_EX | LOCK_NB) != 0)
    throw std::runtime_error(
        "data root " + options_.data_root +
        " is in use by another sockerless-sim; stop it or choose another --data-root");
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(lock_.get(), 0) != 0 || ::pwrite(lock_.get(), pid.data(), pid.size(), 0) < 0)
    throw std::runtime_error("cannot write " + lock_path);
  if (options_.credentials.empty()) options_.credentials["test"] = "test";
  state_ = std::make_unique<State>(options_.data_root + "/sim.db");
  workloads_ = std::make_unique<Workloads>(options_.data_root + "/workloads", options_.vpc_cidr,
                                           cidr_explicit);
  auto colon = options_.listen.rfind(':');
  if (colon == std::string::npos)
    throw std::runtime_error("--listen " + options_.listen + ": give HOST:PORT");
  port_ = std::stoi(options_.listen.substr(colon + 1));
}

Simulator::~Simulator() = default;

std::string Simulator::endpoint() const {
  std::string host = options_.listen.substr(0, options_.listen.rfind(':'));
  if (host == "0.0.0.0" || host.empty()) host = "127.0.0.1";
  return host + ":" + std::to_string(port_);
}

std::string Simulator::vpc_endpoint() const {
  return workloads_->gateway() + ":" + std::to_string(port_);
}

void Simulator::add(std::shared_ptr<AwsService> service) {
  services_.push_back(std::move(service));
}

void Simulator::add_route(const std::string& method, const std::string& pattern,
                          http::RouteTarget target) {
  unsigned_routes_.add(method, pattern, std::move(target));
}

void Simulator::add_prefix(const std::string& prefix,
                           std::function<http::RouteTarget(http::Request&)> resolve) {
  prefixes_.emplace_back(prefix, std::move(resolve));
}

std::shared_ptr<AwsService> Simulator::service_for_target(const std::string& prefix) const {
  for (const auto& s : services_)
    if (s->protocol() == Protocol::kJson && s->target_prefix() == prefix) return s;
  return nullptr;
}

std::shared_ptr<AwsService> Simulator::service_for_path(const std::string& path) const {
  for (const auto& s : services_)
    if (s->protocol() == Protocol::kRestJson)
      for (const auto& p : s->rest_prefixes())
        if (path.rfind(p, 0) == 0) return s;
  return nullptr;
}

std::shared_ptr<AwsService> Simulator::service_named(const std::string& signing_name) const {
  for (const auto& s : services_)
    if (s->signing_name() == signing_name) return s;
  return nullptr;
}

http::Response Simulator::handle(http::Request& req) {
  AwsContext ctx;
  ctx.request_id = random_uuid();
  ctx.account_id = options_.account_id;
  ctx.host = req.headers.get("Host").value_or(endpoint());

  // Which service, in which protocol, and which operation.
  std::shared_ptr<AwsService> service;
  Protocol protocol = Protocol::kJson;
  std::string operation;
  std::vector<std::pair<std::string, std::string>> form;
  std::string path = raw_path(req.target);
  if (auto target = req.headers.get("X-Amz-Target")) {
    auto dot = target->rfind('.');
    std::string prefix = dot == std::string::npos ? *target : target->substr(0, dot);
    operation = dot == std::string::npos ? "" : target->substr(dot + 1);
    service = service_for_target(prefix);
    if (!service)
      return error_answer(Protocol::kJson,
                          AwsError(400, "UnknownOperationException",
                                   "sockerless-sim serves no service with target " + prefix),
                          ctx.request_id);
  } else if ((service = service_for_path(path))) {
    protocol = Protocol::kRestJson;
  } else if (form_body(req) || req.query.has("Action")) {
    auto q = form_body(req) ? http::Query::parse(req.body) : req.query;
    form = q.items();
    operation = q.get("Action").value_or("");
    std::string name = scope_service(req);
    service = service_named(name);
    protocol = service ? service->protocol() : Protocol::kQuery;
    if (!service)
      return error_answer(Protocol::kQuery,
                          AwsError(name.empty() ? 403 : 400,
                                   name.empty() ? "MissingAuthenticationToken" : "InvalidAction",
                                   name.empty() ? "Request is missing Authentication Token"
                                                : "sockerless-sim serves no service " + name),
                          ctx.request_id);
  } else {
    return error_answer(Protocol::kRestJson,
                        AwsError(404, "UnknownOperationException",
                                 "sockerless-sim has no operation for " + req.method + " " + path),
                        ctx.request_id);
  }
  ctx.service = service->signing_name();

  auto fail = [&](const AwsError& e) {
    return error_answer(protocol, e, ctx.request_id, service->json_content_type(),
                        service->xml_namespace());
  };

  // The signature, over exactly what arrived.
  cloud::aws::SignableRequest signable;
  signable.method = req.method;
  signable.raw_path = path;
  signable.raw_query = raw_query(req.target);
  for (const auto& [k, v] : req.headers.fields())
    signable.headers.emplace_back(k, v);
  signable.payload_sha256_hex = sha256_digest(req.body).substr(7);
  cloud::aws::VerifyOptions verify_options;
  verify_options.service = service->signing_name();
  // IAM is global: its requests are signed for us-east-1 whatever the region served.
  std::string scope_region = service->signing_name() == "iam" ? "us-east-1" : options_.region;
  verify_options.region = scope_region;
  if (protocol == Protocol::kQuery || protocol == Protocol::kEc2)
    verify_options.max_skew = std::chrono::minutes(15);
  auto verdict = cloud::aws::verify(
      signable,
      [this](std::string_view key) -> std::optional<std::string> {
        auto it = options_.credentials.find(std::string(key));
        if (it == options_.credentials.end()) return std::nullopt;
        return it->second;
      },
      std::chrono::system_clock::now(), verify_options);
  if (auto* err = std::get_if<cloud::aws::VerifyError>(&verdict)) {
    auto e = cloud::aws::aws_error(*err, protocol);
    spdlog::debug("{} refused: {}\ncanonical request:\n{}", ctx.service, err->message,
                  err->canonical_request);
    return fail(AwsError(e.http_status, e.code, e.message));
  }
  const auto& who = std::get<cloud::aws::Verified>(verdict);
  ctx.region = options_.region;
  ctx.access_key_id = who.access_key_id;

  try {
    switch (protocol) {
      case Protocol::kJson: {
        nlohmann::json input = nlohmann::json::object();
        if (!req.body.empty()) {
          input = nlohmann::json::parse(req.body, nullptr, false);
          if (input.is_discarded() || !input.is_object())
            return fail(AwsError(400, "SerializationException",
                                 "Start of structure or map found where not expected."));
        }
        auto out = service->call(operation, input, ctx);
        return json_answer(200, out.is_null() ? nlohmann::json::object() : out,
                           service->json_content_type(), ctx.request_id);
      }
      case Protocol::kRestJson:
        return service->rest(req, ctx);
      case Protocol::kQuery:
        return query_answer(operation, service->call(operation, query_input(form), ctx),
                            service->xml_namespace(), ctx.request_id);
      case Protocol::kEc2:
        return ec2_answer(operation, service->call(operation, query_input(form), ctx),
                          service->xml_namespace(), ctx.request_id);
    }
  } catch (const AwsError& e) {
    return fail(e);
  } catch (const std::exception& e) {
    spdlog::error("{} {}: {}", ctx.service, operation, e.what());
    return fail(AwsError(500, protocol == Protocol::kJson ? "ServerException" : "InternalFailure",
                         e.what(), false));
  }
  return fail(AwsError(500, "InternalFailure", "unknown protocol", false));
}

void Simulator::serve(sigset_t& signals) {
  http::ServerHooks hooks;
  hooks.max_body_bytes = 64 << 20;
  hooks.resolve = [this](http::Request& req) -> http::RouteTarget {
    std::string path = raw_path(req.target);
    req.path = http::percent_decode(path, false);
    for (const auto& [prefix, resolve] : prefixes_)
      if (path.rfind(prefix, 0) == 0 || path + "/" == prefix) return resolve(req);
    auto m = unsigned_routes_.match(req.method, req.path);
    if (m.route) {
      req.params = m.params;
      req.route = m.route->pattern;
      return m.route->target;
    }
    req.route = "aws";
    return http::RouteTarget{
        [this](http::Request& r, http::Responder& out) { out.send(handle(r)); },
        http::Execution::Blocking, http::BodyMode::Buffered};
  };
  hooks.error_response = [](std::exception_ptr e) {
    std::string message = "internal error";
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      message = x.what();
    } catch (...) {
    }
    return error_answer(Protocol::kJson, AwsError(500, "InternalFailure", message, false),
                        random_uuid());
  };
  hooks.on_complete = [](const http::Completion& c) {
    spdlog::debug("{} {} {} {:.3f}ms", c.request.method, c.request.target, c.status,
                  std::chrono::duration<double, std::milli>(c.elapsed).count());
  };
  http::Server server(std::move(hooks), 2);
  std::string host = options_.listen.substr(0, options_.listen.rfind(':'));
  server.listen(http::ListenerOptions{"tcp://" + options_.listen, std::nullopt});
  auto bound = server.addresses().front();
  port_ = std::stoi(bound.substr(bound.rfind(':') + 1));
  // Workloads on the VPC reach the simulator (the Runtime API, the registry) at the
  // gateway, as functions reach AWS's endpoints from a VPC.
  if (host != "0.0.0.0" && host != workloads_->gateway())
    server.listen(http::ListenerOptions{"tcp://" + vpc_endpoint(), std::nullopt});
  server.start();
  spdlog::info("sockerless-sim ready on http://{} (VPC {}, workloads reach it at {})", endpoint(),
               workloads_->vpc_cidr(), vpc_endpoint());

  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("received {}, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
  server.close_listeners();
  for (auto& fn : shutdown_hooks_)
    fn();
  workloads_->stop_all(std::chrono::seconds(10));
  server.stop(std::chrono::milliseconds(2000));
}

}  // namespace sockerless::sims
