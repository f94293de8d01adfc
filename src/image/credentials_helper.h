// Running docker-credential-helpers ("docker-credential-<name> get"), for
// lookup_docker_config: private to the image module.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sockerless::image {

// Runs "docker-credential-<helper> get" found on PATH with `server_url` on its stdin and
// returns what it printed (the {"ServerURL","Username","Secret"} JSON). Returns nullopt
// when the helper has nothing stored ("credentials not found"); throws std::runtime_error
// when it cannot run, times out or fails otherwise, with the helper's own message.
std::optional<std::string> run_credential_helper_get(std::string_view helper,
                                                     std::string_view server_url);

}  // namespace sockerless::image
