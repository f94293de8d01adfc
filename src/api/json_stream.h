// A stream of JSON messages (pull, push, import, build output) that starts only with its
// first message: errors before it still get a proper status code, errors after it travel
// inside the stream as dockerd writes them ({"errorDetail":…,"error":…}).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>

#include "api/respond.h"
#include "http/handler.h"

namespace sockerless::api {

class JsonStream {
 public:
  explicit JsonStream(http::Responder& out) : out_(out) {}

  void operator()(const nlohmann::json& message) { write(dump_json(message)); }
  bool started() const { return stream_.has_value(); }

  // An error as the stream's last message; `code` is errorDetail.code when not 0.
  // Written as dockerd's JSONMessage is: errorDetail ({code,} message) before error.
  void error(const std::string& message, int code = 0) {
    nlohmann::json detail = {{"message", message}};
    if (code != 0) detail["code"] = code;
    auto compact = [](const nlohmann::json& v) {
      std::string text = dump_json(v);
      text.pop_back();  // its newline
      return text;
    };
    write("{\"errorDetail\":" + compact(detail) + ",\"error\":" + compact(message) + "}\n");
  }

  // Runs `body`; failures after the stream began become an error message in it.
  template <class F>
  void run(F&& body) {
    try {
      body();
    } catch (const std::exception& e) {
      if (!stream_) throw;
      error(e.what());
    }
  }

 private:
  void write(const std::string& text) {
    if (!stream_) {
      http::Headers h;
      h.set("Content-Type", "application/json");
      stream_.emplace(out_.stream(200, std::move(h)));
    }
    stream_->write(text);
  }

  http::Responder& out_;
  std::optional<http::StreamWriter> stream_;
};

}  // namespace sockerless::api
