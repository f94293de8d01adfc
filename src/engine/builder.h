// docker build with the classic builder (DOCKER_BUILDKIT=0): a Dockerfile from a context
// tar, dispatched step by step as dockerd's classic builder does it — metadata steps
// committed as empty layers, RUN in a sandbox container from the current image, COPY/ADD
// put into a created container and committed, each step first looked up in the cache
// (a child of the current image committed with the same ContainerConfig).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace sockerless::image {
class ImageService;
}

namespace sockerless::engine {

class Containers;

// What POST /build asks for (query parameters, decoded).
struct BuildOptions {
  std::string dockerfile = "Dockerfile";  // path inside the context
  std::vector<std::string> tags;          // applied at the end, in order
  std::map<std::string, std::optional<std::string>> build_args;
  std::map<std::string, std::string> labels;  // added to the final image's config
  std::string target;
  bool no_cache = false;
  bool pull = false;
  bool remove = true;         // remove intermediate containers after successful steps
  bool force_remove = false;  // ... and after failed ones
  bool quiet = false;         // only the final image ID is written (the caller does that)
  std::string platform;
  std::string network_mode;
  std::vector<std::string> extra_hosts;
  std::int64_t shm_size = 0;
  std::string remote;  // a URL to fetch the context from instead of the request body
  // Images whose chains alone may serve the layer cache (dockerd's --cache-from); empty:
  // any image here may. Names that match no image are skipped.
  std::vector<std::string> cache_from;
};

// Where build output goes: `stream` gets text for {"stream": …} (already newline-ended),
// `message` whole JSON messages (pull progress, {"aux": …}).
struct BuildOutput {
  std::function<void(const std::string&)> stream;
  std::function<void(const nlohmann::json&)> message;
};

// A failed RUN: dockerd reports it with the command's exit code in errorDetail.code.
class BuildStepFailed : public std::runtime_error {
 public:
  BuildStepFailed(const std::string& message, int code)
      : std::runtime_error(message), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

struct BuildPruneResult {
  std::vector<std::string> deleted;  // image IDs
  std::int64_t reclaimed = 0;
};

class Builder {
 public:
  Builder(Containers& containers, image::ImageService& images);

  // Builds the context read from `context_fd` (a tar, any compression; ignored when
  // options.remote is set) and returns the final image ID ("sha256:…"). Progress goes to
  // `out`. Throws the typed errors for problems found before any step ran (parse errors,
  // unknown target), BuildStepFailed for a failing RUN, and typed errors otherwise.
  std::string build(int context_fd, const BuildOptions& options, const BuildOutput& out);

  // POST /build/prune: removes the untagged intermediate images builds left (images with
  // no tag, no child and no container using them), repeatedly, bottom-up.
  BuildPruneResult prune();

 private:
  Containers& containers_;
  image::ImageService& images_;
};

}  // namespace sockerless::engine
