#include "engine/builder.h"
#include <sys/stat.h>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>

#include "build/config.h"
#include "build/dockerfile.h"
#include "build/dockerignore.h"
#include "build/stages.h"
#include "common/errors.h"
#include "common/files.h"
#include "common/unique_fd.h"
#include "engine/backend.h"
#include "engine/build_copy.h"
#include "engine/build_git.h"
#include "engine/containers.h"
#include "image/image_service.h"
#include "image/reference.h"

namespace sockerless::engine {
namespace {

using nlohmann::json;
namespace bf = build_files;
namespace fs = std::filesystem;

std::string short_id(const std::string& id) {
  auto hex = id.rfind("sha256:", 0) == 0 ? id.substr(7) : id;
  return hex.substr(0, 12);
}

// Copies everything readable from `fd` into `path`.
void spool(int fd, const std::string& path) {
  UniqueFd out(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!out) throw Internal("cannot write " + path);
  char buf[64 * 1024];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    for (ssize_t done = 0; done < n;) {
      ssize_t w = ::write(out.get(), buf + done, static_cast<std::size_t>(n - done));
      if (w <= 0) throw Internal("cannot write " + path);
      done += w;
    }
  }
}

// The fields dockerd's build cache compares (image/cache compare()): an absent field, null
// and an empty value are the same.
bool same_config(const json& a, const json& b) {
  for (const char* k : {"Cmd", "Env", "Labels", "ExposedPorts", "Entrypoint", "Volumes"}) {
    auto norm = [&](const json& c) {
      json v = c.is_object() && c.contains(k) ? c[k] : json(nullptr);
      return v.empty() ? json(nullptr) : v;
    };
    if (norm(a) != norm(b)) return false;
  }
  return a.value("OpenStdin", false) == b.value("OpenStdin", false) &&
         a.value("Tty", false) == b.value("Tty", false);
}

std::string normalize_dest(const std::string& workdir, const std::string& dest) {
  bool slash = !dest.empty() && dest.back() == '/';
  std::string abs = dest;
  if (abs.empty() || abs.front() != '/')
    abs = build::join_workdir(workdir.empty() ? "/" : workdir, dest);
  std::string clean = "/" + build::clean_path(abs.substr(1));
  if (clean == "/.") clean = "/";
  if (slash && clean != "/") clean += "/";
  return clean;
}

// One build: the state that lives from the context to the final tag.
class BuildRun {
 public:
  BuildRun(Containers& containers, image::ImageService& images, const BuildOptions& options,
           const BuildOutput& out)
      : containers_(containers),
        images_(images),
        options_(options),
        out_(out),
        args_(options.build_args) {}

  ~BuildRun() {
    for (const auto& id : leftover_)
      remove_container(id, false);
    // The scratch base goes unless a kept step container (rm=false) still uses it.
    if (!scratch_base_.empty() && !containers_.image_user(scratch_base_)) {
      try {
        images_.store().remove(scratch_base_);
      } catch (const std::exception&) {
        // Left untagged; `docker image prune` removes it.
      }
    }
  }

  std::string run(int context_fd) {
    for (const auto& t : options_.tags)
      image::with_default_tag(image::parse_reference(t));  // a bad -t fails before any step
    load_context(context_fd);
    std::string name = options_.dockerfile.empty() ? "Dockerfile" : options_.dockerfile;
    std::string path = context_dir_ + "/" + build::clean_path(name);
    if (!fs::is_regular_file(path))
      throw InvalidArgument("Cannot locate specified Dockerfile: " + name);
    df_ = build::parse_dockerfile(read_file(path), name);
    auto patterns = build::parse_dockerignore(read_file(context_dir_ + "/.dockerignore"));
    // As dockerd: the Dockerfile and .dockerignore were sent to be read, and go from the
    // context when .dockerignore names them (the CLI names a Dockerfile from outside the
    // context, which it sends as .dockerfile.<random>, so COPY . never copies it).
    if (fs::exists(context_dir_ + "/.dockerignore")) {
      std::error_code ec;
      for (const auto& rel : build::build_files_to_remove(patterns, name))
        fs::remove(context_dir_ + "/" + rel, ec);
    }
    ignore_ = std::make_unique<build::Dockerignore>(std::move(patterns), build::clean_path(name));
    std::size_t target = build::target_stage(df_, options_.target);
    add_label_step(target);
    total_ = build::total_steps(df_, target);
    stage_images_.assign(df_.stages.size(), "");
    for (const auto& meta : df_.meta_args) {
      print_step(meta);
      args_.declare_meta(meta, df_.escape);
    }
    std::string id;
    for (auto index : build::stages_to_build(df_, target))
      id = build_stage(index);
    if (auto warning = args_.unconsumed_warning(); !warning.empty()) say(warning + "\n");
    say("Successfully built " + short_id(id) + "\n");
    for (const auto& t : options_.tags) {
      auto ref = image::with_default_tag(image::parse_reference(t));
      images_.tag(id, ref.str());
      say("Successfully tagged " + ref.familiar() + "\n");
    }
    return id;
  }

