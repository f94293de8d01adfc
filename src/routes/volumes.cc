// Volume routes: create, list, inspect, remove, prune.
#include <nlohmann/json.hpp>

#include "api/filters.h"
#include "api/respond.h"
#include "common/errors.h"
#include "engine/engine.h"
#include "engine/volumes.h"
#include "routes/docker_api.h"

namespace sockerless::routes {
namespace {

using nlohmann::json;

http::RouteTarget on_worker(http::Handler h) {
  return http::RouteTarget{std::move(h), http::Execution::Blocking, http::BodyMode::Buffered};
}

std::map<std::string, std::string> string_map(const json& j, const char* key) {
  std::map<std::string, std::string> out;
  if (j.contains(key) && j[key].is_object())
    for (const auto& [k, v] : j[key].items())
      out[k] = v.is_string() ? v.get<std::string>() : v.dump();
  return out;
}

// A string field that may be absent or null ("" then).
std::string string_field(const json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

}  // namespace

void add_volume_routes(http::Router& router, engine::Engine& engine) {
  router.add("GET", "/volumes", on_worker([&engine](http::Request& r, http::Responder& o) {
               auto filters = api::Filters::parse(r.query.get("filters").value_or(""));
               json list = json::array();
               for (const auto& v : engine.volumes().list(filters))
                 list.push_back(v.to_json());
               o.send(api::json_response(200, {{"Volumes", list}, {"Warnings", nullptr}}));
             }));
  router.add("POST", "/volumes/create", on_worker([&engine](http::Request& r, http::Responder& o) {
               json body = api::parse_body(r.body);
               if (!body.is_object())
                 throw InvalidArgument("invalid JSON: the body must be an object");
               auto v = engine.volumes().create(
                   string_field(body, "Name"), string_field(body, "Driver"),
                   string_map(body, "Labels"), string_map(body, "DriverOpts"), false,
                   body.contains("Labels") && body["Labels"].is_object(),
                   body.contains("DriverOpts") && body["DriverOpts"].is_object());
               o.send(api::json_response(201, v.to_json()));
             }));
  router.add("POST", "/volumes/prune", on_worker([&engine](http::Request& r, http::Responder& o) {
               auto filters = api::Filters::parse(r.query.get("filters").value_or(""));
               auto [removed, reclaimed] = engine.volumes().prune(filters);
               o.send(api::json_response(
                   200, {{"VolumesDeleted", removed.empty() ? json(nullptr) : json(removed)},
                         {"SpaceReclaimed", reclaimed}}));
             }));
  router.add("GET", "/volumes/{name}", on_worker([&engine](http::Request& r, http::Responder& o) {
               o.send(api::json_response(200, engine.volumes().get(r.param("name")).to_json()));
             }));
  router.add("DELETE", "/volumes/{name}",
             on_worker([&engine](http::Request& r, http::Responder& o) {
               engine.volumes().remove(r.param("name"), r.query.get_bool("force"));
               o.send(http::Response::empty(204));
             }));
}

}  // namespace sockerless::routes
