#include "api/respond.h"

#include "api/version.h"
#include "common/errors.h"

namespace sockerless::api {

std::string dump_json(const nlohmann::json& doc) {
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

http::Response json_response(int status, const nlohmann::json& doc) {
  return http::Response::json(status, dump_json(doc));
}

http::Headers default_headers(const std::string& version) {
  http::Headers h;
  h.set("Api-Version", kMaxVersion.str());
  h.set("Docker-Experimental", "false");
  h.set("Ostype", "linux");
  h.set("Server", "sockerless/" + version + " (linux)");
  return h;
}

void drop_null_members(nlohmann::json& doc) {
  if (doc.is_object()) {
    for (auto it = doc.begin(); it != doc.end();) {
      if (it->is_null()) {
        it = doc.erase(it);
      } else {
        drop_null_members(*it);
        ++it;
      }
    }
  } else if (doc.is_array()) {
    for (auto& element : doc)
      drop_null_members(element);
  }
}

nlohmann::json parse_body(const std::string& body, nlohmann::json fallback) {
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) return fallback;
  auto doc = nlohmann::json::parse(body, nullptr, false);
  if (doc.is_discarded()) throw InvalidArgument("invalid JSON in request body");
  if (doc.is_null()) return fallback;
  drop_null_members(doc);
  return doc;
}

}  // namespace sockerless::api