 private:
  void say(const std::string& text) {
    if (out_.stream) out_.stream(text);
  }
  void print_step(const build::Instruction& in) {
    say(build::step_line(++step_, total_, in) + "\n");
  }

  void load_context(int fd) {
    context_ = std::make_unique<bf::TempDir>(images_.store().scratch_path("build-context-"));
    std::string spooled = context_->path() + ".body";
    context_dir_ = context_->path();
    if (!options_.remote.empty() && bf::is_git_url(options_.remote)) {
      try {
        context_dir_ = bf::clone_git(options_.remote, context_->path());
      } catch (const InvalidArgument& e) {
        throw Internal(e.what());  // dockerd answers a failed clone with 500 and git's words
      }
      return;
    }
    if (!options_.remote.empty()) {
      const auto& url = options_.remote;
      if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0)
        throw InvalidArgument("unable to prepare context: remote URL " + url +
                              " is neither a git repository nor an http(s) URL");
      bf::download(url, spooled);
    } else {
      spool(fd, spooled);
    }
    bf::complete_tar_end(spooled);
    UniqueFd body(::open(spooled.c_str(), O_RDONLY | O_CLOEXEC));
    bool extracted = true;
    try {
      bf::extract_tar(body.get(), context_->path());
    } catch (const InvalidArgument&) {
      extracted = false;
    }
    // Not an archive: the body is the Dockerfile itself (docker build - < Dockerfile).
    if (!extracted) {
      std::string text = read_file(spooled);
      std::ofstream(
          context_->path() + "/" +
          build::clean_path(options_.dockerfile.empty() ? "Dockerfile" : options_.dockerfile))
          << text;
    }
    ::unlink(spooled.c_str());
  }

  // dockerd turns --label into one more LABEL step at the end of the target stage.
  void add_label_step(std::size_t target) {
    if (options_.labels.empty()) return;
    std::string line = "LABEL";
    for (const auto& [k, v] : options_.labels)
      line += " \"" + k + "\"='" + v + "'";
    auto parsed = build::parse_instructions(line, df_.escape);
    auto& commands = df_.stages[target].commands;
    commands.insert(commands.end(), parsed.begin(), parsed.end());
  }

  std::string base_image(const std::string& ref, const std::string& platform) {
    if (!options_.pull)
      if (auto id = images_.store().find(ref)) return *id;
    image::ProgressFn progress = [this](const json& m) {
      if (out_.message) out_.message(m);
    };
    return images_.pull(ref, platform.empty() ? options_.platform : platform, {}, progress);
  }

  std::string build_stage(std::size_t index) {
    const auto& stage = df_.stages[index];
    print_step(stage.from);
    auto base = build::resolve_base(df_, index, args_);
    if (base.stage) {
      current_ = stage_images_[*base.stage];
    } else if (base.image == "scratch") {
      current_ = scratch_base();
    } else {
      current_ = base_image(base.image, base.platform);
    }
    auto record = images_.store().get(current_);
    if (!record) throw NotFound("No such image: " + current_);
    json image = json::parse(record->config, nullptr, false);
    state_ = std::make_unique<build::StageState>(args_, df_.escape);
    if (image.is_object() && image.contains("config") && image["config"].is_object())
      state_->config = image["config"];
    stage_index_ = index;
    run_triggers();
    say(" ---> " + short_id(parent_id()) + "\n");  // nothing for scratch, as dockerd
    for (const auto& in : stage.commands) {
      print_step(in);
      dispatch(in);
      say(" ---> " + short_id(current_) + "\n");
    }
    if (out_.message) out_.message({{"aux", {{"ID", current_}}}});
    stage_images_[index] = current_;
    return current_;
  }

