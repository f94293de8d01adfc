// docker cp on the memory backend: a short-lived process of the daemon's binary
// ("sockerlessd archive <state-dir>", its connection to the daemon as fd 3) that sees the
// container as dockerd's archive API does (sandbox/archive_view.h) and then stats, reads
// or writes paths by dockerd's rules (sandbox/archive_path.h, archive_tar.h,
// archive_extract.h) with no way out of that root.
//
// The daemon sends one JSON line: {"op":"stat"|"get"|"put","path":…,"container":…,
// "spec":{…},"running":bool,"pid":n,"no_overwrite_dir_non_dir":bool,"copy_uid_gid":bool};
// for "put" the tar follows (the daemon half-closes when done). The relay answers one JSON
// line: {"stat":{"name","size","mode","mtime","linkTarget"}} or {"error":…,"status":n}
// (404 missing, 400 an archive that would escape, 500 what dockerd fails with); for "get"
// the tar follows until EOF; for "put" the line comes after extraction.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>

#include "common/unique_fd.h"

namespace sockerless::monitor {

int run_archive_relay(int fd);

// Starts a relay, sends the request line, returns the connection.
UniqueFd launch_archive(const std::string& self_exe, const std::string& log_dir,
                        const nlohmann::json& request);

}  // namespace sockerless::monitor
