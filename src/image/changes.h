// Dockerfile instructions applied to an image config: the `changes` of docker import and
// docker commit (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME,
// WORKDIR, HEALTHCHECK is not allowed there by dockerd either).
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace sockerless::image {

// Applies each instruction to `config` (the "config" object of an image config).
// Throws InvalidArgument with dockerd's wording for an unknown or malformed instruction.
void apply_changes(nlohmann::json& config, const std::vector<std::string>& changes);

}  // namespace sockerless::image