  void run_triggers() {
    auto& config = state_->config;
    if (!config.contains("OnBuild") || !config["OnBuild"].is_array() || config["OnBuild"].empty()) {
      return;
    }
    auto triggers = config["OnBuild"];
    config["OnBuild"] = json::array();
    say("# Executing " + std::to_string(triggers.size()) + " build trigger" +
        (triggers.size() > 1 ? "s" : "") + "\n");
    for (const auto& t : triggers)
      for (const auto& in : build::parse_instructions(t.get<std::string>(), df_.escape))
        dispatch(in);
  }

  void dispatch(const build::Instruction& in) {
    using build::Kind;
    switch (in.kind) {
      case Kind::Run:
        return run_step(in);
      case Kind::Copy:
      case Kind::Add:
        return copy_step(in);
      case Kind::From:
        throw InvalidArgument("FROM is not allowed here");
      case Kind::Workdir:
        return workdir_step(in);
      default:
        break;
    }
    auto cmd = build::apply_instruction(*state_, in);
    commit_step(cmd, [](const std::string&) { return false; });
  }

  // FROM scratch: the step containers need an image, so the build makes one with no
  // layers (and dockerd's default PATH, as its builder gives every stage). Images built on
  // it record no parent, as dockerd's do; it is removed again when the build ends.
  std::string scratch_base() {
    if (scratch_base_.empty()) {
      image::CommitInfo info;
      info.empty_layer = true;
      json config = {
          {"Env",
           json::array({"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"})}};
      scratch_base_ = images_.commit("", config, info, nullptr);
    }
    return scratch_base_;
  }
  // The image a step builds on, as recorded: none for the scratch base.
  std::string parent_id() const { return current_ == scratch_base_ ? "" : current_; }

  // ContainerConfig for the cache and the image record: the stage's config with the
  // step's command (dockerd's runConfigForCacheProbe).
  json probe_config(const std::vector<std::string>& cmd) const {
    json c = state_->config;
    c["Cmd"] = cmd;
    c["Entrypoint"] = nullptr;
    c["Image"] = parent_id();
    return c;
  }

  bool cache_hit(const json& probe) {
    if (options_.no_cache) return false;
    std::optional<image::ImageRecord> best;
    for (const auto& child : images_.store().children(parent_id())) {
      json c = json::parse(child.config, nullptr, false);
      if (!c.is_object() || !same_config(c.value("container_config", json()), probe)) continue;
      if (!best || child.created_at > best->created_at) best = child;
    }
    std::optional<std::string> hit;
    if (options_.cache_from.empty()) {
      if (best) hit = best->id;
    } else {
      // --cache-from: a step built here counts only in a named image's chain; otherwise
      // a named image whose history goes on from the parent's with this step.
      if (best && in_source_chain(best->id)) hit = best->id;
      if (!hit) hit = source_hit(probe);
    }
    if (!hit) return false;
    say(" ---> Using cache\n");
    current_ = *hit;
    return true;
  }

  // The --cache-from images, looked up once; names that match nothing are skipped.
  const std::vector<image::ImageRecord>& cache_sources() {
    if (!sources_loaded_) {
      sources_loaded_ = true;
      for (const auto& ref : options_.cache_from)
        if (auto id = images_.store().find(ref))
          if (auto record = images_.store().get(*id)) cache_sources_.push_back(*record);
    }
    return cache_sources_;
  }

  // Whether `id` is a --cache-from image or an ancestor (through recorded parents) of one.
  bool in_source_chain(const std::string& id) {
    for (const auto& source : cache_sources()) {
      std::string at = source.id;
      for (int depth = 0; !at.empty() && depth < 10000; ++depth) {
        if (at == id) return true;
        auto record = images_.store().get(at);
        if (!record) break;
        at = record->parent;
      }
    }
    return false;
  }

