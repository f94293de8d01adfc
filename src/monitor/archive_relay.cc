#include "monitor/archive_relay.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <csignal>

#include <cerrno>
#include <clocale>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>

#include "common/time.h"
#include "monitor/archive_extract.h"
#include "monitor/archive_tar.h"
#include "monitor/monitor.h"
#include "monitor/spawn_role.h"
#include "sandbox/archive_path.h"
#include "sandbox/archive_view.h"
#include "sandbox/safe_path.h"
#include "sandbox/user.h"

namespace sockerless::monitor {

using nlohmann::json;

namespace {

// Names need not be UTF-8; like Go's encoder, bad bytes become U+FFFD.
void reply(int fd, const json& doc) {
  send_all(fd, doc.dump(-1, ' ', false, json::error_handler_t::replace) + "\n");
}

json error_reply(int status, const std::string& message) {
  return {{"error", message}, {"status", status}};
}

json do_put(int root_fd, const json& req, const sandbox::ContainerSpec& spec, int upload) {
  PutRequest put;
  put.path = req.value("path", "");
  put.no_overwrite_dir_non_dir = req.value("no_overwrite_dir_non_dir", false);
  put.copy_uid_gid = req.value("copy_uid_gid", false);
  put.user = spec.user;
  put.mounts = spec.mounts;
  put.readonly_rootfs = spec.readonly_rootfs;
  if (auto problem = put_archive(root_fd, put, upload))
    return error_reply(problem->status, problem->message);
  return {{"ok", true}};
}

// docker export: a "get" without a path (the archive API always has one).
bool exporting(const json& req) {
  return req.value("op", "") == "get" && req.value("path", "").empty();
}

// Reads the upload whole into a file of the state directory before anything is
// written, so that an archive that would escape is refused with nothing extracted.
UniqueFd stage_upload(int fd, const std::string& dir) {
  UniqueFd upload(::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (!upload) throw std::runtime_error(std::string("staging the upload: ") + std::strerror(errno));
  char buf[64 * 1024];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0)
    if (::write(upload.get(), buf, static_cast<std::size_t>(n)) != n)
      throw std::runtime_error(std::string("staging the upload: ") + std::strerror(errno));
  return upload;
}

json serve(int fd, const json& req, const sandbox::ContainerSpec& spec, int root_fd, int upload) {
  std::string op = req.value("op", "");
  std::string path = req.value("path", "");
  try {
    if (op == "stat")
      return {{"stat", archive_stat_json(sandbox::stat_for_archive(root_fd, path))}};
    if (exporting(req)) {
      reply(fd, {{"stat", json::object()}});
      write_archive(root_fd, "/", "", fd);
      return nullptr;
    }
    if (op == "get") {
      auto st = sandbox::stat_for_archive(root_fd, path);
      reply(fd, {{"stat", archive_stat_json(st)}});
      write_archive(root_fd, st.source, st.name, fd);
      return nullptr;
    }
    if (op == "put") return do_put(root_fd, req, spec, upload);
    return error_reply(500, "unknown archive operation " + op);
  } catch (const sandbox::PathError& e) {
    if (e.error() == ENOENT)
      return error_reply(404, "Could not find the file " + path + " in container " +
                                  req.value("container", std::string()));
    return error_reply(500, e.what());
  } catch (const std::exception& e) {
    return error_reply(500, e.what());
  }
}

}  // namespace

int run_archive_relay(int fd) {
  ::signal(SIGPIPE, SIG_IGN);
  ::umask(022);
  // Archives carry UTF-8 names (PAX); reading them in the "C" locale would mangle them.
  std::setlocale(LC_CTYPE, "C.UTF-8");
  std::string line;
  char c;
  while (::read(fd, &c, 1) == 1 && c != '\n')
    line += c;
  json req = json::parse(line, nullptr, false);
  if (!req.is_object() || !req.contains("spec")) {
    reply(fd, error_reply(500, "bad request"));
    return 1;
  }
  UniqueFd upload, root;
  sandbox::ContainerSpec spec;
  try {
    spec = config_from_json(json{{"spec", req.at("spec")}}).spec;
    if (req.value("op", "") == "put") upload = stage_upload(fd, spec.state_dir);
    sandbox::enter_archive_view(
        spec, req.value("running", false) ? req.value("pid", 0) : 0,
        exporting(req) ? sandbox::ArchiveMounts::kNone : sandbox::ArchiveMounts::kWithVolumes);
    root = UniqueFd(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root) throw std::runtime_error(std::string("open /: ") + std::strerror(errno));
  } catch (const std::exception& e) {
    reply(fd, error_reply(500, e.what()));
    return 1;
  }
  json answer = serve(fd, req, spec, root.get(), upload.get());
  if (!answer.is_null()) reply(fd, answer);
  ::shutdown(fd, SHUT_WR);
  return answer.contains("error") ? 1 : 0;
}

UniqueFd launch_archive(const std::string& self_exe, const std::string& log_dir,
                        const json& request) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    throw std::runtime_error(std::string("socketpair: ") + std::strerror(errno));
  UniqueFd ours(sv[0]), theirs(sv[1]);
  spawn_role(self_exe, "archive", log_dir, theirs.get(), log_dir + "/archive.log", "archive relay");
  if (!send_all(ours.get(), request.dump() + "\n"))
    throw std::runtime_error("the archive relay went away");
  return ours;
}

}  // namespace sockerless::monitor
