// Backends by name. Each backend is registered in exactly one place
// (backends/builtin.cc); adding one is adding a folder and a line there.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/backend.h"

namespace sockerless::engine {

class BackendRegistry {
 public:
  using Factory = std::function<std::unique_ptr<Backend>(const BackendOptions&)>;

  void add(const std::string& name, std::string summary, Factory factory);
  // Throws InvalidArgument naming the known backends when `name` is not one of them.
  std::unique_ptr<Backend> create(const std::string& name, const BackendOptions& options) const;
  std::vector<std::string> names() const;

 private:
  struct Entry {
    std::string summary;
    Factory factory;
  };
  std::map<std::string, Entry> entries_;
};

// The registry with every backend built into this binary.
BackendRegistry builtin_backends();

}  // namespace sockerless::engine
