// The state database's schema history. Append only: each entry migrates from the
// version before it.
#include "store/database.h"

namespace sockerless::store {

const std::vector<std::string_view>& migrations() {
  static const std::vector<std::string_view> steps = {
      // 1: images. An image is its config blob (its ID is the config's digest); layers are
      // the compressed blobs its manifest names, with their uncompressed diff IDs.
      R"(
      CREATE TABLE images (
        id TEXT PRIMARY KEY,             -- sha256:<config digest>
        config TEXT NOT NULL,            -- the config blob, verbatim
        manifest_digest TEXT,            -- the manifest it was pulled/pushed as, if any
        manifest_media_type TEXT,
        size INTEGER NOT NULL,           -- sum of uncompressed layer sizes (as dockerd shows)
        created_at INTEGER NOT NULL,     -- when this daemon first stored it (unix nanos)
        last_tag_time INTEGER            -- unix nanos of the last tag operation
      );
      CREATE TABLE image_layers (
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        blob_digest TEXT NOT NULL,       -- compressed layer blob
        media_type TEXT NOT NULL,
        blob_size INTEGER NOT NULL,
        diff_id TEXT NOT NULL,           -- uncompressed digest, from the config
        size INTEGER NOT NULL,           -- uncompressed content size
        PRIMARY KEY (image_id, position)
      );
      CREATE INDEX image_layers_blob ON image_layers(blob_digest);
      CREATE TABLE image_tags (
        reference TEXT PRIMARY KEY,      -- normalised "docker.io/library/busybox:latest"
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        created_at INTEGER NOT NULL
      );
      CREATE INDEX image_tags_image ON image_tags(image_id);
      CREATE TABLE image_digests (
        reference TEXT PRIMARY KEY,      -- normalised "docker.io/library/busybox@sha256:…"
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
      );
      CREATE INDEX image_digests_image ON image_digests(image_id);
      CREATE TABLE registry_logins (
        server TEXT PRIMARY KEY,
        username TEXT NOT NULL,
        password TEXT NOT NULL,
        identity_token TEXT NOT NULL
      );
      )",
      // 2: containers, each as its engine record (JSON), with the name unique.
      R"(
      CREATE TABLE containers (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        doc TEXT NOT NULL
      );
      )",
      // 3: volumes of the local driver (their data lives under the data root).
      R"(
      CREATE TABLE volumes (
        name TEXT PRIMARY KEY,
        doc TEXT NOT NULL
      );
      )",
      // 4: an image made here from a container (commit, build) knows its parent image, as
      // dockerd's local "Parent" does; the build cache looks children up by it.
      R"(
      ALTER TABLE images ADD COLUMN parent TEXT NOT NULL DEFAULT '';
      CREATE INDEX images_parent ON images(parent);
      )",
      // 5: networks (bridge, host, none and user-defined), each as its engine record.
      R"(
      CREATE TABLE networks (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        doc TEXT NOT NULL
      );
      )",
      // 6: exec instances, kept until their container is removed, as dockerd keeps them.
      R"(
      CREATE TABLE execs (
        id TEXT PRIMARY KEY,
        container_id TEXT NOT NULL,
        doc TEXT NOT NULL
      );
      CREATE INDEX execs_by_container ON execs (container_id);
      )",
  };
  return steps;
}

}  // namespace sockerless::store