  // dockerd's cache from an image's history (one pulled or loaded, with no parents here):
  // the image goes on from the parent's history and layers, and its next history entry
  // was made by this step's command. At its last entry the image itself is the step's
  // result; before it, an image of the parent plus that entry's layer is made.
  std::optional<std::string> source_hit(const json& probe) {
    std::string parent = parent_id();
    json parent_config = json::object();
    if (!parent.empty()) {
      auto record = images_.store().get(parent);
      if (!record) return std::nullopt;
      parent_config = json::parse(record->config, nullptr, false);
      if (!parent_config.is_object()) return std::nullopt;
    }
    auto history_of = [](const json& c) {
      return c.contains("history") && c["history"].is_array() ? c["history"] : json::array();
    };
    auto diffs_of = [](const json& c) {
      if (c.contains("rootfs") && c["rootfs"].is_object() && c["rootfs"].contains("diff_ids") &&
          c["rootfs"]["diff_ids"].is_array())
        return c["rootfs"]["diff_ids"];
      return json::array();
    };
    json parent_history = history_of(parent_config), parent_diffs = diffs_of(parent_config);
    std::size_t at = parent_history.size();
    std::vector<std::string> cmd = probe.value("Cmd", std::vector<std::string>{});
    std::string made_by = build::created_by(cmd);
    for (const auto& target : cache_sources()) {
      json config = json::parse(target.config, nullptr, false);
      if (!config.is_object()) continue;
      json history = history_of(config), diffs = diffs_of(config);
      if (history.empty() || at >= history.size() || parent_diffs.size() > diffs.size()) continue;
      bool prefix = true;
      for (std::size_t i = 0; prefix && i < at; ++i)
        prefix = parent_history[i] == history[i];
      for (std::size_t i = 0; prefix && i < parent_diffs.size(); ++i)
        prefix = parent_diffs[i] == diffs[i];
      if (!prefix || !history[at].is_object() || history[at].value("created_by", "") != made_by)
        continue;
      if (at + 1 == history.size()) {
        if (!parent.empty()) images_.store().set_parent(target.id, parent);
        return target.id;
      }
      auto id = restore_cached(parent, parent_config, target, config, at, probe);
      if (id) {
        // dockerd looks no further than this image for the steps after.
        auto keep = target;
        cache_sources_ = {keep};
      }
      return id;
    }
    return std::nullopt;
  }

  // An image of `parent` plus the history entry `at` of `target` (and its layer, if the
  // entry made one), recorded as the parent's child: what dockerd's cache makes.
  std::optional<std::string> restore_cached(const std::string& parent, const json& parent_config,
                                            const image::ImageRecord& target, const json& config,
                                            std::size_t at, const json& probe) {
    const json& history = config["history"];
    json entry = history[at];
    std::size_t layer_index = 0;
    for (std::size_t i = 0; i < at; ++i)
      if (!history[i].value("empty_layer", false)) ++layer_index;
    image::ImageRecord record;
    json image = {{"architecture", config.value("architecture", "")},
                  {"os", config.value("os", "")},
                  {"config", probe},
                  {"created", entry.value("created", "")}};
    if (config.contains("author")) image["author"] = config["author"];
    json hist = parent_config.contains("history") && parent_config["history"].is_array()
                    ? parent_config["history"]
                    : json::array();
    hist.push_back(entry);
    image["history"] = hist;
    json diffs = json::array();
    if (!parent.empty()) {
      auto p = images_.store().get(parent);
      if (!p) return std::nullopt;
      record.layers = p->layers;
      record.size = p->size;
      if (parent_config.contains("rootfs") && parent_config["rootfs"].contains("diff_ids"))
        diffs = parent_config["rootfs"]["diff_ids"];
    }
    if (!entry.value("empty_layer", false)) {
      if (layer_index >= target.layers.size()) return std::nullopt;
      const auto& layer = target.layers[layer_index];
      record.layers.push_back(layer);
      record.size += layer.size;
      diffs.push_back(layer.diff_id);
    }
    image["rootfs"] = {{"type", "layers"}, {"diff_ids", diffs}};
    record.config = image.dump();
    record.id = images_.store().blobs().put(record.config);
    record.parent = parent;
    images_.store().put(record, {}, {});
    return record.id;
  }

