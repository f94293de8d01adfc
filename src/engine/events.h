// Engine events: a bounded history for `since` queries and live fan-out to subscribers.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "api/filters.h"
#include "common/time.h"

namespace sockerless::engine {

struct Event {
  std::string type;    // "container", "image", "volume", "network", "daemon", …
  std::string action;  // "create", "start", "reload", "exec_start: sh -c …", …
  std::string actor_id;
  std::map<std::string, std::string> attributes;
  std::string scope = "local";
  TimePoint time = Clock::now();
};

// The event as GET /events writes it (with the pre-1.22 status/id/from fields that
// dockerd still sends for container and image events).
nlohmann::json event_json(const Event& event);

// Whether the event passes `filters` the way dockerd's events filter decides it.
bool event_matches(const Event& event, const api::Filters& filters);

// The filter keys GET /events accepts.
void validate_event_filters(const api::Filters& filters);

class EventBus {
 public:
  explicit EventBus(std::size_t history_limit = 1024) : limit_(history_limit) {}

  void publish(Event event);

  class Subscription {
   public:
    ~Subscription();
    // The next live event, waiting until `deadline`; nullopt on timeout or close().
    std::optional<Event> next(std::chrono::steady_clock::time_point deadline);
    // Wakes next() for good (used at shutdown).
    void close();

   private:
    friend class EventBus;
    struct State {
      std::mutex mu;
      std::condition_variable cv;
      std::deque<Event> queue;
      bool closed = false;
    };
    Subscription(EventBus* bus, std::shared_ptr<State> state)
        : bus_(bus), state_(std::move(state)) {}
    EventBus* bus_;
    std::shared_ptr<State> state_;
  };

  // Atomically: the recorded events at or after `since` (all when unset), and a live
  // subscription for everything published afterwards — so nothing falls in between.
  std::unique_ptr<Subscription> subscribe(std::optional<TimePoint> since,
                                          std::vector<Event>& history);
  std::vector<Event> history(std::optional<TimePoint> since, std::optional<TimePoint> until) const;
  std::size_t listeners() const;
  // Closes every subscription (daemon shutdown).
  void close_all();
  bool closed() const;

 private:
  void unsubscribe(const std::shared_ptr<Subscription::State>& state);

  mutable std::mutex mu_;
  std::deque<Event> history_;
  std::size_t limit_;
  std::vector<std::shared_ptr<Subscription::State>> subscribers_;
  bool closed_ = false;
};

}  // namespace sockerless::engine
