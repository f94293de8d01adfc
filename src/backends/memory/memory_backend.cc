#include "backends/memory/memory_backend.h"

#include <unistd.h>

#include <fstream>
#include <stdexcept>
#include <string>

namespace sockerless::backends {
namespace {

bool kernel_has_filesystem(const std::string& name) {
  std::ifstream in("/proc/filesystems");
  std::string line;
  while (std::getline(in, line)) {
    auto tab = line.rfind('\t');
    if (line.substr(tab == std::string::npos ? 0 : tab + 1) == name) return true;
  }
  return false;
}

long read_long(const char* path, long fallback) {
  std::ifstream in(path);
  long v;
  return (in >> v) ? v : fallback;
}

class MemoryBackend final : public engine::Backend {
 public:
  explicit MemoryBackend(engine::BackendOptions options) : options_(std::move(options)) {}

  bool supports(engine::Capability) const override { return false; }

  engine::BackendDescription describe() const override {
    engine::BackendDescription d;
    d.name = "memory";
    d.driver = overlay_ ? "overlayfs" : "copy";
    d.driver_status = {{"Backend", "memory (Linux namespaces on this host)"},
                       {"Root Dir", options_.data_root}};
    return d;
  }

  void check_host() override {
    overlay_ = kernel_has_filesystem("overlay");
    if (::geteuid() == 0) return;
    // Without root the sandbox needs unprivileged user namespaces.
    if (read_long("/proc/sys/user/max_user_namespaces", 1) == 0 ||
        read_long("/proc/sys/kernel/unprivileged_userns_clone", 1) == 0)
      throw std::runtime_error(
          "the memory backend needs root or unprivileged user namespaces, and this host "
          "allows neither (see /proc/sys/user/max_user_namespaces and "
          "/proc/sys/kernel/unprivileged_userns_clone); run as root or enable them");
  }

 private:
  engine::BackendOptions options_;
  bool overlay_ = false;
};

}  // namespace

std::unique_ptr<engine::Backend> make_memory_backend(const engine::BackendOptions& options) {
  return std::make_unique<MemoryBackend>(options);
}

}  // namespace sockerless::backends
