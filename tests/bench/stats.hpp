// Clock, latency percentiles and the timestamp carried in every benchmark payload.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace bench {

// CLOCK_MONOTONIC in nanoseconds: sensors, publishers and subscribers share this one process.
std::int64_t now_ns() noexcept;

struct Percentiles {
  double p50_ms = 0;
  double p99_ms = 0;
  double max_ms = 0;
  std::size_t samples = 0;
};
Percentiles percentiles(std::vector<std::int64_t> samples_ns);

// Payload of every measured message: who sent it, when, and in which phase (so late
// messages of an earlier phase are not counted in the next one).
constexpr std::size_t kPayloadSize = 32;
constexpr std::uint32_t kMagic = 0x42534e4d;  // "MNSB"
struct Stamp {
  std::uint32_t phase = 0;
  std::uint32_t seq = 0;     // unique within a phase (over all senders)
  std::uint32_t sender = 0;  // sensor / client index
  std::int64_t sent_ns = 0;
};
void write_stamp(std::span<std::uint8_t> out, const Stamp& s) noexcept;
std::optional<Stamp> read_stamp(std::span<const std::uint8_t> in) noexcept;

// Turns an offered rate into "how many messages are due by now" (no drift: a late tick catches up).
class Pacer {
 public:
  Pacer(double rate_per_s, std::int64_t start_ns) : rate_(rate_per_s), start_(start_ns) {}
  std::uint64_t due(std::int64_t now) const noexcept;

 private:
  double rate_;
  std::int64_t start_;
};

}  // namespace bench
