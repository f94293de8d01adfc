// docker commit and the build steps that stand on it: a new image config on top of a
// parent's, plus (unless the step is metadata only) one more uncompressed layer.
#include <nlohmann/json.hpp>

#include "common/errors.h"
#include "common/time.h"
#include "image/image_service.h"
#include "image/layer.h"
#include "image/manifest.h"
#include "image/reference.h"

namespace sockerless::image {

using nlohmann::json;

namespace {
// sha256 of an empty tar (two zero blocks), what moby calls the empty layer.
constexpr const char* kEmptyTarDigest =
    "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";
}  // namespace

std::string ImageService::commit(
    const std::string& parent_id, const json& config, const CommitInfo& info,
    const std::function<void(const std::function<void(const char*, std::size_t)>&)>& write_layer) {
  std::optional<Reference> ref;
  if (!info.repo_tag.empty()) ref = with_default_tag(parse_reference(info.repo_tag));
  std::shared_lock gc(gc_mu_);
  ImageRecord record;
  json image;
  if (parent_id.empty()) {
    // No parent (FROM scratch): no layers, no history, the host's platform.
    Platform host = host_platform();
    image = {{"architecture", host.architecture},
             {"os", host.os},
             {"rootfs", {{"type", "layers"}, {"diff_ids", json::array()}}}};
  } else {
    auto parent = store_.get(parent_id);
    if (!parent) throw NotFound("No such image: " + parent_id);
    image = json::parse(parent->config, nullptr, false);
    if (!image.is_object()) throw Internal("the config of image " + parent_id + " is unreadable");
    record.parent = parent->id;
    record.layers = parent->layers;
    record.size = parent->size;
  }
  std::string now = format_rfc3339_nano(Clock::now());
  json history = {{"created", now}, {"created_by", info.created_by}};
  if (!info.author.empty()) history["author"] = info.author;
  if (!info.comment.empty()) history["comment"] = info.comment;
  std::optional<std::string> digest;
  LayerInfo layer;
  if (!info.empty_layer) {
    auto writer = store_.blobs().begin();
    write_layer([&](const char* data, std::size_t size) { writer.write(data, size); });
    digest = writer.commit("");
    layer = scan_layer(store_.blobs().path(*digest));
  }
  // Like dockerd, a step that changed nothing adds no layer, only history.
  if (!digest || layer.diff_id == kEmptyTarDigest) {
    history["empty_layer"] = true;
  } else {
    const std::string& d = *digest;
    record.layers.push_back(LayerRecord{d, "application/vnd.docker.image.rootfs.diff.tar",
                                        static_cast<std::int64_t>(store_.blobs().size(d)),
                                        layer.diff_id, static_cast<std::int64_t>(layer.size)});
    record.size += static_cast<std::int64_t>(layer.size);
    if (!image.contains("rootfs") || !image["rootfs"].is_object())
      image["rootfs"] = {{"type", "layers"}, {"diff_ids", json::array()}};
    image["rootfs"]["diff_ids"].push_back(layer.diff_id);
  }
  if (!image.contains("history") || !image["history"].is_array()) image["history"] = json::array();
  image["history"].push_back(history);
  image["config"] = config;
  image["created"] = now;
  if (!info.container_id.empty()) image["container"] = info.container_id;
  if (!info.container_config_text.empty())
    image["container_config"] = json::parse(info.container_config_text);
  if (!info.author.empty())
    image["author"] = info.author;
  else
    image.erase("author");
  if (!info.comment.empty())
    image["comment"] = info.comment;
  else
    image.erase("comment");

  record.config = image.dump();
  record.id = store_.blobs().put(record.config);
  std::vector<std::string> tags;
  if (ref) tags.push_back(ref->str());
  store_.put(record, tags, {});
  return record.id;
}

}  // namespace sockerless::image