  // Creates the step's container from the current image; dockerd announces it.
  std::string create_container(const std::vector<std::string>& argv,
                               const std::vector<std::string>& env, bool announce,
                               const std::vector<std::string>& binds = {}) {
    json host = {{"NetworkMode", options_.network_mode}};
    if (!binds.empty()) host["Binds"] = binds;
    if (!options_.extra_hosts.empty()) host["ExtraHosts"] = options_.extra_hosts;
    if (options_.shm_size > 0) host["ShmSize"] = options_.shm_size;
    json body = {{"Image", current_},
                 {"Cmd", argv},
                 {"Entrypoint", json::array({""})},
                 {"Env", env},
                 {"WorkingDir", state_->config.value("WorkingDir", "")},
                 {"User", state_->config.value("User", "")},
                 {"Healthcheck", {{"Test", {"NONE"}}}},
                 {"HostConfig", host}};
    auto [id, warnings] = containers_.create("", body);
    step_containers_.push_back(id);
    leftover_.push_back(id);
    if (announce) say(" ---> Running in " + short_id(id) + "\n");
    return id;
  }

  void remove_container(const std::string& id, bool announce) {
    try {
      containers_.remove(id, true);
      if (announce) say("Removing intermediate container " + short_id(id) + "\n");
    } catch (const std::exception&) {
    }
    std::erase(leftover_, id);
  }

  // dockerd removes the step's containers after the step (on failure only with forcerm).
  void finish_step(bool ok, bool announce) {
    auto ids = std::move(step_containers_);
    step_containers_.clear();
    if (ok ? (options_.remove || options_.force_remove) : options_.force_remove) {
      for (const auto& id : ids)
        remove_container(id, announce);
    } else {
      for (const auto& id : ids)
        std::erase(leftover_, id);  // kept, as the user asked
    }
  }

  void commit(const std::string& container, const std::vector<std::string>& cmd, bool layer) {
    json config = state_->config;
    config["Image"] = parent_id();
    image::CommitInfo info;
    info.container_id = container;
    info.container_config_text = probe_config(cmd).dump();
    info.created_by = build::created_by(cmd);
    info.author = state_->author;
    info.empty_layer = !layer;
    current_ = images_.commit(parent_id(), config, info,
                              [&](const std::function<void(const char*, std::size_t)>& sink) {
                                containers_.write_changes(container, sink);
                              });
  }

  // A step through a container: the cache first, then `work` on a created container,
  // which answers whether it changed the filesystem; then the commit.
  void commit_step(const std::vector<std::string>& cmd,
                   const std::function<bool(const std::string&)>& work) {
    json probe = probe_config(cmd);
    if (cache_hit(probe)) return;
    std::string id = create_container(cmd, state_->env(), true);
    bool changed = false;
    try {
      changed = work(id);
      commit(id, cmd, changed);
    } catch (...) {
      finish_step(false, true);
      throw;
    }
    finish_step(true, true);
  }

  std::optional<PathStat> stat_in(const std::string& container, const std::string& path) {
    try {
      return containers_.archive_stat(container, path);
    } catch (const NotFound&) {
      return std::nullopt;
    }
  }
  static bool is_dir(const PathStat& st) {
    return (st.mode & (1u << 31)) != 0 || !st.link_target.empty();
  }

  // Directories of `rel` (relative to /) the container lacks, parent first.
  std::vector<std::string> missing_dirs(const std::string& container, const std::string& rel) {
    std::vector<std::string> out;
    if (rel.empty()) return out;
    std::string prefix;
    bool missing = false;
    std::stringstream parts(rel);
    std::string part;
    while (std::getline(parts, part, '/')) {
      prefix += (prefix.empty() ? "" : "/") + part;
      if (!missing && !stat_in(container, "/" + prefix)) missing = true;
      if (missing) out.push_back(prefix);
    }
    return out;
  }

