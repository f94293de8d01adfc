// Legacy links: the link specification's forms and the variables a linking container
// gets, as dockerd 20.10 gives them (checked beside it in tests/integration/test_links.py).
#include <gtest/gtest.h>

#include "common/errors.h"
#include "engine/links.h"

using namespace sockerless;
using namespace sockerless::engine;
using nlohmann::json;

TEST(Links, ParsesTheThreeForms) {
  EXPECT_EQ(parse_link("db"), std::make_pair(std::string("db"), std::string("db")));
  EXPECT_EQ(parse_link("db:main"), std::make_pair(std::string("db"), std::string("main")));
  // inspect's own form, as a client sends back what it read.
  EXPECT_EQ(parse_link("/db:/web/main"), std::make_pair(std::string("db"), std::string("main")));
  EXPECT_THROW(parse_link(""), Internal);
  EXPECT_THROW(parse_link("a:b:c"), Internal);
}

TEST(Links, EnvironmentHasPortsRunsNameAndTheLinkedEnvironment) {
  json exposed = {{"5432/tcp", json::object()},
                  {"7000/tcp", json::object()},
                  {"7001/tcp", json::object()},
                  {"7002/tcp", json::object()},
                  {"53/udp", json::object()}};
  json env = json::array({"FOO=bar", "HOME=/x", "PATH=/bin", "NOVALUE"});
  auto vars = link_environment("/web/db-main", "10.0.0.2", env, exposed);
  auto has = [&](const std::string& v) {
    return std::find(vars.begin(), vars.end(), v) != vars.end();
  };
  EXPECT_EQ(vars.front(), "DB_MAIN_PORT=udp://10.0.0.2:53");  // the lowest port
  EXPECT_TRUE(has("DB_MAIN_PORT_5432_TCP=tcp://10.0.0.2:5432"));
  EXPECT_TRUE(has("DB_MAIN_PORT_5432_TCP_ADDR=10.0.0.2"));
  EXPECT_TRUE(has("DB_MAIN_PORT_5432_TCP_PORT=5432"));
  EXPECT_TRUE(has("DB_MAIN_PORT_53_UDP_PROTO=udp"));
  EXPECT_TRUE(has("DB_MAIN_PORT_7000_TCP_START=tcp://10.0.0.2:7000"));
  EXPECT_TRUE(has("DB_MAIN_PORT_7000_TCP_END=tcp://10.0.0.2:7002"));
  EXPECT_TRUE(has("DB_MAIN_PORT_7000_TCP_PORT_END=7002"));
  EXPECT_TRUE(has("DB_MAIN_NAME=/web/db-main"));
  EXPECT_TRUE(has("DB_MAIN_ENV_FOO=bar"));
  EXPECT_FALSE(has("DB_MAIN_ENV_HOME=/x"));
  EXPECT_FALSE(has("DB_MAIN_ENV_PATH=/bin"));
}

TEST(Links, TheContainersOwnVariablesWin) {
  auto env = replace_or_append_env({"A_NAME=/web/a", "A_ENV_X=1"}, {"A_ENV_X=own", "B=2"});
  EXPECT_EQ(env, (std::vector<std::string>{"A_NAME=/web/a", "A_ENV_X=own", "B=2"}));
}
