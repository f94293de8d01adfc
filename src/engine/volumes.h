// Volumes of the local driver: directories under the data root, records in the state
// database, the volume API's semantics (idempotent create, filters, in-use checks, prune),
// the driver's mount options (type/device/o: tmpfs, bind, nfs…) mounted on first use and
// unmounted by the last user, and the first-use copy of an image's content.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "api/filters.h"
#include "common/unique_fd.h"
#include "engine/events.h"

namespace sockerless::store {
class Database;
}

namespace sockerless::engine {

struct Volume {
  std::string name;
  std::string driver = "local";
  std::string mountpoint;
  std::int64_t created_at = 0;  // unix nanos
  std::map<std::string, std::string> labels, options;
  // Whether the request carried Labels / DriverOpts as objects: dockerd keeps what it was
  // given, so an empty map shows as {} and an absent one as null.
  bool labels_given = false, options_given = false;
  bool anonymous = false;
  nlohmann::json to_json() const;  // as GET /volumes/{name} shows it
  // Whether the local driver mounts something on the mountpoint (options type/device).
  bool needs_mount() const { return options.count("type") || options.count("device"); }
};

// The local driver's pieces that need no volume: pure, and tested on their own.
namespace local_driver {

// The options `docker volume create -o` may give, checked as dockerd's local driver does:
// throws InvalidArgument "invalid option: \"foo\"", "missing required option: \"device\"",
// "quota size requested but no quota support" (sockerless has no quota support).
void validate_options(const std::map<std::string, std::string>& options);

// The `o` option as mount(8) reads it: flag words (ro, bind, nosuid, …) become MS_* flags,
// propagation words (rprivate, shared, …) are applied apart, the rest is the filesystem's
// data ("size=10m,uid=1000").
struct MountArgs {
  unsigned long flags = 0;
  unsigned long propagation = 0;
  std::string data;
};
MountArgs parse_mount_options(std::string_view o);

// Bytes used under `path` as dockerd's system df counts them: regular files and symlinks,
// each inode once, directories not at all.
std::int64_t disk_usage(const std::string& path);

// Whether `path` is the root of a mount.
bool is_mountpoint(const std::string& path);

// Extracts a tar whose first path component is a directory into `dir`: the entries below it
// land inside `dir` (owners, modes, times, xattrs kept; nothing may leave `dir`) and the
// directory's own owner and mode go to `dir` itself. Throws Internal on a broken archive.
void extract_rooted_tar(int fd, const std::string& dir);

}  // namespace local_driver

class Volumes {
 public:
  // `in_use` names the containers (IDs) using a volume.
  Volumes(store::Database& db, std::string root, EventBus& events,
          std::function<std::vector<std::string>(const std::string&)> in_use);

  // Idempotent for an existing volume of the same driver, like dockerd (labels and options
  // of the request are then ignored). Empty name: a generated one (an anonymous volume when
  // `anonymous`). Throws InvalidArgument "create <name>: …" for a bad name or options.
  Volume create(std::string name, const std::string& driver,
                const std::map<std::string, std::string>& labels,
                const std::map<std::string, std::string>& options, bool anonymous = false,
                bool labels_given = false, bool options_given = false);
  Volume get(const std::string& name) const;  // throws NotFound "get <name>: no such volume"
  std::optional<Volume> find(const std::string& name) const;
  std::vector<Volume> list(const api::Filters& filters) const;
  // Throws Conflict "remove <name>: volume is in use - [ids]"; a volume's own mount is
  // taken down before its directory goes, and nothing is deleted through a mount.
  void remove(const std::string& name, bool force);
  // Unused volumes (anonymous ones only unless `all`), as POST /volumes/prune.
  std::pair<std::vector<std::string>, std::int64_t> prune(const api::Filters& filters);

  // GET /system/df: each volume with its size and how many containers refer to it.
  struct Usage {
    Volume volume;
    std::int64_t size = 0;
    std::int64_t ref_count = 0;
  };
  std::vector<Usage> usage() const;

  // The volume's content made available at its mountpoint for `holder` (a container ID):
  // a volume with mount options is mounted on its _data by the first holder, as dockerd's
  // local driver does. Returns the mountpoint. Throws NotFound for an unknown volume and
  // Internal "error while mounting volume '<mountpoint>': failed to mount local volume: …".
  std::string mount(const std::string& name, const std::string& holder);
  // Drops `holder`'s use; the last one out unmounts. Never throws.
  void unmount(const std::string& name, const std::string& holder);
  // At start-up: `holders` (volume → IDs of running containers) adopt the mounts a previous
  // run left; mounts that nobody holds any more are taken down.
  void restore_mounts(const std::map<std::string, std::vector<std::string>>& holders);

  // First use of a volume at a path where the image has content: when the volume (mounted
  // if it needs to be) is empty, `open_tar` is called for that content as a tar rooted at
  // the directory (see extract_rooted_tar) and it is copied in, like dockerd's
  // copyExistingContents. Nothing happens when the volume has content or `open_tar` gives
  // no fd. Fills of one daemon run one at a time.
  void fill(const std::string& name, const std::function<UniqueFd()>& open_tar);

 private:
  void persist(const Volume& v);
  static Volume from_json(const nlohmann::json& doc);
  void mount_local(const Volume& v);  // mount(2) of the options on v.mountpoint

  store::Database& db_;
  std::string root_;
  EventBus& events_;
  std::function<std::vector<std::string>(const std::string&)> in_use_;
  mutable std::mutex mu_;
  std::map<std::string, Volume> volumes_;
  std::mutex mount_mu_;                                   // mounts and holders_
  std::map<std::string, std::set<std::string>> holders_;  // volume → holders of its mount
  std::mutex fill_mu_;
};

}  // namespace sockerless::engine