  void put_tar(const std::string& container, const std::string& tar_path) {
    UniqueFd fd(::open(tar_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw Internal("cannot read " + tar_path);
    containers_.archive_put(container, "/", fd.get(), false, true);
  }

  void workdir_step(const build::Instruction& in) {
    auto cmd = build::apply_instruction(*state_, in);
    std::string dir = state_->config.value("WorkingDir", "/");
    commit_step(cmd, [&](const std::string& id) {
      bf::CopyDest dest;
      dest.missing_dirs = missing_dirs(id, build::clean_path(dir.substr(1)));
      if (dest.missing_dirs.empty()) return false;
      bf::TempDir tmp(images_.store().scratch_path("build-workdir-"));
      bf::write_copy_tar({}, dest, {}, nullptr, tmp.path() + "/put.tar");
      put_tar(id, tmp.path() + "/put.tar");
      return true;
    });
  }

  void run_step(const build::Instruction& in) {
    auto plan = build::plan_run(*state_, in);
    // A #! heredoc runs as a file under /dev/pipes, as BuildKit does: bound in read-only
    // from a directory of ours, so it is never part of the layer. Its body is part of the
    // cache key and the history.
    std::optional<bf::TempDir> scripts;
    std::vector<std::string> binds;
    std::vector<std::string> cache_cmd = plan.container_cmd;
    for (const auto& f : plan.files) {
      if (!scripts) scripts.emplace(images_.store().scratch_path("build-heredoc-"));
      auto slash = f.path.rfind('/');
      std::string host = scripts->path() + f.path.substr(slash);
      std::ofstream(host, std::ios::binary) << f.content;
      fs::permissions(host, static_cast<fs::perms>(f.mode));
      binds.push_back(scripts->path() + ":" + f.path.substr(0, slash) + ":ro");
      cache_cmd.push_back(f.content);
    }
    json probe = probe_config(cache_cmd);
    if (cache_hit(probe)) return;
    std::string id = create_container(plan.argv, plan.env, true, binds);
    try {
      int code = run_container(id);
      if (code != 0) {
        std::string joined;
        for (const auto& a : plan.argv)
          joined += (joined.empty() ? "" : " ") + a;
        throw BuildStepFailed(
            "The command '" + joined + "' returned a non-zero code: " + std::to_string(code), code);
      }
      commit(id, cache_cmd, true);
    } catch (...) {
      finish_step(false, true);
      throw;
    }
    finish_step(true, true);
  }

  // Starts the container and streams its output (from its log) until it exits.
  int run_container(const std::string& id) {
    containers_.start(id);
    std::string path = containers_.log_path(id);
    std::ifstream log;
    std::string pending;
    auto drain = [&] {
      if (!log.is_open()) {
        log.open(path, std::ios::binary);
        if (!log.is_open()) return;
      }
      char buf[16 * 1024];
      for (;;) {
        log.read(buf, sizeof buf);
        auto n = log.gcount();
        if (n <= 0) break;
        pending.append(buf, static_cast<std::size_t>(n));
      }
      log.clear();
      // stdout as it came; each piece of stderr in red, as dockerd's classic builder
      // writes it (\x1b[91m … \x1b[0m in the stream message).
      std::size_t start = 0, nl;
      std::string text;
      while ((nl = pending.find('\n', start)) != std::string::npos) {
        json line = json::parse(pending.substr(start, nl - start), nullptr, false);
        start = nl + 1;
        if (!line.is_object()) continue;
        std::string piece = line.value("log", "");
        if (piece.empty()) continue;
        if (line.value("stream", "stdout") != "stderr") {
          text += piece;
          continue;
        }
        if (!text.empty()) say(text);
        text.clear();
        say("\x1b[91m" + piece + "\x1b[0m");
      }
      pending.erase(0, start);
      if (!text.empty()) say(text);
    };
    for (;;) {
      auto c = containers_.get(id);
      drain();
      if (!c.running() && c.state.status != "created") {
        drain();
        return c.state.exit_code;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
    }
  }

  bf::Ownership ownership(const std::string& chown, const std::string& chmod,
                          const std::string& container) {
    bf::Ownership o;
    if (!chmod.empty()) {
      try {
        std::size_t used = 0;
        o.mode = static_cast<std::uint32_t>(std::stoul(chmod, &used, 8));
        if (used != chmod.size() || *o.mode > 07777) throw std::invalid_argument(chmod);
      } catch (const std::exception&) {
        throw InvalidArgument("invalid chmod parameter: " + chmod);
      }
    }
    if (chown.empty()) return o;
    auto colon = chown.find(':');
    std::string user = chown.substr(0, colon);
    std::string group = colon == std::string::npos ? user : chown.substr(colon + 1);
    auto numeric = [](const std::string& s) {
      return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
    };
    auto lookup = [&](const std::string& name, const char* file,
                      const char* what) -> std::uint32_t {
      if (numeric(name)) return static_cast<std::uint32_t>(std::stoul(name));
      std::string text;
      try {
        PathStat st;
        UniqueFd fd = containers_.archive_get(container, file, st);
        text = bf::read_from_tar(fd.get(), file);
      } catch (const NotFound&) {
      }
      if (auto id = bf::lookup_id(text, name)) return *id;
      throw InvalidArgument("unable to convert uid/gid chown string to host mapping: can't find " +
                            std::string(what) + " for " + (what[0] == 'u' ? "user " : "group ") +
                            name + ": no such " + (what[0] == 'u' ? "user" : "group") + ": " +
                            name);
    };
    o.uid = lookup(user, "/etc/passwd", "uid");
    o.gid = lookup(group, "/etc/group", "gid");
    return o;
  }

  // --from sources: copied out of the stage's (or image's) filesystem into `tmp`.
  std::vector<bf::CopyItem> image_items(const std::string& from,
                                        const std::vector<std::string>& sources,
                                        const std::string& tmp) {
    std::string image;
    if (auto stage = build::find_stage(df_, from, stage_index_, true))
      image = stage_images_[*stage];
    else
      image = base_image(from, "");
    json body = {{"Image", image}, {"Cmd", {"/bin/sh", "-c", "#(nop) COPY"}}};
    auto [id, warnings] = containers_.create("", body);
    leftover_.push_back(id);
    std::vector<bf::CopyItem> items;
    try {
      int n = 0;
      for (const auto& raw : sources) {
        std::string src = "/" + build::clean_path(raw[0] == '/' ? raw.substr(1) : raw);
        std::string dir = tmp + "/" + std::to_string(n++);
        PathStat st;
        UniqueFd fd;
        try {
          fd = containers_.archive_get(id, src, st);
        } catch (const NotFound&) {
          throw InvalidArgument("COPY failed: stat " + src + ": file does not exist");
        }
        bf::extract_tar(fd.get(), dir);
        bf::CopyItem item;
        item.name = st.name.empty() ? "" : st.name;
        item.host_path = item.name.empty() ? dir : dir + "/" + item.name;
        item.dir = is_dir(st) && st.link_target.empty();
        items.push_back(item);
      }
    } catch (...) {
      remove_container(id, false);
      throw;
    }
    remove_container(id, false);
    return items;
  }

  void copy_step(const build::Instruction& in) {
    auto plan = build::plan_copy(*state_, in);
    std::string what = build::kind_name(in.kind);
    bf::TempDir tmp(images_.store().scratch_path("build-copy-"));
    std::vector<bf::CopyItem> items;
    bool from_context = plan.from.empty();
    if (!from_context) {
      items = image_items(plan.from, plan.sources, tmp.path());
    } else {
      std::vector<std::string> local;
      int n = 0;
      for (const auto& s : plan.sources) {
        if (in.kind == build::Kind::Add &&
            (s.rfind("http://", 0) == 0 || s.rfind("https://", 0) == 0)) {
          std::string file = tmp.path() + "/url" + std::to_string(n++);
          std::string name = bf::download(s, file);
          ::chmod(file.c_str(), 0600);
          bf::CopyItem item;
          item.host_path = file;
          item.name = name;
          items.push_back(item);
        } else {
          local.push_back(s);
        }
      }
      if (!local.empty()) {
        auto found = bf::context_items(context_dir_, *ignore_, local, what);
        if (in.kind == build::Kind::Add)
          for (auto& item : found)
            if (!item.dir && bf::is_archive(item.host_path)) item.archive = true;
        items.insert(items.end(), found.begin(), found.end());
      }
    }
    for (const auto& f : plan.inline_files) {
      bf::CopyItem item;
      item.host_path = tmp.path() + "/inline-" + f.name;
      std::ofstream(item.host_path) << f.content;
      ::chmod(item.host_path.c_str(), 0644);
      item.name = f.name;
      items.push_back(item);
    }
    if (items.empty()) throw InvalidArgument(what + " failed: no source files were specified");
    std::string dest = normalize_dest(state_->config.value("WorkingDir", ""), plan.dest);
    bool dest_slash = dest.back() == '/';
    if (items.size() > 1 && !dest_slash)
      throw InvalidArgument("When using " + what +
                            " with more than one source file, the destination must be a "
                            "directory and end with a /");
    const build::Dockerignore* ignore = from_context ? ignore_.get() : nullptr;
    auto cmd = build::copy_container_cmd(in.kind, plan, bf::source_label(items, ignore));
    json probe = probe_config(cmd);
    if (cache_hit(probe)) return;
    std::string id = create_container(cmd, state_->env(), false);
    try {
      bf::CopyDest where;
      std::string rel = dest == "/" ? "" : build::clean_path(dest.substr(1));
      bool single_file = items.size() == 1 && !items[0].dir && !items[0].archive;
      auto existing = stat_in(id, dest);
      if (single_file && !dest_slash && !(existing && is_dir(*existing))) {
        where.file = rel;
        auto slash = rel.find_last_of('/');
        where.dir = slash == std::string::npos ? "" : rel.substr(0, slash);
      } else {
        where.dir = rel;
      }
      auto owner = ownership(plan.chown, plan.chmod, id);
      where.missing_dirs = missing_dirs(id, where.dir);
      bf::write_copy_tar(items, where, owner, ignore, tmp.path() + "/put.tar");
      put_tar(id, tmp.path() + "/put.tar");
      commit(id, cmd, true);
    } catch (...) {
      finish_step(false, false);
      throw;
    }
    finish_step(true, false);
  }

  Containers& containers_;
  image::ImageService& images_;
  const BuildOptions& options_;
  const BuildOutput& out_;
  build::BuildArgs args_;
  build::Dockerfile df_;
  std::unique_ptr<bf::TempDir> context_;
  std::unique_ptr<build::Dockerignore> ignore_;
  std::unique_ptr<build::StageState> state_;
  std::vector<std::string> stage_images_;
  std::size_t stage_index_ = 0;
  std::size_t step_ = 0, total_ = 0;
  std::string current_;
  std::string scratch_base_;  // FROM scratch's layerless image, made on first use
  std::string context_dir_;   // the context's root: the extracted tar, or a git checkout's dir
  std::vector<std::string> step_containers_;
  std::vector<std::string> leftover_;              // removed when the build ends, whatever happens
  std::vector<image::ImageRecord> cache_sources_;  // --cache-from images, once loaded
  bool sources_loaded_ = false;
};

}  // namespace

Builder::Builder(Containers& containers, image::ImageService& images)
    : containers_(containers), images_(images) {}

std::string Builder::build(int context_fd, const BuildOptions& options, const BuildOutput& out) {
  BuildRun run(containers_, images_, options, out);
  return run.run(context_fd);
}

BuildPruneResult Builder::prune() {
  BuildPruneResult result;
  auto in_use = [this](const std::string& id) { return containers_.image_user(id); };
  for (bool removed = true; removed;) {
    removed = false;
    for (const auto& r : images_.store().list()) {
      if (r.parent.empty() || !r.tags.empty() || !r.digests.empty()) continue;
      if (!images_.store().children(r.id).empty() || in_use(r.id)) continue;
      auto d = images_.remove(r.id, false, false, in_use);
      result.deleted.insert(result.deleted.end(), d.deleted.begin(), d.deleted.end());
      result.reclaimed += d.reclaimed;
      removed = true;
    }
  }
  return result;
}

}  // namespace sockerless::engine
