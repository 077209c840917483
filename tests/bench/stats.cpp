#include "stats.hpp"

#include <algorithm>
#include <cstring>
#include <ctime>

namespace bench {

std::int64_t now_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

Percentiles percentiles(std::vector<std::int64_t> v) {
  Percentiles p;
  p.samples = v.size();
  if (v.empty()) return p;
  auto at = [&v](double q) {
    auto k = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1));
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
    return static_cast<double>(v[k]) / 1e6;
  };
  p.p50_ms = at(0.50);
  p.p99_ms = at(0.99);
  p.max_ms = static_cast<double>(*std::max_element(v.begin(), v.end())) / 1e6;
  return p;
}

namespace {
template <typename T>
void put(std::span<std::uint8_t> out, std::size_t at, T v) noexcept {
  std::memcpy(out.data() + at, &v, sizeof v);
}
template <typename T>
T get(std::span<const std::uint8_t> in, std::size_t at) noexcept {
  T v{};
  std::memcpy(&v, in.data() + at, sizeof v);
  return v;
}
}  // namespace

void write_stamp(std::span<std::uint8_t> out, const Stamp& s) noexcept {
  if (out.size() < 24) return;
  put(out, 0, kMagic);
  put(out, 4, s.phase);
  put(out, 8, s.seq);
  put(out, 12, s.sender);
  put(out, 16, s.sent_ns);
}

std::optional<Stamp> read_stamp(std::span<const std::uint8_t> in) noexcept {
  if (in.size() < 24 || get<std::uint32_t>(in, 0) != kMagic) return std::nullopt;
  return Stamp{get<std::uint32_t>(in, 4), get<std::uint32_t>(in, 8), get<std::uint32_t>(in, 12),
               get<std::int64_t>(in, 16)};
}

std::uint64_t Pacer::due(std::int64_t now) const noexcept {
  if (now <= start_) return 0;
  return static_cast<std::uint64_t>(static_cast<double>(now - start_) * rate_ / 1e9);
}

}  // namespace bench
