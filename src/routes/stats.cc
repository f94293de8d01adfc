// GET /containers/{id}/stats: dockerd's stats document, from the backend's resource usage.
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "api/respond.h"
#include "common/errors.h"
#include "common/time.h"
#include "engine/containers.h"
#include "engine/engine.h"
#include "routes/docker_api.h"

namespace sockerless::routes {
namespace {

using nlohmann::json;

// The host's CPU time in nanoseconds, as dockerd reports system_cpu_usage (/proc/stat).
std::uint64_t system_cpu_ns() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  in >> cpu;
  std::uint64_t total = 0, v;
  for (int i = 0; i < 7 && (in >> v); ++i)
    total += v;
  return total * (1'000'000'000ULL / static_cast<std::uint64_t>(::sysconf(_SC_CLK_TCK)));
}

struct Sample {
  engine::ResourceUsage usage;
  std::uint64_t system = 0;
  TimePoint at;
};

json cpu_json(const Sample& s) {
  json per = s.usage.cpu_per_core_ns.empty() ? json(nullptr) : json(s.usage.cpu_per_core_ns);
  return {{"cpu_usage",
           {{"total_usage", s.usage.cpu_total_ns},
            {"percpu_usage", per},
            {"usage_in_kernelmode", s.usage.cpu_system_ns},
            {"usage_in_usermode", s.usage.cpu_user_ns}}},
          {"system_cpu_usage", s.system},
          {"online_cpus", static_cast<int>(::sysconf(_SC_NPROCESSORS_ONLN))},
          {"throttling_data", {{"periods", 0}, {"throttled_periods", 0}, {"throttled_time", 0}}}};
}

json stats_doc(const engine::Container& c, const Sample& now, const Sample* before) {
  json pre =
      before ? cpu_json(*before)
             : json{{"cpu_usage",
                     {{"total_usage", 0}, {"usage_in_kernelmode", 0}, {"usage_in_usermode", 0}}},
                    {"throttling_data",
                     {{"periods", 0}, {"throttled_periods", 0}, {"throttled_time", 0}}}};
  return {{"read", format_rfc3339_nano(now.at)},
          {"preread", before ? format_rfc3339_nano(before->at) : "0001-01-01T00:00:00Z"},
          {"pids_stats", {{"current", now.usage.pids}}},
          {"blkio_stats",
           {{"io_service_bytes_recursive", nullptr},
            {"io_serviced_recursive", nullptr},
            {"io_queue_recursive", nullptr},
            {"io_service_time_recursive", nullptr},
            {"io_wait_time_recursive", nullptr},
            {"io_merged_recursive", nullptr},
            {"io_time_recursive", nullptr},
            {"sectors_recursive", nullptr}}},
          {"num_procs", 0},
          {"storage_stats", json::object()},
          {"cpu_stats", cpu_json(now)},
          {"precpu_stats", pre},
          {"memory_stats",
           {{"usage", now.usage.memory_usage},
            {"max_usage", now.usage.memory_max_usage},
            {"limit", now.usage.memory_limit},
            {"stats",
             {{"total_inactive_file", now.usage.memory_inactive_file},
              {"inactive_file", now.usage.memory_inactive_file}}}}},
          {"name", "/" + c.name},
          {"id", c.id}};
}

void stats(engine::Engine& engine, http::Request& req, http::Responder& out) {
  engine.require(engine::Capability::Stats, "stats");
  engine::Container c = engine.containers().get(req.param("id"));
  bool stream = !req.query.has("stream") || req.query.get_bool("stream");
  bool one_shot = req.query.get_bool("one-shot");
  auto sample = [&]() {
    Sample s;
    s.at = Clock::now();
    if (engine.containers().get(c.id).running()) s.usage = engine.backend().stats(c.id);
    s.system = system_cpu_ns();
    return s;
  };
  http::Headers h;
  h.set("Content-Type", "application/json");
  if (!stream) {
    // Like dockerd: two samples a second apart give precpu_stats, unless one-shot.
    Sample first = sample();
    if (one_shot || !c.running()) {
      out.send(api::json_response(200, stats_doc(c, first, nullptr)));
      return;
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
    Sample second = sample();
    out.send(api::json_response(200, stats_doc(c, second, &first)));
    return;
  }
  auto writer = out.stream(200, std::move(h));
  std::optional<Sample> previous;
  for (;;) {
    Sample now = sample();
    if (!writer.write(api::dump_json(stats_doc(c, now, previous ? &*previous : nullptr)))) return;
    previous = now;
    if (writer.wait_client_gone(1000)) return;
    try {
      if (!engine.containers().get(c.id).running()) return;
    } catch (const NotFound&) {
      return;
    }
  }
}

}  // namespace

void add_stats_routes(http::Router& router, engine::Engine& engine) {
  router.add(
      "GET", "/containers/{id*}/stats",
      http::RouteTarget{[&engine](http::Request& r, http::Responder& o) { stats(engine, r, o); },
                        http::Execution::Blocking, http::BodyMode::Buffered});
}

}  // namespace sockerless::routes
