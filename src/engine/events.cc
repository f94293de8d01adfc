#include "engine/events.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace sockerless::engine {

nlohmann::json event_json(const Event& e) {
  nlohmann::json j;
  if (e.type == "container" || e.type == "image") {
    // The fields clients from before API 1.22 read; dockerd still sends them.
    j["status"] = e.action;
    j["id"] = e.actor_id;
    if (auto it = e.attributes.find("image"); it != e.attributes.end() && e.type == "container")
      j["from"] = it->second;
  }
  j["Type"] = e.type;
  j["Action"] = e.action;
  j["Actor"] = {{"ID", e.actor_id}, {"Attributes", e.attributes}};
  j["scope"] = e.scope;
  auto nanos = unix_nanos(e.time);
  j["time"] = nanos / 1'000'000'000;
  j["timeNano"] = nanos;
  return j;
}

namespace {

// A filter value matches an action exactly, or as the part before ": " for the actions
// that carry a command ("exec_start: sh", "health_status: healthy").
bool action_matches(const std::string& want, const std::string& action) {
  if (want == action) return true;
  return action.size() > want.size() && action.compare(0, want.size(), want) == 0 &&
         action[want.size()] == ':';
}

bool prefix_of(const std::string& prefix, const std::string& s) {
  return !prefix.empty() && s.compare(0, prefix.size(), prefix) == 0;
}

// The object filters ("container", "volume", …): by name exactly, or by ID prefix.
bool name_or_id_matches(const api::Filters& f, const std::string& key, const Event& e) {
  if (!f.has(key)) return true;
  auto name = e.attributes.find("name");
  for (const auto& want : f.values(key)) {
    if (e.type == key && prefix_of(want, e.actor_id)) return true;
    if (e.type == key && name != e.attributes.end() && name->second == want) return true;
  }
  return false;
}

}  // namespace

void validate_event_filters(const api::Filters& filters) {
  filters.validate({"config", "container", "daemon", "event", "image", "label", "network", "node",
                    "plugin", "scope", "secret", "service", "type", "volume"});
}

bool event_matches(const Event& e, const api::Filters& f) {
  if (!f.exact_match("type", e.type)) return false;
  if (!f.exact_match("scope", e.scope)) return false;
  if (f.has("event")) {
    bool ok = false;
    for (const auto& want : f.values("event"))
      ok = ok || action_matches(want, e.action);
    if (!ok) return false;
  }
  for (const char* key : {"container", "volume", "network", "daemon", "plugin", "node", "service",
                          "secret", "config"})
    if (!name_or_id_matches(f, key, e)) return false;
  if (f.has("image")) {
    auto image = e.attributes.find("image");
    bool ok = false;
    for (const auto& want : f.values("image")) {
      if (e.type == "image" && (e.actor_id == want || prefix_of(want, e.actor_id))) ok = true;
      if (image != e.attributes.end() && image->second == want) ok = true;
    }
    if (!ok) return false;
  }
  return f.match_labels("label", e.attributes);
}

void EventBus::publish(Event event) {
  std::lock_guard lock(mu_);
  for (auto& s : subscribers_) {
    std::lock_guard sl(s->mu);
    s->queue.push_back(event);
    s->cv.notify_one();
  }
  history_.push_back(std::move(event));
  while (history_.size() > limit_)
    history_.pop_front();
}

std::unique_ptr<EventBus::Subscription> EventBus::subscribe(std::optional<TimePoint> since,
                                                            std::vector<Event>& history) {
  std::lock_guard lock(mu_);
  history.clear();
  for (const auto& e : history_)
    if (!since || e.time >= *since) history.push_back(e);
  auto state = std::make_shared<Subscription::State>();
  state->closed = closed_;
  subscribers_.push_back(state);
  return std::unique_ptr<Subscription>(new Subscription(this, state));
}

std::vector<Event> EventBus::history(std::optional<TimePoint> since,
                                     std::optional<TimePoint> until) const {
  std::lock_guard lock(mu_);
  std::vector<Event> out;
  for (const auto& e : history_)
    if ((!since || e.time >= *since) && (!until || e.time <= *until)) out.push_back(e);
  return out;
}

std::size_t EventBus::listeners() const {
  std::lock_guard lock(mu_);
  return subscribers_.size();
}

void EventBus::close_all() {
  std::lock_guard lock(mu_);
  closed_ = true;
  for (auto& s : subscribers_) {
    std::lock_guard sl(s->mu);
    s->closed = true;
    s->cv.notify_all();
  }
}

bool EventBus::closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

void EventBus::unsubscribe(const std::shared_ptr<Subscription::State>& state) {
  std::lock_guard lock(mu_);
  subscribers_.erase(std::remove(subscribers_.begin(), subscribers_.end(), state),
                     subscribers_.end());
}

EventBus::Subscription::~Subscription() {
  bus_->unsubscribe(state_);
}

std::optional<Event> EventBus::Subscription::next(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(state_->mu);
  state_->cv.wait_until(lock, deadline, [&] { return state_->closed || !state_->queue.empty(); });
  if (state_->queue.empty()) return std::nullopt;
  Event e = std::move(state_->queue.front());
  state_->queue.pop_front();
  return e;
}

void EventBus::Subscription::close() {
  std::lock_guard lock(state_->mu);
  state_->closed = true;
  state_->cv.notify_all();
}

}  // namespace sockerless::engine
