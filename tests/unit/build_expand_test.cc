#include <gtest/gtest.h>

#include "build/expand.h"
#include "build/glob.h"
#include "common/errors.h"

namespace sockerless::build {
namespace {

const Vars kVars = {{"a", "A"}, {"empty", ""}, {"spaced", "x  y"}, {"path", "/usr/local/bin"}};

std::string ex(std::string_view w, char escape = '\\') {
  return expand_word(w, kVars, escape);
}

TEST(Expand, PlainAndBracedVariables) {
  EXPECT_EQ(ex("$a"), "A");
  EXPECT_EQ(ex("${a}"), "A");
  EXPECT_EQ(ex("pre-${a}-post"), "pre-A-post");
  EXPECT_EQ(ex("$a$a"), "AA");
  EXPECT_EQ(ex("$abc"), "");  // a different, unset name
  EXPECT_EQ(ex("$"), "$");
  EXPECT_EQ(ex("a$"), "a$");
  EXPECT_EQ(ex("$/x"), "$/x");
  EXPECT_EQ(ex("$unset"), "");
}

TEST(Expand, DefaultAndAlternativeForms) {
  EXPECT_EQ(ex("${unset:-def}"), "def");
  EXPECT_EQ(ex("${empty:-def}"), "def");
  EXPECT_EQ(ex("${a:-def}"), "A");
  EXPECT_EQ(ex("${unset-def}"), "def");
  EXPECT_EQ(ex("${empty-def}"), "");
  EXPECT_EQ(ex("${a:+alt}"), "alt");
  EXPECT_EQ(ex("${empty:+alt}"), "");
  EXPECT_EQ(ex("${unset:+alt}"), "");
  EXPECT_EQ(ex("${empty+alt}"), "alt");
  EXPECT_EQ(ex("${unset+alt}"), "");
  EXPECT_EQ(ex("${unset:-$a}"), "A");  // the word is expanded itself
  EXPECT_EQ(ex("${unset:-${a}x}"), "Ax");
  EXPECT_EQ(ex("${unset:-\"q w\"}"), "q w");
}

TEST(Expand, ErrorForm) {
  EXPECT_EQ(ex("${a:?boom}"), "A");
  EXPECT_EQ(ex("${empty?boom}"), "");
  try {
    ex("${unset:?must be set}");
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_STREQ(e.what(), "unset: must be set");
  }
  EXPECT_THROW(ex("${empty:?}"), InvalidArgument);
  EXPECT_THROW(ex("${unset?}"), InvalidArgument);
}

TEST(Expand, PatternRemoval) {
  EXPECT_EQ(ex("${path#*/}"), "usr/local/bin");
  EXPECT_EQ(ex("${path##*/}"), "bin");
  EXPECT_EQ(ex("${path%/*}"), "/usr/local");
  EXPECT_EQ(ex("${path%%/l*}"), "/usr");
  EXPECT_EQ(ex("${path#nomatch}"), "/usr/local/bin");
}

TEST(Expand, Errors) {
  EXPECT_THROW(ex("${a"), InvalidArgument);
  EXPECT_THROW(ex("${a:-x"), InvalidArgument);
  EXPECT_THROW(ex("${}"), InvalidArgument);
  EXPECT_THROW(ex("${a!x}"), InvalidArgument);
  EXPECT_THROW(ex("'open"), InvalidArgument);
  EXPECT_THROW(ex("\"open"), InvalidArgument);
}

TEST(Expand, QuotesAndEscapes) {
  EXPECT_EQ(ex("'$a'"), "$a");
  EXPECT_EQ(ex("\"$a\""), "A");
  EXPECT_EQ(ex("\\$a"), "$a");
  EXPECT_EQ(ex("\"\\$a\""), "$a");
  EXPECT_EQ(ex("\"a\\\"b\""), "a\"b");
  EXPECT_EQ(ex("\"a\\nb\""), "a\\nb");  // other escapes stay inside double quotes
  EXPECT_EQ(ex("a\\ b"), "a b");
  EXPECT_EQ(ex("\"it's\""), "it's");
  EXPECT_EQ(ex("'say \"hi\"'"), "say \"hi\"");
  EXPECT_EQ(ex("x\"$spaced\"y"), "xx  yy");
}

TEST(Expand, BacktickEscape) {
  EXPECT_EQ(ex("C:\\path\\$a", '`'), "C:\\path\\A");
  EXPECT_EQ(ex("`$a", '`'), "$a");
  EXPECT_EQ(ex("\"`\"\"", '`'), "\"");
}

TEST(Expand, WordSplitting) {
  EXPECT_EQ(expand_words("80 443", kVars), (std::vector<std::string>{"80", "443"}));
  EXPECT_EQ(expand_words("$spaced", kVars), (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(expand_words("\"$spaced\"", kVars), (std::vector<std::string>{"x  y"}));
  EXPECT_EQ(expand_words("'a b' c", kVars), (std::vector<std::string>{"a b", "c"}));
  EXPECT_EQ(expand_words("\"\" x", kVars), (std::vector<std::string>{"", "x"}));
  EXPECT_TRUE(expand_words("$empty", kVars).empty());
  // Single-word expansion keeps whitespace from values.
  EXPECT_EQ(expand_word("$spaced", kVars), "x  y");
}

TEST(Expand, HeredocBodies) {
  EXPECT_EQ(expand_heredoc("hi $a \"$a\" '$a' \\$a\n", kVars), "hi A \"A\" 'A' $a\n");
}

TEST(Expand, VarsFromEnv) {
  auto vars = vars_from_env({"A=1", "B=x=y", "A=2", "C"});
  EXPECT_EQ(vars["A"], "2");
  EXPECT_EQ(vars["B"], "x=y");
  EXPECT_EQ(vars["C"], "");
}

TEST(BuildGlob, ShellAndPathRules) {
  EXPECT_TRUE(glob_match("*", "a/b"));
  EXPECT_FALSE(glob_match("*", "a/b", {true}));
  EXPECT_TRUE(glob_match("a?c", "abc", {true}));
  EXPECT_TRUE(glob_match("[a-c]x", "bx", {true}));
  EXPECT_FALSE(glob_match("[^a-c]x", "bx", {true}));
  EXPECT_TRUE(glob_match("[!a-c]x", "dx", {true}));
  EXPECT_TRUE(glob_match("\\*", "*", {true}));
  EXPECT_FALSE(glob_match("\\*", "a", {true}));
  EXPECT_TRUE(glob_match("**/x", "x", {true}));
  EXPECT_TRUE(glob_match("**/x", "a/b/x", {true}));
  EXPECT_TRUE(glob_match("a/**/x", "a/x", {true}));
  EXPECT_TRUE(glob_match("a/**/x", "a/b/c/x", {true}));
  EXPECT_FALSE(glob_match("a/**/x", "b/x", {true}));
  EXPECT_TRUE(glob_match("a/**", "a/b/c", {true}));
  EXPECT_TRUE(glob_match("**", "anything/at/all", {true}));
  EXPECT_FALSE(glob_match("[abc", "a", {true}));
}

}  // namespace
}  // namespace sockerless::build
