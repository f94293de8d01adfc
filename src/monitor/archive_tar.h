// The tar stream of GET /containers/{id}/archive, as dockerd writes it (Go's archive/tar,
// PAX where USTAR cannot say it): entries in lexical order, directories named with a
// trailing "/", the file type kept in the mode field, second and later names of a file
// as hard links to the first, owners' names from the container's /etc/passwd and
// /etc/group, the security.capability attribute kept, sockets left out.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "sandbox/archive_path.h"

namespace sockerless::monitor {

// Writes `source` (a path resolved in the root `root_fd`, not followed if it is a link)
// and everything below it to `out_fd`, naming the entries from `rebase` instead of the
// source's own base name: "." names a directory's contents "./…", "/" names the root's
// entries "/…", "" leaves the source itself out and names what is below it relative to it
// (docker export). Returns false when the reader went away.
bool write_archive(int root_fd, const std::string& source, const std::string& rebase, int out_fd);

// Go's os.FileMode bits, as docker cp's stat header carries them.
std::uint32_t go_mode(mode_t m);
// The stat header's fields: name, size, mode, mtime (RFC 3339), linkTarget.
nlohmann::json archive_stat_json(const sandbox::ArchiveStat& s);

}  // namespace sockerless::monitor
