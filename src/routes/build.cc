// Build routes: POST /build (the classic builder's NDJSON stream) and POST /build/prune.
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <vector>

#include "api/json_stream.h"
#include "api/respond.h"
#include "common/errors.h"
#include "engine/builder.h"
#include "engine/engine.h"
#include "routes/docker_api.h"

namespace sockerless::routes {
namespace {

using nlohmann::json;

json parse_json_query(const http::Request& req, const char* key) {
  auto text = req.query.get(key).value_or("");
  if (text.empty()) return json::object();
  json doc = json::parse(text, nullptr, false);
  if (!doc.is_object()) throw InvalidArgument(std::string("invalid ") + key + " JSON: " + text);
  return doc;
}

engine::BuildOptions build_options(const http::Request& req) {
  if (req.query.get("version").value_or("1") == "2")
    throw InvalidArgument(
        "the BuildKit builder (version=2) is not supported by sockerless: build with the "
        "classic builder (DOCKER_BUILDKIT=0)");
  engine::BuildOptions o;
  o.dockerfile = req.query.get("dockerfile").value_or("Dockerfile");
  o.tags = req.query.all("t");
  const json build_args = parse_json_query(req, "buildargs");
  for (const auto& [k, v] : build_args.items())
    o.build_args[k] =
        v.is_string() ? std::optional<std::string>(v.get<std::string>()) : std::nullopt;
  const json labels = parse_json_query(req, "labels");
  for (const auto& [k, v] : labels.items())
    o.labels[k] = v.is_string() ? v.get<std::string>() : v.dump();
  o.target = req.query.get("target").value_or("");
  o.no_cache = req.query.get_bool("nocache");
  o.pull = req.query.get_bool("pull");
  o.force_remove = req.query.get_bool("forcerm");
  // dockerd: rm defaults to true when absent; forcerm implies it.
  o.remove = o.force_remove || req.query.get("rm").value_or("").empty() || req.query.get_bool("rm");
  o.quiet = req.query.get_bool("q");
  o.platform = req.query.get("platform").value_or("");
  o.network_mode = req.query.get("networkmode").value_or("");
  if (o.network_mode.empty()) o.network_mode = "default";
  for (const auto& v : req.query.all("extrahosts")) {
    std::stringstream s(v);
    std::string item;
    while (std::getline(s, item, ','))
      if (!item.empty()) o.extra_hosts.push_back(item);
  }
  if (auto shm = req.query.get("shmsize"); shm && !shm->empty()) {
    try {
      o.shm_size = std::stoll(*shm);
    } catch (const std::exception&) {
      throw InvalidArgument("invalid shmsize: " + *shm);
    }
  }
  o.remote = req.query.get("remote").value_or("");
  if (auto text = req.query.get("cachefrom"); text && !text->empty()) {
    json refs = json::parse(*text, nullptr, false);
    if (!refs.is_array()) throw InvalidArgument("error reading cache-from: invalid JSON: " + *text);
    for (const auto& r : refs) {
      if (!r.is_string())
        throw InvalidArgument("error reading cache-from: not a string: " + r.dump());
      o.cache_from.push_back(r.get<std::string>());
    }
  }
  return o;
}

void build(engine::Engine& engine, http::Request& req, http::Responder& out) {
  auto options = build_options(req);
  api::JsonStream stream(out);
  // With q=1 dockerd holds the output back: the image ID alone on success, everything
  // held before the error on failure.
  std::vector<json> held;
  auto emit = [&](const json& m) {
    if (options.quiet)
      held.push_back(m);
    else
      stream(m);
  };
  auto release = [&] {
    for (const auto& m : held)
      stream(m);
    held.clear();
  };
  engine::BuildOutput output;
  output.stream = [&](const std::string& text) { emit({{"stream", text}}); };
  output.message = emit;
  try {
    std::string id = engine.builder().build(req.body_fd.get(), options, output);
    if (options.quiet) stream({{"stream", id + "\n"}});
  } catch (const engine::BuildStepFailed& e) {
    release();
    stream.error(e.what(), e.code());  // a failing RUN: in the stream even before output
  } catch (const std::exception& e) {
    release();
    if (!stream.started()) throw;
    stream.error(e.what());
  }
}

void prune(engine::Engine& engine, http::Responder& out) {
  auto result = engine.builder().prune();
  out.send(api::json_response(
      200, {{"CachesDeleted", result.deleted.empty() ? json(nullptr) : json(result.deleted)},
            {"SpaceReclaimed", result.reclaimed}}));
}

}  // namespace

void add_build_routes(http::Router& router, engine::Engine& engine) {
  router.add(
      "POST", "/build",
      http::RouteTarget{[&engine](http::Request& r, http::Responder& o) { build(engine, r, o); },
                        http::Execution::Blocking, http::BodyMode::Streamed});
  router.add("POST", "/build/prune",
             http::RouteTarget{[&engine](http::Request&, http::Responder& o) { prune(engine, o); },
                               http::Execution::Blocking, http::BodyMode::Buffered});
}

}  // namespace sockerless::routes
