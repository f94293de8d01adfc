// Layer blobs: reading their uncompressed content (diff ID, size) and unpacking them into
// a directory in overlayfs's format (whiteouts as 0/0 character devices, opaque
// directories marked with trusted.overlay.opaque), ready to be a lower layer.
#pragma once

#include <cstdint>
#include <string>

namespace sockerless::image {

struct LayerInfo {
  std::string diff_id;     // sha256 of the uncompressed tar
  std::uint64_t size = 0;  // sum of the regular files' sizes, as dockerd reports layer size
  std::uint64_t tar_size = 0;
};

// Reads a (gzip, zstd or uncompressed) layer blob through. Throws InvalidArgument when it
// is not a readable archive.
LayerInfo scan_layer(const std::string& blob_path);

// Unpacks a layer into `dest` (created; must not exist). Entries that would land outside
// `dest` (absolute names, "..", symlinked parents) are refused with InvalidArgument.
void unpack_layer(const std::string& blob_path, const std::string& dest);

}  // namespace sockerless::image
