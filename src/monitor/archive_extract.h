// Uploads of docker cp (PUT /containers/{id}/archive), unpacked as dockerd's Unpack does
// (parents made as needed, what is in the way replaced unless both are directories, the
// archive's owners, modes, times and extended attributes applied, directory times last),
// with one difference: an archive that would write outside its destination is refused
// whole before anything is written, where dockerd stops half-way or writes it elsewhere.
#pragma once

#include <sys/types.h>

#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "sandbox/sandbox.h"

namespace sockerless::monitor {

struct UploadProblem {
  int status;           // 400: it would leave the destination; 500: not a tar dockerd reads
  std::string message;  // dockerd's wording where it has one
};

// Reads the whole archive (from the start of `tar_fd`) and says why it must not be
// unpacked into the directory `dest`: an absolute name or one climbing out with "..", an
// entry beneath a symbolic link the archive itself made, a hard link to outside, or (but
// at "/", where the root stops it) a symbolic link leading out.
std::optional<UploadProblem> refuse_upload(int tar_fd, const std::string& dest);

struct ExtractOptions {
  bool no_overwrite_dir_non_dir = false;  // a directory never replaces a file, nor vice versa
  std::optional<std::pair<uid_t, gid_t>> owner;  // every entry's owner, instead of the archive's
};

// A step of the unpacking that failed, worded as Go's os package words it.
class ExtractError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Unpacks the archive (from the start of `tar_fd`, checked by refuse_upload) into `dest`,
// a directory resolved in the root `root_fd`. Throws ExtractError.
void extract_upload(int root_fd, const std::string& dest, int tar_fd,
                    const ExtractOptions& options);

// The whole of docker cp's PUT inside the container's root (ours by now): the destination
// resolved, refused when the deepest mount holding it (or the root) is read-only, the
// archive refused whole when it would escape, then unpacked; with `copy_uid_gid`, as
// `user` (resolved in the container's /etc/passwd). nullopt when it was unpacked.
struct PutRequest {
  std::string path;
  bool no_overwrite_dir_non_dir = false;
  bool copy_uid_gid = false;
  std::string user;
  std::vector<sandbox::Mount> mounts;
  bool readonly_rootfs = false;
};
std::optional<UploadProblem> put_archive(int root_fd, const PutRequest& request, int upload);

}  // namespace sockerless::monitor
