#include "image/image_store.h"

#include <filesystem>
#include <set>

#include "common/errors.h"
#include "common/ids.h"
#include "common/time.h"
#include "image/layer.h"
#include "store/database.h"

namespace sockerless::image {

namespace fs = std::filesystem;

ImageStore::ImageStore(store::Database& db, const std::string& root)
    : db_(db), root_(root), blobs_(root) {
  fs::create_directories(root_ + "/layers");
  fs::remove_all(root_ + "/layers-tmp");
  fs::create_directories(root_ + "/layers-tmp");
}

std::vector<std::string> ImageStore::refs_of(const std::string& table,
                                             const std::string& id) const {
  auto s = db_.prepare("SELECT reference FROM " + table + " WHERE image_id = ? ORDER BY reference");
  s.bind(1, id);
  std::vector<std::string> out;
  while (s.step())
    out.push_back(s.text(0));
  return out;
}

std::optional<ImageRecord> ImageStore::get(const std::string& id) const {
  auto lock = db_.lock();
  auto s = db_.prepare(
      "SELECT id, config, manifest_digest, manifest_media_type, size, created_at, last_tag_time, "
      "parent FROM images WHERE id = ?");
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  ImageRecord r;
  r.id = s.text(0);
  r.config = s.text(1);
  r.manifest_digest = s.text(2);
  r.manifest_media_type = s.text(3);
  r.size = s.integer(4);
  r.created_at = s.integer(5);
  r.last_tag_time = s.is_null(6) ? 0 : s.integer(6);
  r.parent = s.text(7);
  auto l = db_.prepare(
      "SELECT blob_digest, media_type, blob_size, diff_id, size FROM image_layers WHERE image_id = "
      "? ORDER BY "
      "position");
  l.bind(1, id);
  while (l.step())
    r.layers.push_back(LayerRecord{l.text(0), l.text(1), l.integer(2), l.text(3), l.integer(4)});
  r.tags = refs_of("image_tags", id);
  r.digests = refs_of("image_digests", id);
  return r;
}

std::vector<ImageRecord> ImageStore::records(const std::string& where,
                                             const std::string& value) const {
  auto lock = db_.lock();
  std::vector<std::string> ids;
  auto s = db_.prepare("SELECT id FROM images " + where + " ORDER BY created_at DESC");
  if (!where.empty()) s.bind(1, value);
  while (s.step())
    ids.push_back(s.text(0));
  std::vector<ImageRecord> out;
  for (const auto& id : ids)
    if (auto r = get(id)) out.push_back(std::move(*r));
  return out;
}

std::vector<ImageRecord> ImageStore::list() const {
  return records("", "");
}

std::vector<ImageRecord> ImageStore::children(const std::string& parent) const {
  return records("WHERE parent = ?", parent);
}

std::optional<std::string> ImageStore::find(std::string_view name) const {
  auto lock = db_.lock();
  auto exists = [&](const std::string& id) {
    auto s = db_.prepare("SELECT 1 FROM images WHERE id = ?");
    s.bind(1, id);
    return s.step();
  };
  if (name.rfind("sha256:", 0) == 0 && name.size() == 71) {
    std::string id(name);
    if (exists(id)) return id;
  }
  // A reference, when it parses as one.
  try {
    Reference ref = parse_reference(name);
    std::string key;
    const char* table;
    if (!ref.digest.empty()) {
      key = ref.name() + "@" + ref.digest;
      table = "image_digests";
    } else {
      key = with_default_tag(ref).str();
      table = "image_tags";
    }
    auto s = db_.prepare(std::string("SELECT image_id FROM ") + table + " WHERE reference = ?");
    s.bind(1, key);
    if (s.step()) return s.text(0);
    if (!ref.digest.empty()) {
      // A digest reference also names an image pulled under another repository name.
      auto m = db_.prepare("SELECT id FROM images WHERE manifest_digest = ?");
      m.bind(1, ref.digest);
      if (m.step()) return m.text(0);
    }
  } catch (const InvalidArgument&) {
  }
  // A short ID.
  std::string_view hex = name;
  if (hex.rfind("sha256:", 0) == 0) hex.remove_prefix(7);
  if (!hex.empty() && hex.size() <= 64 && looks_like_id(hex)) {
    auto s = db_.prepare("SELECT id FROM images WHERE substr(id, 8, ?) = ?");
    s.bind(1, static_cast<std::int64_t>(hex.size()));
    s.bind(2, hex);
    std::optional<std::string> found;
    while (s.step()) {
      if (found) return std::nullopt;  // ambiguous
      found = s.text(0);
    }
    return found;
  }
  return std::nullopt;
}

ImageRecord ImageStore::resolve(std::string_view name) const {
  auto id = find(name);
  if (id)
    if (auto r = get(*id)) return *r;
  // dockerd names a missing reference with its default tag ("No such image: x:latest").
  std::string shown(name);
  try {
    shown = with_default_tag(parse_reference(name)).familiar();
  } catch (const InvalidArgument&) {
  }
  throw NotFound("No such image: " + shown);
}

void ImageStore::put(const ImageRecord& image, const std::vector<std::string>& tags,
                     const std::vector<std::string>& digests) {
  db_.transaction([&] {
    auto exists = db_.prepare("SELECT created_at FROM images WHERE id = ?");
    exists.bind(1, image.id);
    if (!exists.step()) {
      auto ins = db_.prepare(
          "INSERT INTO images (id, config, manifest_digest, manifest_media_type, size, created_at, "
          "last_tag_time, parent) "
          "VALUES (?, ?, ?, ?, ?, ?, NULL, ?)");
      ins.bind(1, image.id)
          .bind(2, image.config)
          .bind(3, image.manifest_digest)
          .bind(4, image.manifest_media_type);
      ins.bind(5, image.size)
          .bind(6, image.created_at ? image.created_at : unix_nanos(Clock::now()))
          .bind(7, image.parent);
      ins.run();
      for (std::size_t i = 0; i < image.layers.size(); ++i) {
        const auto& l = image.layers[i];
        auto li = db_.prepare(
            "INSERT INTO image_layers (image_id, position, blob_digest, media_type, blob_size, "
            "diff_id, size) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)");
        li.bind(1, image.id)
            .bind(2, static_cast<std::int64_t>(i))
            .bind(3, l.blob_digest)
            .bind(4, l.media_type);
        li.bind(5, l.blob_size).bind(6, l.diff_id).bind(7, l.size);
        li.run();
      }
    } else if (!image.manifest_digest.empty()) {
      auto up = db_.prepare(
          "UPDATE images SET manifest_digest = ?, manifest_media_type = ? WHERE id = ?");
      up.bind(1, image.manifest_digest).bind(2, image.manifest_media_type).bind(3, image.id);
      up.run();
    }
    std::int64_t now = unix_nanos(Clock::now());
    for (const auto& t : tags) {
      auto s = db_.prepare(
          "INSERT OR REPLACE INTO image_tags (reference, image_id, created_at) VALUES (?, ?, ?)");
      s.bind(1, t).bind(2, image.id).bind(3, now);
      s.run();
    }
    for (const auto& d : digests) {
      auto s =
          db_.prepare("INSERT OR REPLACE INTO image_digests (reference, image_id) VALUES (?, ?)");
      s.bind(1, d).bind(2, image.id);
      s.run();
    }
  });
}

void ImageStore::tag(const std::string& id, const std::string& normalised_ref) {
  db_.transaction([&] {
    std::int64_t now = unix_nanos(Clock::now());
    auto s = db_.prepare(
        "INSERT OR REPLACE INTO image_tags (reference, image_id, created_at) VALUES (?, ?, ?)");
    s.bind(1, normalised_ref).bind(2, id).bind(3, now);
    s.run();
    auto u = db_.prepare("UPDATE images SET last_tag_time = ? WHERE id = ?");
    u.bind(1, now).bind(2, id);
    u.run();
  });
}

void ImageStore::set_parent(const std::string& id, const std::string& parent) {
  db_.transaction([&] {
    auto u = db_.prepare("UPDATE images SET parent = ? WHERE id = ?");
    u.bind(1, parent).bind(2, id);
    u.run();
  });
}

bool ImageStore::untag(const std::string& normalised_ref) {
  return db_.transaction([&] {
    bool removed = false;
    for (const char* table : {"image_tags", "image_digests"}) {
      auto s = db_.prepare(std::string("DELETE FROM ") + table +
                           " WHERE reference = ? RETURNING image_id");
      s.bind(1, normalised_ref);
      while (s.step())
        removed = true;
    }
    return removed;
  });
}

std::int64_t ImageStore::remove(const std::string& id) {
  auto image = get(id);
  db_.transaction([&] {
    auto s = db_.prepare("DELETE FROM images WHERE id = ?");
    s.bind(1, id);
    s.run();
  });
  collect_garbage();
  std::int64_t freed = 0;
  if (image)
    for (const auto& l : image->layers)
      if (!blobs_.has(l.blob_digest)) freed += l.size;
  return freed;
}

std::int64_t ImageStore::shared_size(const std::string& id) const {
  auto lock = db_.lock();
  auto s = db_.prepare(
      "SELECT COALESCE(SUM(l.blob_size), 0) FROM image_layers l WHERE l.image_id = ? AND EXISTS "
      "(SELECT 1 FROM image_layers o WHERE o.blob_digest = l.blob_digest AND o.image_id != "
      "l.image_id)");
  s.bind(1, id);
  s.step();
  return s.integer(0);
}

std::int64_t ImageStore::collect_garbage() {
  std::set<std::string> keep_blobs, keep_layers;
  {
    auto lock = db_.lock();
    auto s = db_.prepare(
        "SELECT blob_digest, diff_id FROM image_layers UNION ALL SELECT id, '' FROM images UNION "
        "ALL "
        "SELECT manifest_digest, '' FROM images WHERE manifest_digest IS NOT NULL UNION ALL "
        "SELECT substr(reference, instr(reference, '@') + 1), '' FROM image_digests");
    while (s.step()) {
      keep_blobs.insert(s.text(0));
      if (!s.text(1).empty()) keep_layers.insert(s.text(1));
    }
  }
  std::error_code ec;
  std::int64_t freed = 0;
  for (const auto& entry : fs::directory_iterator(root_ + "/blobs/sha256", ec)) {
    std::string digest = "sha256:" + entry.path().filename().string();
    if (!keep_blobs.count(digest)) {
      freed += static_cast<std::int64_t>(entry.file_size(ec));
      fs::remove(entry.path(), ec);
    }
  }
  std::lock_guard lock(unpack_mu_);
  for (const auto& entry : fs::directory_iterator(root_ + "/layers", ec)) {
    std::string diff_id = "sha256:" + entry.path().filename().string();
    if (!keep_layers.count(diff_id)) fs::remove_all(entry.path(), ec);
  }
  return freed;
}

std::string ImageStore::scratch_path(const std::string& prefix) const {
  return root_ + "/layers-tmp/" + prefix + random_hex(8);
}

std::string ImageStore::unpacked_layer(const LayerRecord& layer) {
  std::string dir = root_ + "/layers/" + layer.diff_id.substr(7);
  std::lock_guard lock(unpack_mu_);
  if (fs::exists(dir)) return dir;
  std::string tmp = root_ + "/layers-tmp/" + random_hex(8);
  try {
    unpack_layer(blobs_.path(layer.blob_digest), tmp);
    fs::rename(tmp, dir);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
  return dir;
}

}  // namespace sockerless::image
