#include "api/mux.h"

#include <gtest/gtest.h>

#include "common/errors.h"

namespace sockerless::api {
namespace {

TEST(Mux, FrameHeaderLayout) {
  std::string out;
  append_frame(out, StreamType::Stderr, "hello");
  ASSERT_EQ(out.size(), 13u);
  EXPECT_EQ(out[0], 2);
  EXPECT_EQ(out[1], 0);
  EXPECT_EQ(out[2], 0);
  EXPECT_EQ(out[3], 0);
  EXPECT_EQ(out[7], 5);
  EXPECT_EQ(out.substr(8), "hello");
}

TEST(Mux, BigEndianLength) {
  std::string out;
  append_frame(out, StreamType::Stdout, std::string(0x010203, 'x'));
  EXPECT_EQ(static_cast<unsigned char>(out[5]), 0x01);
  EXPECT_EQ(static_cast<unsigned char>(out[6]), 0x02);
  EXPECT_EQ(static_cast<unsigned char>(out[7]), 0x03);
}

TEST(Mux, DecoderReassemblesAcrossFeeds) {
  std::string wire;
  append_frame(wire, StreamType::Stdout, "out");
  append_frame(wire, StreamType::Stderr, "err!");
  append_frame(wire, StreamType::Stdout, "");
  MuxDecoder d;
  std::vector<Frame> frames;
  for (char c : wire)
    for (auto& f : d.feed(std::string_view(&c, 1)))
      frames.push_back(std::move(f));
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[0].type, StreamType::Stdout);
  EXPECT_EQ(frames[0].payload, "out");
  EXPECT_EQ(frames[1].type, StreamType::Stderr);
  EXPECT_EQ(frames[1].payload, "err!");
  EXPECT_EQ(frames[2].payload, "");
  EXPECT_TRUE(d.idle());
}

TEST(Mux, DecoderRejectsUnknownStream) {
  MuxDecoder d;
  std::string bad("\x07\0\0\0\0\0\0\0", 8);
  EXPECT_THROW(d.feed(bad), InvalidArgument);
}

}  // namespace
}  // namespace sockerless::api
