// The parts of /proc and /sys docker hides from an unprivileged container: masked (an
// empty file or directory over them) and read-only. The sandbox applies them; inspect
// shows them as HostConfig.MaskedPaths and ReadonlyPaths, as dockerd does.
#pragma once

#include <array>

namespace sockerless {

inline constexpr std::array<const char*, 12> kDefaultMaskedPaths = {
    "/proc/asound",      "/proc/acpi",          "/proc/interrupts", "/proc/kcore",
    "/proc/keys",        "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
    "/proc/sched_debug", "/proc/scsi",          "/sys/firmware",    "/sys/devices/virtual/powercap",
};
inline constexpr std::array<const char*, 5> kDefaultReadonlyPaths = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

}  // namespace sockerless
