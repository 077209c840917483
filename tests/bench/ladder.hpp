// The outcome of each measured step of a rate ladder, and the figures taken from a ladder: the
// highest lossless rate (the only headline figure) and, with --compare, before/after side by side.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "report.hpp"

namespace bench {

struct Outcome {
  double offered_rate = 0;
  std::uint64_t offered = 0;
  std::uint64_t sent = 0;
  std::uint64_t skipped = 0;  // offered but not sent: a full QoS 1 window, or the client refused
  std::uint64_t delivered = 0;
  double delivered_rate = 0;
  double loss_pct = 0;            // (sent - delivered) / sent
  double gw_cpu_pct = -1;         // of one core; -1: no gateway on this path
  double gw_cpu_s_per_100k = -1;  // gateway CPU seconds per 100 000 delivered
  double broker_cpu_pct = 0;
  // No loss, nothing skipped, delivered/s >= 95 % of offered.
  bool lossless = false;
  // Stop climbing: delivered/s < 90 % of offered, loss > 1 %, or > 10 % skipped.
  bool saturated = false;
};
using Ladder = std::vector<Outcome>;

Outcome judge(double rate, std::uint64_t offered, std::uint64_t sent, std::uint64_t delivered,
              double delivered_rate);

// Several runs of the same step (--repeat) as one: lossless only if every run was; the highest
// loss and skipped count; the median delivered rate and CPU figures; saturated if most runs were.
Outcome combine(const std::vector<Outcome>& runs);

// The highest-rate lossless step, if any.
const Outcome* best_lossless(const Ladder& ladder);

// A row of the uplink summary: the highest lossless rate of one path with its CPU, and the next
// step up with its loss (what "lossless up to" hides).
void add_summary_row(Table& summary, std::size_t n, int qos, const std::string& path,
                     const Ladder& ladder);

// With --compare: the same steps of the "before" and "after" gateways side by side, and their
// highest lossless rates.
void add_compare_rows(Table& compare, std::size_t n, int qos, const Ladder& before,
                      const Ladder& after);

// A count that cannot be (acked > sent, ...): printed at once on stderr as an ERROR, and the
// bench exits with status 1 at the end.
void consistency_error(const std::string& what);
int consistency_errors();

}  // namespace bench
