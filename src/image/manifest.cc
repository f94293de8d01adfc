#include "image/manifest.h"

#include <sys/utsname.h>

#include <nlohmann/json.hpp>

#include "common/errors.h"
#include "image/registry_client.h"

namespace sockerless::image {

using nlohmann::json;

std::string Platform::str() const {
  return os + "/" + architecture + (variant.empty() ? "" : "/" + variant);
}

bool is_index(std::string_view t) {
  return t == kDockerManifestList || t == kOciIndex;
}
bool is_manifest(std::string_view t) {
  return t == kDockerManifest || t == kOciManifest;
}

namespace {

Descriptor descriptor(const json& j) {
  if (!j.is_object() || !j.contains("digest") || !j["digest"].is_string())
    throw InvalidArgument("manifest descriptor without a digest");
  Descriptor d;
  d.media_type = j.value("mediaType", "");
  d.digest = j["digest"].get<std::string>();
  d.size = j.value("size", std::int64_t{0});
  return d;
}

json parse_object(std::string_view body, const char* what) {
  json doc = json::parse(body, nullptr, false);
  if (!doc.is_object())
    throw InvalidArgument(std::string("invalid ") + what + ": not a JSON object");
  return doc;
}

}  // namespace

Manifest parse_manifest(std::string_view body) {
  json doc = parse_object(body, "manifest");
  if (doc.value("schemaVersion", 0) != 2)
    throw InvalidArgument("unsupported manifest schema version");
  if (!doc.contains("config") || !doc.contains("layers") || !doc["layers"].is_array())
    throw InvalidArgument("invalid manifest: missing config or layers");
  Manifest m;
  m.media_type = doc.value("mediaType", kOciManifest);
  m.config = descriptor(doc["config"]);
  for (const auto& l : doc["layers"])
    m.layers.push_back(descriptor(l));
  return m;
}

std::vector<IndexEntry> parse_index(std::string_view body) {
  json doc = parse_object(body, "manifest list");
  if (!doc.contains("manifests") || !doc["manifests"].is_array())
    throw InvalidArgument("invalid manifest list: no manifests");
  std::vector<IndexEntry> out;
  for (const auto& m : doc["manifests"]) {
    IndexEntry e;
    e.descriptor = descriptor(m);
    if (m.contains("platform") && m["platform"].is_object()) {
      const auto& p = m["platform"];
      e.platform.os = p.value("os", "");
      e.platform.architecture = p.value("architecture", "");
      e.platform.variant = p.value("variant", "");
    } else {
      e.platform.os.clear();
    }
    out.push_back(std::move(e));
  }
  return out;
}

Platform host_platform() {
  Platform p;
  utsname u{};
  ::uname(&u);
  std::string m = u.machine;
  if (m == "x86_64") {
    p.architecture = "amd64";
  } else if (m == "aarch64") {
    p.architecture = "arm64";
    p.variant = "v8";
  } else if (m.rfind("armv7", 0) == 0) {
    p.architecture = "arm";
    p.variant = "v7";
  } else if (m == "i686" || m == "i386") {
    p.architecture = "386";
  } else {
    p.architecture = m;
  }
  return p;
}

Platform parse_platform(std::string_view text) {
  if (text.empty()) return host_platform();
  std::vector<std::string> parts;
  std::string cur;
  for (char c : text) {
    if (c == '/') {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  parts.push_back(cur);
  for (const auto& p : parts)
    if (p.empty())
      throw InvalidArgument("\"" + std::string(text) +
                            "\": unknown operating system or architecture");
  Platform p;
  if (parts.size() == 1) {
    if (parts[0] == "linux") {
      p = host_platform();
    } else {
      p.architecture = parts[0];
    }
  } else if (parts.size() <= 3) {
    p.os = parts[0];
    p.architecture = parts[1];
    if (parts.size() == 3) p.variant = parts[2];
  } else {
    throw InvalidArgument("\"" + std::string(text) +
                          "\": unknown operating system or architecture");
  }
  if (p.architecture == "x86_64" || p.architecture == "x86-64") p.architecture = "amd64";
  if (p.architecture == "aarch64") p.architecture = "arm64";
  if (p.architecture == "arm64" && p.variant.empty()) p.variant = "v8";
  return p;
}

const IndexEntry& select_platform(const std::vector<IndexEntry>& entries, const Platform& want) {
  auto variant_of = [](const Platform& p) {
    if (p.architecture == "arm64" && p.variant.empty()) return std::string("v8");
    return p.variant;
  };
  for (const auto& e : entries) {
    if (e.platform.os != want.os || e.platform.architecture != want.architecture) continue;
    std::string have = variant_of(e.platform), need = variant_of(want);
    if (!need.empty() && !have.empty() && have != need) continue;
    return e;
  }
  throw NotFound("no matching manifest for " + want.str() + " in the manifest list entries");
}

std::string make_manifest(const Descriptor& config, const std::vector<Descriptor>& layers) {
  json doc = {{"schemaVersion", 2}, {"mediaType", kDockerManifest}};
  doc["config"] = {{"mediaType", "application/vnd.docker.container.image.v1+json"},
                   {"size", config.size},
                   {"digest", config.digest}};
  doc["layers"] = json::array();
  for (const auto& l : layers)
    doc["layers"].push_back({{"mediaType", l.media_type}, {"size", l.size}, {"digest", l.digest}});
  return doc.dump(3);
}

}  // namespace sockerless::image
