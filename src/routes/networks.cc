// Network routes: list, inspect, create, connect, disconnect, remove, prune.
#include <nlohmann/json.hpp>

#include "api/filters.h"
#include "api/respond.h"
#include "common/errors.h"
#include "common/time.h"
#include "engine/containers.h"
#include "engine/engine.h"
#include "engine/networks.h"
#include "routes/docker_api.h"

namespace sockerless::routes {
namespace {

using nlohmann::json;

http::RouteTarget on_worker(http::Handler h) {
  return http::RouteTarget{std::move(h), http::Execution::Blocking, http::BodyMode::Buffered};
}

std::map<std::string, std::string> labels_of(const engine::NetworkRecord& n) {
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : n.labels.items())
    out[k] = v.is_string() ? v.get<std::string>() : v.dump();
  return out;
}

bool matches(const api::Filters& f, const engine::NetworkRecord& n, int users) {
  auto any = [&](const char* key, const std::function<bool(const std::string&)>& pred) {
    if (!f.has(key)) return true;
    for (const auto& v : f.values(key))
      if (pred(v)) return true;
    return false;
  };
  if (!any("name", [&](const std::string& v) { return n.name.find(v) != std::string::npos; }))
    return false;
  if (!any("id", [&](const std::string& v) { return n.id.rfind(v, 0) == 0; })) return false;
  if (!any("driver", [&](const std::string& v) { return n.driver == v; })) return false;
  if (!any("scope", [&](const std::string& v) { return n.scope == v; })) return false;
  if (!any("type", [&](const std::string& v) {
        if (v != "custom" && v != "builtin")
          throw InvalidArgument("invalid filter: 'type'='" + v + "'");
        return (v == "builtin") == n.predefined();
      }))
    return false;
  if (!any("dangling", [&](const std::string& v) {
        bool want = v == "true" || v == "1";
        if (!want && v != "false" && v != "0")
          throw InvalidArgument("invalid filter 'dangling=" + v + "'");
        return want == (!n.predefined() && users == 0);
      }))
    return false;
  return f.match_labels("label", labels_of(n));
}

}  // namespace

void add_network_routes(http::Router& router, engine::Engine& engine) {
  router.add("GET", "/networks", on_worker([&engine](http::Request& r, http::Responder& o) {
               auto f = api::Filters::parse(r.query.get("filters").value_or(""));
               f.validate({"dangling", "driver", "id", "label", "name", "scope", "type"});
               json list = json::array();
               for (const auto& n : engine.networks().list()) {
                 if (!matches(f, n, engine.containers().network_users(n.id))) continue;
                 list.push_back(engine::network_json(n, json::object()));
               }
               o.send(api::json_response(200, list));
             }));
  router.add("GET", "/networks/{id}", on_worker([&engine](http::Request& r, http::Responder& o) {
               auto n = engine.networks().get(r.param("id"));
               o.send(api::json_response(
                   200, engine::network_json(n, engine.networks().containers_on(n.id))));
             }));
  router.add("POST", "/networks/create", on_worker([&engine](http::Request& r, http::Responder& o) {
               json body = api::parse_body(r.body);
               std::string id = engine.networks().create(body);
               o.send(api::json_response(201, {{"Id", id}, {"Warning", ""}}));
             }));
  router.add("POST", "/networks/{id}/connect",
             on_worker([&engine](http::Request& r, http::Responder& o) {
               json body = api::parse_body(r.body);
               if (!body.is_object())
                 throw InvalidArgument("invalid JSON: the body must be an object");
               engine.containers().connect_network(body.value("Container", ""), r.param("id"),
                                                   body.value("EndpointConfig", json(nullptr)));
               o.send(http::Response::empty(200));
             }));
  router.add("POST", "/networks/{id}/disconnect",
             on_worker([&engine](http::Request& r, http::Responder& o) {
               json body = api::parse_body(r.body);
               if (!body.is_object())
                 throw InvalidArgument("invalid JSON: the body must be an object");
               engine.containers().disconnect_network(body.value("Container", ""), r.param("id"),
                                                      body.value("Force", false));
               o.send(http::Response::empty(200));
             }));
  router.add("DELETE", "/networks/{id}", on_worker([&engine](http::Request& r, http::Responder& o) {
               auto n = engine.networks().get(r.param("id"));
               engine.networks().remove(n.id, engine.containers().network_users(n.id));
               o.send(http::Response::empty(204));
             }));
  router.add("POST", "/networks/prune", on_worker([&engine](http::Request& r, http::Responder& o) {
               auto f = api::Filters::parse(r.query.get("filters").value_or(""));
               f.validate({"label", "label!", "until"});
               std::optional<std::int64_t> until;
               if (f.has("until")) {
                 auto t = parse_api_timestamp(f.values("until").front());
                 if (!t) throw InvalidArgument("invalid filter 'until'");
                 until = unix_nanos(*t);
               }
               auto removed = engine.networks().prune(
                   [&](const engine::NetworkRecord& n) {
                     if (until && n.created >= *until) return true;
                     return !f.match_labels("label", labels_of(n));
                   },
                   [&](const std::string& id) { return engine.containers().network_users(id); });
               o.send(api::json_response(
                   200, {{"NetworksDeleted", removed.empty() ? json(nullptr) : json(removed)}}));
             }));
}

}  // namespace sockerless::routes
