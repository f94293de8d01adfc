#include "engine/backend_registry.h"

#include "common/errors.h"

namespace sockerless::engine {

std::string capability_name(Capability c) {
  switch (c) {
    case Capability::Containers:
      return "containers";
    case Capability::Exec:
      return "exec";
    case Capability::Attach:
      return "attach";
    case Capability::Pause:
      return "pause";
    case Capability::Archive:
      return "archive";
    case Capability::Stats:
      return "stats";
    case Capability::Top:
      return "top";
    case Capability::Commit:
      return "commit";
    case Capability::Build:
      return "build";
    case Capability::Changes:
      return "changes";
  }
  return "unknown";
}

void Backend::unsupported(const std::string& op) const {
  throw NotImplemented(op + " is not supported by the " + describe().name + " backend");
}

void BackendRegistry::add(const std::string& name, std::string summary, Factory factory) {
  entries_[name] = Entry{std::move(summary), std::move(factory)};
}

std::unique_ptr<Backend> BackendRegistry::create(const std::string& name,
                                                 const BackendOptions& options) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) {
    std::string known;
    for (const auto& [n, _] : entries_)
      known += (known.empty() ? "" : ", ") + n;
    throw InvalidArgument("unknown backend \"" + name + "\" (available: " + known + ")");
  }
  return it->second.factory(options);
}

std::vector<std::string> BackendRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& [n, _] : entries_)
    out.push_back(n);
  return out;
}

}  // namespace sockerless::engine
