// One logical Dockerfile line to an Instruction (the parser's second half; dockerfile.cc
// does directives, continuations and heredoc bodies).
#pragma once

#include <string>

#include "build/dockerfile.h"

namespace sockerless::build {

// Parses `line` (continuations already joined). Heredocs named on the line come back with
// empty bodies for the caller to fill. Throws InvalidArgument with dockerd's message (no
// line prefix).
Instruction parse_instruction(const std::string& line, int line_no, char escape);

}  // namespace sockerless::build
