// Image routes: pull, list, inspect, history, tag, delete, prune.
#include <fnmatch.h>

#include <nlohmann/json.hpp>

#include "api/errors.h"
#include "api/filters.h"
#include "api/json_stream.h"
#include "api/respond.h"
#include "common/errors.h"
#include "common/time.h"
#include "engine/containers.h"
#include "engine/engine.h"
#include "image/credentials.h"
#include "image/image_service.h"
#include "image/reference.h"
#include "routes/docker_api.h"

namespace sockerless::routes {
namespace {

using nlohmann::json;

http::RouteTarget on_worker(http::Handler h) {
  return http::RouteTarget{std::move(h), http::Execution::Blocking, http::BodyMode::Buffered};
}

http::RouteTarget streamed_body(http::Handler h) {
  return http::RouteTarget{std::move(h), http::Execution::Blocking, http::BodyMode::Streamed};
}

std::vector<std::string> familiar(const std::vector<std::string>& refs) {
  std::vector<std::string> out;
  for (const auto& r : refs) {
    try {
      out.push_back(image::parse_reference(r).familiar());
    } catch (const InvalidArgument&) {
      out.push_back(r);
    }
  }
  return out;
}

json parse_config(const image::ImageRecord& r) {
  json c = json::parse(r.config, nullptr, false);
  return c.is_object() ? c : json::object();
}

// The container-config shape dockerd shows for an image's Config: every field, with
// Go's zero values where the image says nothing, and omitempty fields only when set.
json full_container_config(const json& in) {
  json c = json::object();
  auto take = [&](const char* key, json fallback) {
    c[key] = in.contains(key) ? in[key] : fallback;
  };
  take("Hostname", "");
  take("Domainname", "");
  take("User", "");
  take("AttachStdin", false);
  take("AttachStdout", false);
  take("AttachStderr", false);
  if (in.contains("ExposedPorts")) c["ExposedPorts"] = in["ExposedPorts"];
  take("Tty", false);
  take("OpenStdin", false);
  take("StdinOnce", false);
  take("Env", nullptr);
  take("Cmd", nullptr);
  for (const char* k : {"Healthcheck", "ArgsEscaped"})
    if (in.contains(k)) c[k] = in[k];
  take("Image", "");
  take("Volumes", nullptr);
  take("WorkingDir", "");
  take("Entrypoint", nullptr);
  for (const char* k : {"NetworkDisabled", "MacAddress"})
    if (in.contains(k)) c[k] = in[k];
  take("OnBuild", nullptr);
  take("Labels", nullptr);
  for (const char* k : {"StopSignal", "StopTimeout", "Shell"})
    if (in.contains(k)) c[k] = in[k];
  return c;
}

std::int64_t created_unix(const json& config) {
  if (config.contains("created") && config["created"].is_string())
    if (auto t = parse_api_timestamp(config["created"].get<std::string>()))
      return unix_nanos(*t) / 1'000'000'000;
  return 0;
}

json inspect_doc(engine::Engine& engine, const image::ImageRecord& r, bool api_before_144) {
  json config = parse_config(r);
  json layers = json::array();
  for (const auto& l : r.layers)
    layers.push_back(l.diff_id);
  json doc = {
      {"Id", r.id},
      {"RepoTags", familiar(r.tags)},
      {"RepoDigests", familiar(r.digests)},
      {"Parent", r.parent},
      {"Comment", config.value("comment", "")},
      {"Created", config.value("created", "")},
      {"Container", config.value("container", "")},
      {"ContainerConfig", full_container_config(config.value("container_config", json::object()))},
      {"DockerVersion", config.value("docker_version", "")},
      {"Author", config.value("author", "")},
      {"Config", full_container_config(config.value("config", json::object()))},
      {"Architecture", config.value("architecture", "")},
      {"Os", config.value("os", "")},
      {"Size", r.size},
      {"GraphDriver", {{"Data", nullptr}, {"Name", engine.backend().describe().driver}}},
      {"RootFS", {{"Type", "layers"}, {"Layers", layers}}},
      {"Metadata",
       {{"LastTagTime", r.last_tag_time ? format_rfc3339_nano(from_unix_nanos(r.last_tag_time))
                                        : "0001-01-01T00:00:00Z"}}},
  };
  if (config.contains("variant")) doc["Variant"] = config["variant"];
  if (api_before_144) doc["VirtualSize"] = r.size;
  if (config.contains("os.version")) doc["OsVersion"] = config["os.version"];
  return doc;
}

// Glob match of a reference filter against an image reference, the way dockerd's
// FamiliarMatch does: the familiar string, then the familiar name alone.
bool reference_matches(const std::string& pattern, const std::string& normalised) {
  try {
    auto ref = image::parse_reference(normalised);
    if (::fnmatch(pattern.c_str(), ref.familiar().c_str(), FNM_PATHNAME) == 0) return true;
    return ::fnmatch(pattern.c_str(), ref.familiar_name().c_str(), FNM_PATHNAME) == 0;
  } catch (const InvalidArgument&) {
    return false;
  }
}

// Before API 1.44 dockerd sent null for an empty reference list; 1.44 makes them
// non-nullable arrays.
json refs_json(const std::vector<std::string>& refs, const http::Request& req) {
  if (refs.empty() && req.api_before(1, 44)) return nullptr;
  return refs;
}

void list_images(engine::Engine& engine, http::Request& req, http::Responder& out) {
  auto filters = api::Filters::parse(req.query.get("filters").value_or(""));
  filters.validate({"before", "dangling", "label", "reference", "since", "until"});
  auto& store = engine.images().store();
  auto images = store.list();
  auto created_of = [&](const std::string& name) {
    auto r = store.resolve(name);
    return created_unix(parse_config(r));
  };
  std::optional<std::int64_t> before, since;
  if (filters.has("before")) before = created_of(filters.values("before").front());
  if (filters.has("since")) since = created_of(filters.values("since").front());
  // dockerd's rules: dangling=true lists images without tags; dangling=false drops only
  // images with no reference at all (an image with just a digest shows under both).
  bool dangling_only = false;
  if (filters.has("dangling")) {
    auto values = filters.values("dangling");
    if (filters.exact_match("dangling", "true"))
      dangling_only = true;
    else if (!filters.exact_match("dangling", "false"))
      throw InvalidArgument("invalid filter 'dangling=[" + values.front() + "]'");
  }
  bool shared = req.query.get_bool("shared-size");
  json list = json::array();
  for (const auto& r : images) {
    json config = parse_config(r);
    std::int64_t created = created_unix(config);
    if (before && created >= *before) continue;
    if (since && created <= *since) continue;
    json labels = config.contains("config") && config["config"].contains("Labels")
                      ? config["config"]["Labels"]
                      : json();
    std::map<std::string, std::string> label_map;
    if (labels.is_object())
      for (const auto& [k, v] : labels.items())
        label_map[k] = v.is_string() ? v.get<std::string>() : v.dump();
    if (!filters.match_labels("label", label_map)) continue;
    std::vector<std::string> tags = r.tags, digests = r.digests;
    if (filters.has("reference")) {
      auto matching = [&](const std::vector<std::string>& refs) {
        std::vector<std::string> kept;
        for (const auto& ref : refs)
          for (const auto& pattern : filters.values("reference"))
            if (reference_matches(pattern, ref)) {
              kept.push_back(ref);
              break;
            }
        return kept;
      };
      tags = matching(r.tags);
      digests = matching(r.digests);
    }
    if (tags.empty() && digests.empty()) {
      if (filters.has("dangling") && !dangling_only) continue;
      if (filters.has("reference")) continue;
    } else if (dangling_only && !tags.empty()) {
      continue;
    }
    json item = {
        {"Id", r.id},
        {"ParentId", r.parent},
        {"RepoTags", refs_json(familiar(tags), req)},
        {"RepoDigests", refs_json(familiar(digests), req)},
        {"Created", created},
        {"Size", r.size},
        {"SharedSize", shared ? store.shared_size(r.id) : -1},
        {"Labels", labels.is_object() ? labels : json(nullptr)},
        {"Containers", -1},
    };
    if (req.api_before(1, 44)) item["VirtualSize"] = r.size;
    list.push_back(std::move(item));
  }
  out.send(api::json_response(200, list));
}

json history_doc(const image::ImageRecord& r) {
  json config = parse_config(r);
  json out = json::array();
  std::size_t layer = 0;
  std::vector<json> entries;
  json history = config.value("history", json::array());
  if (!history.is_array() || history.empty()) {
    for (const auto& l : r.layers)
      entries.push_back({{"Created", created_unix(config)},
                         {"CreatedBy", ""},
                         {"Size", l.size},
                         {"Comment", ""}});
  } else {
    for (const auto& h : history) {
      bool empty = h.value("empty_layer", false);
      std::int64_t size = 0;
      if (!empty && layer < r.layers.size()) size = r.layers[layer++].size;
      std::int64_t created = 0;
      if (h.contains("created") && h["created"].is_string())
        if (auto t = parse_api_timestamp(h["created"].get<std::string>()))
          created = unix_nanos(*t) / 1'000'000'000;
      entries.push_back({{"Created", created},
                         {"CreatedBy", h.value("created_by", "")},
                         {"Size", size},
                         {"Comment", h.value("comment", "")}});
    }
  }
  for (std::size_t i = entries.size(); i-- > 0;) {
    json e = entries[i];
    bool top = i + 1 == entries.size();
    e["Id"] = top ? json(r.id) : json("<missing>");
    e["Tags"] = top && !r.tags.empty() ? json(familiar(r.tags)) : json(nullptr);
    out.push_back(e);
  }
  return out;
}

image::AuthConfig client_auth(const http::Request& req) {
  auto header = req.headers.get("X-Registry-Auth");
  if (!header || header->empty()) return {};
  // Like dockerd, a header that does not decode is treated as no credentials.
  try {
    return image::decode_registry_auth(*header);
  } catch (const InvalidArgument&) {
    return {};
  }
}

using api::JsonStream;

std::vector<std::string> changes_of(const http::Request& req) {
  return req.query.all("changes");
}

void import_image(engine::Engine& engine, http::Request& req, http::Responder& out) {
  std::string src = req.query.get("fromSrc").value_or("");
  if (src != "-")
    throw NotImplemented("ImageCreate from a URL (fromSrc=" + src +
                         ") is not implemented by sockerless yet");
  std::string repo = req.query.get("repo").value_or("");
  std::string tag = req.query.get("tag").value_or("");
  if (!repo.empty() && !tag.empty()) repo += ":" + tag;
  std::string id = engine.images().import(req.body_fd.get(), repo, changes_of(req),
                                          req.query.get("message").value_or(""),
                                          req.query.get("platform").value_or(""));
  JsonStream stream(out);
  stream({{"status", id}});
}

void pull(engine::Engine& engine, http::Request& req, http::Responder& out) {
  if (req.query.has("fromSrc")) return import_image(engine, req, out);
  std::string from = req.query.get("fromImage").value_or("");
  if (from.empty()) throw InvalidArgument("fromImage or fromSrc is required");
  std::string tag = req.query.get("tag").value_or("");
  std::string reference = from;
  // No tag at all (docker pull -a sends an empty one) means every tag, as with dockerd.
  bool all_tags = tag.empty();
  if (!tag.empty()) {
    auto ref = image::parse_reference(from);
    if (!ref.tag.empty() || !ref.digest.empty())
      throw InvalidArgument("cannot specify a tag both in fromImage and in tag: " + from + " and " +
                            tag);
    reference += (image::valid_digest(tag) ? "@" : ":") + tag;
  }
  auto auth = client_auth(req);
  JsonStream stream(out);
  stream.run([&] {
    engine.images().pull(reference, req.query.get("platform").value_or(""), auth, std::ref(stream),
                         all_tags);
  });
}

void push(engine::Engine& engine, http::Request& req, http::Responder& out) {
  auto auth = client_auth(req);
  JsonStream stream(out);
  stream.run([&] {
    engine.images().push(req.param("name"), req.query.get("tag").value_or(""), auth,
                         std::ref(stream));
  });
}

void save(engine::Engine& engine, const std::vector<std::string>& names, http::Responder& out) {
  if (names.empty()) throw InvalidArgument("no images to save: give names=…");
  // 404 before the stream starts, with dockerd's wording for save.
  for (const auto& n : names)
    if (!engine.images().store().find(n)) throw NotFound("reference does not exist");
  http::Headers h;
  h.set("Content-Type", "application/x-tar");
  auto stream = out.stream(200, std::move(h));
  engine.images().save(names, stream.fd());
}

void load(engine::Engine& engine, http::Request& req, http::Responder& out) {
  bool quiet = req.query.get_bool("quiet");
  std::vector<std::string> lines;
  JsonStream stream(out);
  try {
    engine.images().load(req.body_fd.get(),
                         [&](const std::string& line) { lines.push_back(line); });
  } catch (const NotImplemented&) {
    throw;
  } catch (const std::exception& e) {
    // As dockerd: 200 and a JSON stream whatever the upload was; a load that fails says
    // why in it, where the CLI and the SDKs read it.
    stream.error(e.what());
    return;
  }
  for (const auto& l : lines)
    stream({{"stream", l + "\n"}});
  if (lines.empty() && !quiet) stream({{"stream", ""}});
}

void remove_image(engine::Engine& engine, http::Request& req, http::Responder& out) {
  auto result = engine.images().remove(
      req.param("name"), req.query.get_bool("force"), !req.query.get_bool("noprune"),
      [&engine](const std::string& id) { return engine.containers().image_user(id); });
  json list = json::array();
  for (const auto& u : result.untagged)
    list.push_back({{"Untagged", u}});
  for (const auto& d : result.deleted)
    list.push_back({{"Deleted", d}});
  out.send(api::json_response(200, list));
}

void tag_image(engine::Engine& engine, http::Request& req, http::Responder& out) {
  std::string repo = req.query.get("repo").value_or("");
  std::string tag = req.query.get("tag").value_or("");
  if (repo.empty()) throw InvalidArgument("repository name must have at least one component");
  if (!tag.empty() && !image::valid_tag(tag)) throw InvalidArgument("invalid tag format");
  engine.images().tag(req.param("name"), tag.empty() ? repo : repo + ":" + tag);
  out.send(http::Response::empty(201));
}

void prune_images(engine::Engine& engine, http::Request& req, http::Responder& out) {
  auto filters = api::Filters::parse(req.query.get("filters").value_or(""));
  filters.validate({"dangling", "label", "label!", "until"});
  bool all = false;
  if (filters.has("dangling")) {
    auto v = filters.values("dangling").front();
    if (v == "false" || v == "0")
      all = true;
    else if (!(v == "true" || v == "1"))
      throw InvalidArgument("invalid filter 'dangling=" + v + "'");
  }
  std::optional<std::int64_t> until;
  if (filters.has("until")) {
    auto t = parse_api_timestamp(filters.values("until").front());
    if (!t) throw InvalidArgument("invalid filter 'until=" + filters.values("until").front() + "'");
    until = unix_nanos(*t) / 1'000'000'000;
  }
  auto keep = [&](const image::ImageRecord& r) {
    json config = parse_config(r);
    if (until && created_unix(config) >= *until) return true;
    std::map<std::string, std::string> labels;
    if (config.contains("config") && config["config"].contains("Labels") &&
        config["config"]["Labels"].is_object())
      for (const auto& [k, v] : config["config"]["Labels"].items())
        labels[k] = v.is_string() ? v.get<std::string>() : "";
    if (!filters.match_labels("label", labels)) return true;
    if (filters.has("label!")) {
      api::Filters negated;
      for (const auto& v : filters.values("label!"))
        negated.add("label", v);
      for (const auto& v : negated.values("label")) {
        api::Filters one;
        one.add("label", v);
        if (one.match_labels("label", labels)) return true;
      }
    }
    return false;
  };
  auto result = engine.images().prune(
      all, keep, [&engine](const std::string& id) { return engine.containers().image_user(id); });
  json deleted = json::array();
  for (const auto& r : result.removed) {
    for (const auto& u : r.untagged)
      deleted.push_back({{"Untagged", u}});
    for (const auto& d : r.deleted)
      deleted.push_back({{"Deleted", d}});
  }
  out.send(api::json_response(200, {{"ImagesDeleted", deleted.empty() ? json(nullptr) : deleted},
                                    {"SpaceReclaimed", result.space_reclaimed}}));
}

}  // namespace

void add_image_routes(http::Router& router, engine::Engine& engine) {
  router.add(
      "POST", "/images/create",
      streamed_body([&engine](http::Request& r, http::Responder& o) { pull(engine, r, o); }));
  router.add("POST", "/images/load", streamed_body([&engine](http::Request& r, http::Responder& o) {
               load(engine, r, o);
             }));
  router.add("GET", "/images/get", on_worker([&engine](http::Request& r, http::Responder& o) {
               save(engine, r.query.all("names"), o);
             }));
  router.add("GET", "/images/{name*}/get",
             on_worker([&engine](http::Request& r, http::Responder& o) {
               save(engine, {r.param("name")}, o);
             }));
  router.add("POST", "/images/{name*}/push",
             on_worker([&engine](http::Request& r, http::Responder& o) { push(engine, r, o); }));
  router.add("GET", "/distribution/{name*}/json",
             on_worker([&engine](http::Request& r, http::Responder& o) {
               o.send(api::json_response(
                   200, engine.images().distribution(r.param("name"), client_auth(r))));
             }));
  router.add("GET", "/images/json", on_worker([&engine](http::Request& r, http::Responder& o) {
               list_images(engine, r, o);
             }));
  router.add("POST", "/images/prune", on_worker([&engine](http::Request& r, http::Responder& o) {
               prune_images(engine, r, o);
             }));
  router.add("GET", "/images/{name*}/json",
             on_worker([&engine](http::Request& r, http::Responder& o) {
               o.send(api::json_response(
                   200, inspect_doc(engine, engine.images().store().resolve(r.param("name")),
                                    r.api_before(1, 44))));
             }));
  router.add(
      "GET", "/images/{name*}/history", on_worker([&engine](http::Request& r, http::Responder& o) {
        o.send(
            api::json_response(200, history_doc(engine.images().store().resolve(r.param("name")))));
      }));
  router.add(
      "POST", "/images/{name*}/tag",
      on_worker([&engine](http::Request& r, http::Responder& o) { tag_image(engine, r, o); }));
  router.add(
      "DELETE", "/images/{name*}",
      on_worker([&engine](http::Request& r, http::Responder& o) { remove_image(engine, r, o); }));
}

}  // namespace sockerless::routes
