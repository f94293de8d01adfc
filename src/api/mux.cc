#include "api/mux.h"

#include "common/errors.h"

namespace sockerless::api {

void append_frame(std::string& out, StreamType type, std::string_view payload) {
  do {
    std::size_t n = std::min<std::size_t>(payload.size(), 0xffffffffu);
    char header[8] = {static_cast<char>(type),
                      0,
                      0,
                      0,
                      static_cast<char>((n >> 24) & 0xff),
                      static_cast<char>((n >> 16) & 0xff),
                      static_cast<char>((n >> 8) & 0xff),
                      static_cast<char>(n & 0xff)};
    out.append(header, 8);
    out.append(payload.substr(0, n));
    payload.remove_prefix(n);
  } while (!payload.empty());
}

std::vector<Frame> MuxDecoder::feed(std::string_view bytes) {
  pending_.append(bytes);
  std::vector<Frame> frames;
  std::size_t pos = 0;
  while (pending_.size() - pos >= 8) {
    auto type = static_cast<unsigned char>(pending_[pos]);
    if (type > 3) throw InvalidArgument("unknown stream type " + std::to_string(type));
    auto b = [&](std::size_t i) {
      return static_cast<std::uint32_t>(static_cast<unsigned char>(pending_[pos + i]));
    };
    std::size_t len = (b(4) << 24) | (b(5) << 16) | (b(6) << 8) | b(7);
    if (pending_.size() - pos - 8 < len) break;
    frames.push_back(Frame{static_cast<StreamType>(type), pending_.substr(pos + 8, len)});
    pos += 8 + len;
  }
  pending_.erase(0, pos);
  return frames;
}

}  // namespace sockerless::api
