#include "image/changes.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "common/errors.h"

namespace sockerless::image {

using nlohmann::json;

namespace {

std::string trim(std::string s) {
  auto b = s.find_first_not_of(" \t\r\n");
  auto e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// JSON form ["a","b"] when it parses as an array of strings, else the shell form.
json command(const std::string& args, bool shell_form_allowed = true) {
  json parsed = json::parse(args, nullptr, false);
  if (parsed.is_array() &&
      std::all_of(parsed.begin(), parsed.end(), [](const json& v) { return v.is_string(); }))
    return parsed;
  if (!shell_form_allowed) throw InvalidArgument("expected a JSON array: " + args);
  return json::array({"/bin/sh", "-c", args});
}

std::vector<std::string> words(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  char quote = 0;
  for (char c : s) {
    if (quote) {
      if (c == quote)
        quote = 0;
      else
        cur += c;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (std::isspace(static_cast<unsigned char>(c))) {
      if (!cur.empty()) out.push_back(cur), cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

// "k=v k2=v2" or the legacy "k v w" (one pair, value is the rest).
std::vector<std::pair<std::string, std::string>> pairs(const std::string& instruction,
                                                       const std::string& args) {
  std::vector<std::pair<std::string, std::string>> out;
  auto ws = words(args);
  if (ws.empty()) throw InvalidArgument(instruction + " requires at least one argument");
  if (ws[0].find('=') == std::string::npos) {
    auto space = args.find_first_of(" \t");
    if (space == std::string::npos)
      throw InvalidArgument(instruction + " requires at least two arguments");
    out.emplace_back(ws[0], trim(args.substr(space)));
    return out;
  }
  for (const auto& w : ws) {
    auto eq = w.find('=');
    if (eq == std::string::npos || eq == 0)
      throw InvalidArgument("Syntax error - can't find = in \"" + w +
                            "\". Must be of the form: name=value");
    out.emplace_back(w.substr(0, eq), w.substr(eq + 1));
  }
  return out;
}

}  // namespace

void apply_changes(json& config, const std::vector<std::string>& changes) {
  if (!config.is_object()) config = json::object();
  for (const auto& raw : changes) {
    std::string line = trim(raw);
    if (line.empty()) continue;
    auto space = line.find_first_of(" \t");
    std::string name = line.substr(0, space);
    std::string args = space == std::string::npos ? "" : trim(line.substr(space));
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return std::toupper(c); });
    if (name == "CMD") {
      config["Cmd"] = command(args);
    } else if (name == "ENTRYPOINT") {
      config["Entrypoint"] = command(args);
    } else if (name == "ENV") {
      json env = config.contains("Env") && config["Env"].is_array() ? config["Env"] : json::array();
      for (const auto& [k, v] : pairs(name, args)) {
        std::string prefix = k + "=";
        json kept = json::array();
        for (const auto& e : env)
          if (!(e.is_string() && e.get<std::string>().rfind(prefix, 0) == 0)) kept.push_back(e);
        kept.push_back(prefix + v);
        env = kept;
      }
      config["Env"] = env;
    } else if (name == "LABEL") {
      if (!config.contains("Labels") || !config["Labels"].is_object())
        config["Labels"] = json::object();
      for (const auto& [k, v] : pairs(name, args))
        config["Labels"][k] = v;
    } else if (name == "EXPOSE") {
      if (!config.contains("ExposedPorts") || !config["ExposedPorts"].is_object())
        config["ExposedPorts"] = json::object();
      for (auto port : words(args)) {
        if (port.find('/') == std::string::npos) port += "/tcp";
        config["ExposedPorts"][port] = json::object();
      }
    } else if (name == "VOLUME") {
      if (!config.contains("Volumes") || !config["Volumes"].is_object())
        config["Volumes"] = json::object();
      json parsed = json::parse(args, nullptr, false);
      std::vector<std::string> vols;
      if (parsed.is_array())
        for (const auto& v : parsed)
          vols.push_back(v.get<std::string>());
      else
        vols = words(args);
      for (const auto& v : vols)
        config["Volumes"][v] = json::object();
    } else if (name == "USER") {
      config["User"] = args;
    } else if (name == "WORKDIR") {
      config["WorkingDir"] = args;
    } else if (name == "STOPSIGNAL") {
      config["StopSignal"] = args;
    } else if (name == "ONBUILD") {
      if (!config.contains("OnBuild") || !config["OnBuild"].is_array())
        config["OnBuild"] = json::array();
      config["OnBuild"].push_back(args);
    } else {
      throw InvalidArgument(name + " is not a valid change command");
    }
  }
}

}  // namespace sockerless::image
