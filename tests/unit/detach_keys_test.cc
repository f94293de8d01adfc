#include "api/detach_keys.h"

#include <gtest/gtest.h>

namespace sockerless::api {
namespace {

TEST(DetachKeys, ParsesDockersSpecs) {
  EXPECT_EQ(parse_detach_keys(""), std::string("\x10\x11"));  // ctrl-p,ctrl-q
  EXPECT_EQ(parse_detach_keys("ctrl-x,x"), std::string("\x18x"));
  EXPECT_EQ(parse_detach_keys("ctrl-@,ctrl-[,ctrl-\\,ctrl-_"), std::string("\0\x1b\x1c\x1f", 4));
  EXPECT_EQ(parse_detach_keys("DEL,a"), std::string("\x7f"
                                                    "a"));
  EXPECT_EQ(parse_detach_keys(","), std::nullopt);
  EXPECT_EQ(parse_detach_keys("ctrl-p,"), std::nullopt);
  EXPECT_EQ(parse_detach_keys("ctrl-A"), std::nullopt);
  EXPECT_EQ(parse_detach_keys("ctrl-x,xx"), std::nullopt);
  EXPECT_EQ(parse_detach_keys("del"), std::nullopt);
}

TEST(DetachKeys, ScannerHoldsAMatchAcrossReadsAndGivesBackABrokenOne) {
  DetachScanner s("\x10\x11");
  bool detached = false;
  EXPECT_EQ(s.feed("ab\x10", detached), "ab");
  EXPECT_FALSE(detached);
  EXPECT_EQ(s.feed("c", detached),
            "\x10"
            "c");                                               // broken: the held key goes on
  EXPECT_EQ(s.feed("\x10\x10\x11", detached), "\x10\x10\x11");  // as dockerd: no restart
  EXPECT_FALSE(detached);
  EXPECT_EQ(s.feed("z\x10", detached), "z");
  EXPECT_EQ(s.feed("\x11rest", detached), "");
  EXPECT_TRUE(detached);
}

TEST(DetachScanner, NoKeysPassEverything) {
  DetachScanner s("");
  bool detached = false;
  EXPECT_EQ(s.feed("\x10\x11", detached), "\x10\x11");
  EXPECT_FALSE(detached);
}

}  // namespace
}  // namespace sockerless::api
