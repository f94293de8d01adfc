// Image records (SQLite) over the blob store: images by ID, their layers, tags and
// digests; name resolution the way dockerd does it; garbage collection of blobs and
// unpacked layers no image references; layers unpacked on demand.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "image/blob_store.h"
#include "image/reference.h"

namespace sockerless::store {
class Database;
}

namespace sockerless::image {

struct LayerRecord {
  std::string blob_digest;
  std::string media_type;
  std::int64_t blob_size = 0;
  std::string diff_id;
  std::int64_t size = 0;  // uncompressed content
};

struct ImageRecord {
  std::string id;      // "sha256:<config digest>"
  std::string config;  // the config blob, verbatim
  std::string manifest_digest;
  std::string manifest_media_type;
  std::int64_t size = 0;           // uncompressed content size
  std::int64_t created_at = 0;     // unix nanos, when first stored here
  std::int64_t last_tag_time = 0;  // unix nanos, 0 when never tagged here
  std::string parent;              // "sha256:…" for images committed or built here, else ""
  std::vector<LayerRecord> layers;
  std::vector<std::string> tags;     // normalised "docker.io/library/busybox:latest"
  std::vector<std::string> digests;  // normalised "docker.io/library/busybox@sha256:…"
};

class ImageStore {
 public:
  ImageStore(store::Database& db, const std::string& root);

  BlobStore& blobs() { return blobs_; }

  std::optional<ImageRecord> get(const std::string& id) const;
  std::vector<ImageRecord> list() const;
  // Images committed or built on top of `parent` here.
  std::vector<ImageRecord> children(const std::string& parent) const;

  // Finds the image a user means by `name`: a full or short ID ("sha256:…" or hex
  // prefix), "name[:tag]" (tag defaults to latest) or "name@digest". nullopt if none.
  std::optional<std::string> find(std::string_view name) const;
  // As find(), throwing NotFound "No such image: <name>".
  ImageRecord resolve(std::string_view name) const;

  // Records an image (replacing a record with the same ID) and points `tags` and
  // `digests` at it, taking tags away from other images — all in one transaction.
  void put(const ImageRecord& image, const std::vector<std::string>& tags,
           const std::vector<std::string>& digests);
  void tag(const std::string& id, const std::string& normalised_ref);
  // Records `parent` as the image's parent (the build cache does, for a --cache-from image
  // it found to stand on the step's parent, as dockerd's SetParent).
  void set_parent(const std::string& id, const std::string& parent);
  // Removes one tag or digest reference; false when it did not exist.
  bool untag(const std::string& normalised_ref);
  // Deletes the image record and collects what no other image uses; returns the bytes of
  // (uncompressed) layer content that went with it.
  std::int64_t remove(const std::string& id);

  // The directory holding the unpacked layer (unpacking it first if needed).
  std::string unpacked_layer(const LayerRecord& layer);

  // Bytes of layer blobs shared by more than one image / used by this one only.
  std::int64_t shared_size(const std::string& id) const;

  // Deletes blobs and unpacked layers no image references; returns the uncompressed
  // size of the layers whose blobs went.
  std::int64_t collect_garbage();

  // A fresh path (not created) in the store's scratch area, cleared at start-up.
  std::string scratch_path(const std::string& prefix) const;

 private:
  // The images (newest first) the SQL condition `where` (one ? bound to value) selects.
  std::vector<ImageRecord> records(const std::string& where, const std::string& value) const;
  std::vector<std::string> refs_of(const std::string& table, const std::string& id) const;

  store::Database& db_;
  std::string root_;
  BlobStore blobs_;
  std::mutex unpack_mu_;
};

}  // namespace sockerless::image
