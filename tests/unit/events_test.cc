#include "engine/events.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "common/errors.h"

namespace sockerless::engine {
namespace {

Event container_event(const std::string& action, const std::string& id, const std::string& name) {
  Event e;
  e.type = "container";
  e.action = action;
  e.actor_id = id;
  e.attributes = {{"name", name}, {"image", "busybox"}, {"com.example", "yes"}};
  return e;
}

TEST(EventFilters, TypeActionAndObject) {
  auto e = container_event("start", "abcdef0123", "web");
  EXPECT_TRUE(event_matches(e, api::Filters::parse(R"({"type":["container"]})")));
  EXPECT_FALSE(event_matches(e, api::Filters::parse(R"({"type":["image"]})")));
  EXPECT_TRUE(event_matches(e, api::Filters::parse(R"({"event":["start","stop"]})")));
  EXPECT_FALSE(event_matches(e, api::Filters::parse(R"({"event":["die"]})")));
  EXPECT_TRUE(event_matches(e, api::Filters::parse(R"({"container":["web"]})")));
  EXPECT_TRUE(event_matches(e, api::Filters::parse(R"({"container":["abcd"]})")));
  EXPECT_FALSE(event_matches(e, api::Filters::parse(R"({"container":["other"]})")));
  EXPECT_TRUE(event_matches(e, api::Filters::parse(R"({"label":["com.example=yes"]})")));
  EXPECT_TRUE(event_matches(e, api::Filters::parse(R"({"image":["busybox"]})")));
  EXPECT_FALSE(event_matches(e, api::Filters::parse(R"({"volume":["web"]})")));
}

TEST(EventFilters, ExecActionsMatchByPrefix) {
  auto e = container_event("exec_start: sh -c true", "abc", "web");
  EXPECT_TRUE(event_matches(e, api::Filters::parse(R"({"event":["exec_start"]})")));
  EXPECT_FALSE(event_matches(e, api::Filters::parse(R"({"event":["exec"]})")));
}

TEST(EventFilters, UnknownKeyRejected) {
  EXPECT_THROW(validate_event_filters(api::Filters::parse(R"({"nope":["x"]})")), InvalidArgument);
  EXPECT_NO_THROW(validate_event_filters(api::Filters::parse(R"({"type":["daemon"]})")));
}

TEST(EventJson, HasLegacyFieldsForContainers) {
  auto e = container_event("start", "abc", "web");
  auto j = event_json(e);
  EXPECT_EQ(j["status"], "start");
  EXPECT_EQ(j["id"], "abc");
  EXPECT_EQ(j["from"], "busybox");
  EXPECT_EQ(j["Type"], "container");
  EXPECT_EQ(j["Actor"]["Attributes"]["name"], "web");
  EXPECT_EQ(j["scope"], "local");
  EXPECT_EQ(j["timeNano"].get<std::int64_t>() / 1'000'000'000, j["time"].get<std::int64_t>());
  Event d;
  d.type = "daemon";
  d.action = "reload";
  EXPECT_FALSE(event_json(d).contains("status"));
}

TEST(EventBus, HistoryIsBoundedAndWindowed) {
  EventBus bus(3);
  auto t0 = Clock::now();
  for (int i = 0; i < 5; ++i) {
    Event e = container_event("start", std::to_string(i), "c");
    e.time = t0 + std::chrono::seconds(i);
    bus.publish(e);
  }
  auto all = bus.history(std::nullopt, std::nullopt);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all.front().actor_id, "2");
  auto window = bus.history(t0 + std::chrono::seconds(3), t0 + std::chrono::seconds(3));
  ASSERT_EQ(window.size(), 1u);
  EXPECT_EQ(window.front().actor_id, "3");
}

TEST(EventBus, SubscriptionSeesHistoryThenLive) {
  EventBus bus;
  bus.publish(container_event("create", "a", "x"));
  std::vector<Event> history;
  auto sub = bus.subscribe(Clock::time_point{}, history);
  ASSERT_EQ(history.size(), 1u);
  EXPECT_EQ(bus.listeners(), 1u);
  std::thread t([&] { bus.publish(container_event("start", "a", "x")); });
  auto e = sub->next(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  t.join();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->action, "start");
  EXPECT_FALSE(sub->next(std::chrono::steady_clock::now() + std::chrono::milliseconds(10)));
  sub.reset();
  EXPECT_EQ(bus.listeners(), 0u);
}

TEST(EventBus, CloseWakesWaiters) {
  EventBus bus;
  std::vector<Event> history;
  auto sub = bus.subscribe(std::nullopt, history);
  std::thread t([&] { bus.close_all(); });
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(sub->next(start + std::chrono::seconds(30)));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  t.join();
  EXPECT_TRUE(bus.closed());
}

}  // namespace
}  // namespace sockerless::engine
