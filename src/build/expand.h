// Variable substitution in Dockerfile instructions, as dockerd's builder does it before
// dispatching ADD, ARG, COPY, ENV, EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME and
// WORKDIR ($var, ${var}, ${var:-w}, ${var-w}, ${var:+w}, ${var+w}, ${var:?msg}, ${var?msg},
// ${var#p}, ${var##p}, ${var%p}, ${var%%p}; quotes and the escape character are removed).
// RUN, CMD, ENTRYPOINT, SHELL, HEALTHCHECK and ONBUILD are never expanded by the builder.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace sockerless::build {

// Variables visible to an expansion; a name missing here expands to "".
using Vars = std::map<std::string, std::string>;

// "k=v" entries (an image's Env) as Vars; a later entry wins over an earlier one.
Vars vars_from_env(const std::vector<std::string>& env);

// Expands `word` into one string: unquoted whitespace is kept. Throws InvalidArgument for
// an unterminated quote or brace, a bad modifier, or ${var:?msg} with var unset/empty.
std::string expand_word(std::string_view word, const Vars& vars, char escape = '\\');

// Like expand_word, then splits on unquoted whitespace, including whitespace that came
// from a variable's value (EXPOSE $PORTS). A quoted empty string is kept as a word.
std::vector<std::string> expand_words(std::string_view word, const Vars& vars, char escape = '\\');

// A heredoc body with an unquoted delimiter (COPY <<EOF): $ expansions, and the escape
// character before $ or itself; quotes are ordinary text.
std::string expand_heredoc(std::string_view body, const Vars& vars, char escape = '\\');

}  // namespace sockerless::build
