// Docker's multiplexed stream framing (the "stdcopy" format): each frame is an 8-byte
// header — stream type, three zero bytes, big-endian payload length — then the payload.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sockerless::api {

enum class StreamType : std::uint8_t { Stdin = 0, Stdout = 1, Stderr = 2, System = 3 };

inline constexpr std::string_view kRawStream = "application/vnd.docker.raw-stream";
inline constexpr std::string_view kMultiplexedStream = "application/vnd.docker.multiplexed-stream";

// Appends one frame (or several, when the payload exceeds the 32-bit length).
void append_frame(std::string& out, StreamType type, std::string_view payload);

struct Frame {
  StreamType type;
  std::string payload;
};

// Incremental decoder: feed bytes as they come, take whole frames out.
class MuxDecoder {
 public:
  // Throws InvalidArgument on a header with an unknown stream type.
  std::vector<Frame> feed(std::string_view bytes);
  bool idle() const { return pending_.empty(); }  // no partial frame buffered

 private:
  std::string pending_;
};

}  // namespace sockerless::api
