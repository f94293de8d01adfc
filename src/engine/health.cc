#include "engine/health.h"

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "api/mux.h"
#include "common/ids.h"
#include "common/time.h"
#include "engine/containers.h"

namespace sockerless::engine {

using nlohmann::json;

struct HealthChecker::Life {
  std::mutex mu;
  bool alive = true;
};

json Health::to_json() const {
  json entries = json::array();
  for (const auto& p : log)
    entries.push_back({{"Start", format_rfc3339_nano(from_unix_nanos(p.start))},
                       {"End", format_rfc3339_nano(from_unix_nanos(p.end))},
                       {"ExitCode", p.exit_code},
                       {"Output", p.output}});
  return {{"Status", status}, {"FailingStreak", failing_streak}, {"Log", entries}};
}

HealthChecker::HealthChecker(Containers& containers, Backend& backend, EventBus& events)
    : containers_(containers),
      backend_(backend),
      events_(events),
      life_(std::make_shared<Life>()) {}

HealthChecker::~HealthChecker() {
  std::lock_guard lock(life_->mu);
  life_->alive = false;
}

namespace {

std::int64_t duration_or(const json& hc, const char* key, std::int64_t fallback) {
  if (hc.contains(key) && hc[key].is_number_integer() && hc[key].get<std::int64_t>() > 0)
    return hc[key];
  return fallback;
}

}  // namespace

void HealthChecker::started(const std::string& id) {
  Container c = containers_.get(id);
  const json hc = c.config.value("Healthcheck", json(nullptr));
  if (!hc.is_object() || !hc.contains("Test") || !hc["Test"].is_array() || hc["Test"].empty())
    return;
  if (hc["Test"][0] == "NONE") return;
  if (!backend_.supports(Capability::Exec)) return;
  std::uint64_t generation;
  {
    std::lock_guard lock(mu_);
    generation = ++generation_[id];
    health_[id] = Health{};
  }
  auto life = life_;
  std::thread([this, id, generation, life] {
    // Each step checks that the daemon is still there before touching it.
    run(id, generation);
  }).detach();
}

std::optional<Health> HealthChecker::health(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = health_.find(id);
  if (it == health_.end()) return std::nullopt;
  return it->second;
}

void HealthChecker::forget(const std::string& id) {
  std::lock_guard lock(mu_);
  health_.erase(id);
  generation_[id]++;
}

HealthProbe HealthChecker::probe(const std::string& id, const std::vector<std::string>& argv,
                                 std::int64_t timeout_ns) {
  HealthProbe p;
  p.start = unix_nanos(Clock::now());
  Container c = containers_.get(id);
  ExecLaunch l;
  l.id = generate_id();
  l.argv = argv;
  for (const auto& e : c.config.value("Env", json::array()))
    l.env.push_back(e.get<std::string>());
  l.user = c.config.value("User", "");
  l.working_dir = c.config.value("WorkingDir", "");
  UniqueFd conn;
  try {
    conn = backend_.exec(id, l);
  } catch (const std::exception& e) {
    p.exit_code = -1;
    p.output = e.what();
    p.end = unix_nanos(Clock::now());
    return p;
  }
  ::shutdown(conn.get(), SHUT_WR);
  api::MuxDecoder decoder;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::nanoseconds(timeout_ns);
  int pid = 0;
  bool done = false;
  char buf[8192];
  while (!done) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd pfd{conn.get(), POLLIN, 0};
    if (left.count() <= 0 || ::poll(&pfd, 1, static_cast<int>(left.count())) == 0) {
      if (pid > 0) ::kill(pid, SIGKILL);
      p.exit_code = -1;
      p.output =
          "Health check exceeded timeout (" + std::to_string(timeout_ns / 1'000'000'000) + "s)";
      break;
    }
    ssize_t n = ::read(conn.get(), buf, sizeof buf);
    if (n <= 0) break;
    for (auto& f : decoder.feed(std::string_view(buf, static_cast<std::size_t>(n)))) {
      if (f.type == api::StreamType::System) {
        auto doc = json::parse(f.payload, nullptr, false);
        if (doc.is_object() && doc.contains("Pid")) pid = doc["Pid"].get<int>();
        if (doc.is_object() && doc.contains("ExitCode")) {
          p.exit_code = doc["ExitCode"].get<int>();
          if (doc.contains("Error")) p.output += doc["Error"].get<std::string>();
          done = true;
        }
      } else if (p.output.size() < 4096) {
        p.output += f.payload;
      }
    }
  }
  p.end = unix_nanos(Clock::now());
  return p;
}

void HealthChecker::run(const std::string& id, std::uint64_t generation) {
  auto life = life_;
  Container c;
  try {
    c = containers_.get(id);
  } catch (const std::exception&) {
    return;
  }
  const json hc = c.config["Healthcheck"];
  std::vector<std::string> argv;
  if (hc["Test"][0] == "CMD-SHELL") {
    argv = {"/bin/sh", "-c", hc["Test"].size() > 1 ? hc["Test"][1].get<std::string>() : ""};
  } else {
    for (std::size_t i = 1; i < hc["Test"].size(); ++i)
      argv.push_back(hc["Test"][i].get<std::string>());
  }
  const std::int64_t interval = duration_or(hc, "Interval", 30'000'000'000LL);
  const std::int64_t timeout = duration_or(hc, "Timeout", 30'000'000'000LL);
  const std::int64_t start_period = duration_or(hc, "StartPeriod", 0);
  const std::int64_t start_interval = duration_or(hc, "StartInterval", 5'000'000'000LL);
  const int retries =
      hc.contains("Retries") && hc["Retries"].is_number_integer() && hc["Retries"].get<int>() > 0
          ? hc["Retries"].get<int>()
          : 3;
  const std::int64_t started = c.state.started_at;
  bool ever_healthy = false;
  for (;;) {
    std::int64_t now = unix_nanos(Clock::now());
    bool in_start_period = now - started < start_period && !ever_healthy;
    std::this_thread::sleep_for(
        std::chrono::nanoseconds(in_start_period ? std::min(interval, start_interval) : interval));
    {
      std::lock_guard guard(life->mu);
      if (!life->alive) return;
    }
    {
      std::lock_guard lock(mu_);
      if (generation_[id] != generation) return;
    }
    try {
      if (!containers_.get(id).running()) return;
    } catch (const std::exception&) {
      return;
    }
    HealthProbe p = probe(id, argv, timeout);
    std::string before, after;
    {
      std::lock_guard lock(mu_);
      if (generation_[id] != generation) return;
      Health& h = health_[id];
      before = h.status;
      h.log.push_back(p);
      while (h.log.size() > 5)
        h.log.pop_front();
      if (p.exit_code == 0) {
        h.failing_streak = 0;
        h.status = "healthy";
        ever_healthy = true;
      } else if (!(p.start - started < start_period && !ever_healthy)) {
        // Failures inside the start period do not count, as with dockerd.
        if (++h.failing_streak >= retries) h.status = "unhealthy";
      }
      after = h.status;
    }
    if (after != before) {
      std::lock_guard guard(life->mu);
      if (!life->alive) return;
      try {
        Container now_c = containers_.get(id);
        Event e;
        e.type = "container";
        e.action = "health_status: " + after;
        e.actor_id = id;
        e.attributes = {{"image", now_c.image_ref}, {"name", now_c.name}};
        events_.publish(std::move(e));
      } catch (const std::exception&) {
      }
    }
  }
}

}  // namespace sockerless::engine
