// The reverse of unpack_layer: a directory in overlayfs's upper format (whiteouts as 0/0
// character devices, opaque directories marked by xattr) written out as an OCI layer tar
// (".wh.<name>" files and ".wh..wh..opq" markers), for docker commit and build.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

namespace sockerless::image {

using ByteSink = std::function<void(const char* data, std::size_t size)>;

// Writes the uncompressed tar of `dir` to `sink`, entries in a stable (sorted) order, hard
// links kept as links. `skip` gets each path relative to dir with a leading "/" and
// leaves out that entry (and everything beneath it) when it answers true.
void pack_layer(const std::string& dir, const std::function<bool(const std::string&)>& skip,
                const ByteSink& sink);

}  // namespace sockerless::image
