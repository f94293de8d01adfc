#include "image/image_service.h"

#include <spdlog/spdlog.h>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "common/errors.h"
#include "common/time.h"
#include "image/layer.h"
#include "image/manifest.h"
#include "store/database.h"

namespace sockerless::image {

using nlohmann::json;

std::string human_size(double bytes) {
  static const char* kUnits[] = {"B", "kB", "MB", "GB", "TB", "PB"};
  int unit = 0;
  while (bytes >= 1000.0 && unit < 5) {
    bytes /= 1000.0;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g%s", bytes, kUnits[unit]);
  return buf;
}

std::string progress_bar(std::uint64_t current, std::uint64_t total) {
  if (total == 0) return human_size(static_cast<double>(current));
  constexpr int kWidth = 50;
  int filled = static_cast<int>(
      std::min(1.0, static_cast<double>(current) / static_cast<double>(total)) * kWidth);
  std::string bar = "[" + std::string(static_cast<std::size_t>(filled), '=');
  if (filled < kWidth) bar += ">" + std::string(static_cast<std::size_t>(kWidth - filled - 1), ' ');
  bar += "] ";
  std::string numbers =
      human_size(static_cast<double>(current)) + "/" + human_size(static_cast<double>(total));
  // Right-aligned in 18 columns, as Docker's progress formatter does.
  if (numbers.size() < 18) numbers = std::string(18 - numbers.size(), ' ') + numbers;
  return bar + numbers;
}

namespace {

json message(const std::string& status, const std::string& id = "") {
  json m = {{"status", status}};
  if (!id.empty()) m["id"] = id;
  return m;
}

json layer_message(const std::string& status, const std::string& id) {
  return {{"status", status}, {"progressDetail", json::object()}, {"id", id}};
}

std::string short_digest(const std::string& digest) {
  auto colon = digest.find(':');
  return digest.substr(colon == std::string::npos ? 0 : colon + 1, 12);
}

std::string short_image_id(const std::string& id) {
  return short_digest(id);
}

std::vector<std::string> diff_ids_of(const json& config) {
  std::vector<std::string> out;
  if (config.contains("rootfs") && config["rootfs"].is_object() &&
      config["rootfs"].contains("diff_ids"))
    for (const auto& d : config["rootfs"]["diff_ids"])
      if (d.is_string()) out.push_back(d.get<std::string>());
  return out;
}

}  // namespace

ImageService::ImageService(store::Database& db, const std::string& root, RegistryConfig registry,
                           ImageEventFn on_event)
    : db_(db), store_(db, root), registry_(std::move(registry)), on_event_(std::move(on_event)) {
  auto lock = db_.lock();
  auto s = db_.prepare("SELECT server, username, password, identity_token FROM registry_logins");
  while (s.step()) {
    AuthConfig a;
    a.server_address = s.text(0);
    a.username = s.text(1);
    a.password = s.text(2);
    a.identity_token = s.text(3);
    logins_[a.server_address] = a;
  }
}

ImageService::~ImageService() = default;

AuthConfig ImageService::credentials_for(const std::string& domain, const AuthConfig& from_client) {
  if (!from_client.empty()) return from_client;
  std::string key = config_key_for(domain);
  {
    std::lock_guard lock(logins_mu_);
    if (auto it = logins_.find(key); it != logins_.end()) return it->second;
  }
  const char* dir = std::getenv("DOCKER_CONFIG");
  const char* home = std::getenv("HOME");
  std::string path = dir ? std::string(dir) + "/config.json"
                         : std::string(home ? home : "/root") + "/.docker/config.json";
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    try {
      if (auto found = lookup_docker_config(path, domain)) return *found;
    } catch (const std::exception& e) {
      spdlog::warn("credentials for {} from {}: {}", domain, path, e.what());
    }
  }
  return {};
}

void ImageService::remember_login(const AuthConfig& auth) {
  std::string key = auth.server_address;
  db_.transaction([&] {
    auto s = db_.prepare(
        "INSERT OR REPLACE INTO registry_logins (server, username, password, identity_token) "
        "VALUES (?, ?, ?, ?)");
    s.bind(1, key).bind(2, auth.username).bind(3, auth.password).bind(4, auth.identity_token);
    s.run();
  });
  std::lock_guard lock(logins_mu_);
  logins_[key] = auth;
}

std::string ImageService::pull(const std::string& reference, const std::string& platform_text,
                               const AuthConfig& client_auth, const ProgressFn& progress,
                               bool all_tags) {
  Reference parsed = parse_reference(reference);
  Platform platform = parse_platform(platform_text);
  AuthConfig auth = credentials_for(parsed.domain, client_auth);
  if (parsed.tag.empty() && parsed.digest.empty() && all_tags) {
    // docker pull -a: every tag of the repository.
    std::string last;
    for (const auto& tag : registry_.tags(parsed, auth)) {
      Reference one = parsed;
      one.tag = tag;
      last = pull(one.str(), platform_text, client_auth, progress, false);
    }
    return last;
  }
  Reference ref = with_default_tag(parsed);
  std::shared_lock gc(gc_mu_);

  const std::string wanted = ref.digest.empty() ? ref.tag : ref.digest;
  FetchedManifest top = registry_.manifest(ref, wanted, auth);
  FetchedManifest chosen = top;
  if (is_index(top.media_type)) {
    auto entries = parse_index(top.body);
    const IndexEntry& entry = select_platform(entries, platform);
    chosen = registry_.manifest(ref, entry.descriptor.digest, auth);
  }
  if (!is_manifest(chosen.media_type))
    throw InvalidArgument("unsupported manifest media type " + chosen.media_type + " for " +
                          ref.familiar());
  Manifest manifest = parse_manifest(chosen.body);

  progress(message("Pulling from " + ref.path, ref.digest.empty() ? ref.tag : ref.familiar()));

  // The config: small, fetched whole and verified.
  std::string config_text;
  if (store_.blobs().has(manifest.config.digest)) {
    config_text = store_.blobs().read(manifest.config.digest);
  } else {
    auto writer = store_.blobs().begin();
    registry_.blob(ref, manifest.config.digest, auth,
                   [&](const char* d, std::size_t n) { writer.write(d, n); }, {});
    writer.commit(manifest.config.digest);
    config_text = store_.blobs().read(manifest.config.digest);
  }
  json config = json::parse(config_text, nullptr, false);
  if (!config.is_object())
    throw InvalidArgument("image config " + manifest.config.digest + " is not JSON");
  auto diff_ids = diff_ids_of(config);
  if (diff_ids.size() != manifest.layers.size())
    throw InvalidArgument("image " + ref.familiar() + ": the config lists " +
                          std::to_string(diff_ids.size()) + " layers, the manifest " +
                          std::to_string(manifest.layers.size()));

  const std::string image_id = manifest.config.digest;
  auto existing = store_.get(image_id);
  bool had_layers = existing.has_value();

  ImageRecord record;
  record.id = image_id;
  record.config = config_text;
  record.manifest_digest = chosen.digest;
  record.manifest_media_type = chosen.media_type;
  for (const auto& l : manifest.layers)
    if (!store_.blobs().has(l.digest)) had_layers = false;
  // An image already here in full gets no layer lines, as with dockerd.
  if (!had_layers)
    for (const auto& l : manifest.layers)
      progress(layer_message(store_.blobs().has(l.digest) ? "Already exists" : "Pulling fs layer",
                             short_digest(l.digest)));
  for (std::size_t i = 0; i < manifest.layers.size(); ++i) {
    const auto& l = manifest.layers[i];
    const std::string id = short_digest(l.digest);
    bool downloaded = false;
    if (!store_.blobs().has(l.digest)) {
      downloaded = true;
      auto writer = store_.blobs().begin();
      auto last = std::chrono::steady_clock::now() - std::chrono::seconds(1);
      registry_.blob(
          ref, l.digest, auth, [&](const char* d, std::size_t n) { writer.write(d, n); },
          [&](std::uint64_t done, std::uint64_t total) {
            auto now = std::chrono::steady_clock::now();
            if (now - last < std::chrono::milliseconds(100) && done != total) return;
            last = now;
            if (total == 0) total = static_cast<std::uint64_t>(l.size);
            progress({{"status", "Downloading"},
                      {"progressDetail", {{"current", done}, {"total", total}}},
                      {"progress", progress_bar(done, total)},
                      {"id", id}});
          });
      progress(layer_message("Verifying Checksum", id));
      try {
        writer.commit(l.digest);
      } catch (const InvalidArgument&) {
        throw InvalidArgument("filesystem layer verification failed for digest " + l.digest);
      }
      progress(layer_message("Download complete", id));
    }
    LayerInfo info = scan_layer(store_.blobs().path(l.digest));
    if (info.diff_id != diff_ids[i]) {
      store_.blobs().remove(l.digest);
      throw InvalidArgument("layer " + l.digest + " has diff ID " + info.diff_id +
                            ", but the image config says " + diff_ids[i]);
    }
    record.layers.push_back(LayerRecord{l.digest, l.media_type,
                                        static_cast<std::int64_t>(store_.blobs().size(l.digest)),
                                        info.diff_id, static_cast<std::int64_t>(info.size)});
    record.size += static_cast<std::int64_t>(info.size);
    if (downloaded) progress(layer_message("Pull complete", id));
  }
  // The manifests too, so push and save can reproduce them byte for byte.
  store_.blobs().put(chosen.body);
  if (top.digest != chosen.digest) store_.blobs().put(top.body);

  std::vector<std::string> tags;
  if (ref.digest.empty()) tags.push_back(ref.str());
  bool up_to_date =
      existing && (ref.digest.empty() ? std::find(existing->tags.begin(), existing->tags.end(),
                                                  ref.str()) != existing->tags.end()
                                      : true);
  store_.put(record, tags, {ref.name() + "@" + top.digest});
  progress(message("Digest: " + top.digest));
  progress(message(std::string(up_to_date ? "Status: Image is up to date for "
                                          : "Status: Downloaded newer image for ") +
                   ref.familiar()));
  on_event_("pull", ref.familiar(), {{"name", ref.familiar_name()}});
  return image_id;
}

void ImageService::tag(const std::string& source, const std::string& target) {
  ImageRecord image = store_.resolve(source);
  Reference ref = parse_reference(target);
  if (!ref.digest.empty())
    throw InvalidArgument("refusing to create a tag with a digest reference");
  ref = with_default_tag(ref);
  store_.tag(image.id, ref.str());
  on_event_("tag", image.id, {{"name", ref.familiar()}});
}

DeleteResult ImageService::remove(const std::string& name, bool force, bool /*prune_parents*/,
                                  const UsageFn& in_use) {
  std::unique_lock gc(gc_mu_);
  ImageRecord image = store_.resolve(name);
  DeleteResult result;
  const std::string short_id = short_image_id(image.id);
  auto usage = in_use ? in_use(image.id) : std::nullopt;
  auto repo_of = [](const std::string& ref) { return parse_reference(ref).name(); };

  auto untag = [&](const std::string& key, bool is_tag) {
    if (!store_.untag(key)) return;
    result.untagged.push_back(parse_reference(key).familiar());
    if (is_tag) on_event_("untag", image.id, {{"name", image.id}});
  };
  auto delete_image = [&] {
    result.reclaimed = store_.remove(image.id);
    result.deleted.push_back(image.id);
    on_event_("delete", image.id, {{"name", image.id}});
  };

  // By reference: untag it; with the repository's last tag gone, its digest references
  // go too; with no reference left, the image goes.
  std::optional<std::string> named;
  try {
    Reference r = parse_reference(name);
    std::string key = r.digest.empty() ? with_default_tag(r).str() : r.name() + "@" + r.digest;
    if (std::find(image.tags.begin(), image.tags.end(), key) != image.tags.end() ||
        std::find(image.digests.begin(), image.digests.end(), key) != image.digests.end())
      named = key;
  } catch (const InvalidArgument&) {
  }
  if (named) {
    bool is_tag = std::find(image.tags.begin(), image.tags.end(), *named) != image.tags.end();
    std::vector<std::string> remaining_tags;
    for (const auto& t : image.tags)
      if (t != *named) remaining_tags.push_back(t);
    std::vector<std::string> remaining_digests;
    for (const auto& d : image.digests)
      if (d != *named) remaining_digests.push_back(d);
    const std::string repo = repo_of(*named);
    bool repo_keeps_tag = std::any_of(remaining_tags.begin(), remaining_tags.end(),
                                      [&](const std::string& t) { return repo_of(t) == repo; });
    std::vector<std::string> dropping = {*named};
    if (!repo_keeps_tag)
      for (const auto& d : remaining_digests)
        if (repo_of(d) == repo) dropping.push_back(d);
    bool last =
        remaining_tags.empty() &&
        std::all_of(remaining_digests.begin(), remaining_digests.end(), [&](const std::string& d) {
          return std::find(dropping.begin(), dropping.end(), d) != dropping.end();
        });
    if (last && usage && !force)
      throw Conflict("conflict: unable to remove repository reference \"" + name +
                     "\" (must force) - container " + usage->second.substr(0, 12) +
                     " is using its referenced image " + short_id);
    untag(*named, is_tag);
    for (std::size_t i = 1; i < dropping.size(); ++i)
      untag(dropping[i], false);
    if (last && !usage) delete_image();
    return result;
  }

  // By ID: every reference goes with it, unless they span repositories or tags.
  if (usage) {
    if (usage->first)
      throw Conflict("conflict: unable to delete " + short_id +
                     " (cannot be forced) - image is being used by running container " +
                     usage->second.substr(0, 12));
    if (!force)
      throw Conflict("conflict: unable to delete " + short_id +
                     " (must be forced) - image is being used by stopped container " +
                     usage->second.substr(0, 12));
  }
  std::set<std::string> repos;
  for (const auto& t : image.tags)
    repos.insert(repo_of(t));
  for (const auto& d : image.digests)
    repos.insert(repo_of(d));
  bool single_reference = image.tags.size() <= 1 && repos.size() <= 1;
  if (!single_reference && !force)
    throw Conflict("conflict: unable to delete " + short_id +
                   " (must be forced) - image is referenced in multiple repositories");
  for (const auto& t : image.tags)
    untag(t, true);
  for (const auto& d : image.digests)
    untag(d, false);
  delete_image();
  return result;
}

PruneResult ImageService::prune(bool all, const PruneFilter& keep, const UsageFn& in_use) {
  PruneResult out;
  for (const auto& image : store_.list()) {
    if (!all && !image.tags.empty()) continue;
    if (keep && keep(image)) continue;
    if (in_use && in_use(image.id)) continue;
    try {
      out.removed.push_back(remove(image.id, true, true, in_use));
    } catch (const Conflict&) {
    }
  }
  // Also whatever failed pulls and loads left unreferenced.
  std::unique_lock gc(gc_mu_);
  out.space_reclaimed += store_.collect_garbage();
  for (const auto& r : out.removed)
    out.space_reclaimed += r.reclaimed;
  on_event_("prune", "", {{"reclaimed", std::to_string(out.space_reclaimed)}});
  return out;
}

}  // namespace sockerless::image
