#include "ladder.hpp"

#include <algorithm>
#include <iostream>

namespace bench {

namespace {
int errors = 0;

Cell maybe(double v, int decimals) {
  return v < 0 ? text("-") : num(v, decimals);
}
Cell ratio(double after, double before, int decimals = 2) {
  return before > 0 && after >= 0 ? num(after / before, decimals) : text("-");
}
const Outcome* at_rate(const Ladder& l, double rate) {
  for (const auto& o : l) {
    if (o.offered_rate == rate) return &o;
  }
  return nullptr;
}
}  // namespace

Outcome judge(double rate, std::uint64_t offered, std::uint64_t sent, std::uint64_t delivered,
              double delivered_rate) {
  Outcome o;
  o.offered_rate = rate;
  o.offered = offered;
  o.sent = sent;
  o.skipped = offered - std::min(offered, sent);
  o.delivered = delivered;
  o.delivered_rate = delivered_rate;
  o.loss_pct = sent == 0 ? 0
                         : 100.0 * static_cast<double>(sent - std::min(sent, delivered)) /
                               static_cast<double>(sent);
  o.lossless = delivered >= sent && o.skipped == 0 && sent > 0 && delivered_rate >= 0.95 * rate;
  o.saturated = delivered_rate < 0.9 * rate || o.loss_pct > 1.0 || o.skipped * 10 > offered;
  return o;
}

Outcome combine(const std::vector<Outcome>& runs) {
  if (runs.empty()) return {};
  Outcome o = runs.front();
  auto median = [&](double Outcome::*field) {
    std::vector<double> v;
    for (const auto& r : runs) v.push_back(r.*field);
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  std::size_t saturated = 0;
  for (const auto& r : runs) {
    o.sent = std::min(o.sent, r.sent);
    o.skipped = std::max(o.skipped, r.skipped);
    o.delivered = std::min(o.delivered, r.delivered);
    o.loss_pct = std::max(o.loss_pct, r.loss_pct);
    o.lossless = o.lossless && r.lossless;
    if (r.saturated) ++saturated;
  }
  // One run hit by a load spike on a shared machine does not end the ladder; most runs must.
  o.saturated = saturated * 2 > runs.size();
  o.delivered_rate = median(&Outcome::delivered_rate);
  o.gw_cpu_pct = median(&Outcome::gw_cpu_pct);
  o.gw_cpu_s_per_100k = median(&Outcome::gw_cpu_s_per_100k);
  o.broker_cpu_pct = median(&Outcome::broker_cpu_pct);
  return o;
}

const Outcome* best_lossless(const Ladder& ladder) {
  const Outcome* best = nullptr;
  for (const auto& o : ladder) {
    if (o.lossless && (best == nullptr || o.delivered_rate > best->delivered_rate)) best = &o;
  }
  return best;
}

void add_summary_row(Table& summary, std::size_t n, int qos, const std::string& path,
                     const Ladder& ladder) {
  const Outcome* best = best_lossless(ladder);
  // The first step above the best lossless one (or the first step when none was lossless).
  const Outcome* next = nullptr;
  for (const auto& o : ladder) {
    if (best == nullptr || o.offered_rate > best->offered_rate) {
      next = &o;
      break;
    }
  }
  summary.add({num(std::uint64_t{n}), num(std::uint64_t(qos)), text(path),
               best ? num(best->delivered_rate) : text("none"),
               best ? maybe(best->gw_cpu_pct, 0) : text("-"),
               best ? maybe(best->gw_cpu_s_per_100k, 2) : text("-"),
               best ? num(best->broker_cpu_pct, 0) : text("-"),
               next ? num(next->offered_rate) : text("-"),
               next ? num(next->delivered_rate) : text("-"),
               next ? num(next->loss_pct, 2) : text("-"), next ? num(next->skipped) : text("-")});
}

void add_compare_rows(Table& compare, std::size_t n, int qos, const Ladder& before,
                      const Ladder& after) {
  std::vector<double> rates;
  for (const auto* l : {&before, &after}) {
    for (const auto& o : *l) {
      if (std::find(rates.begin(), rates.end(), o.offered_rate) == rates.end())
        rates.push_back(o.offered_rate);
    }
  }
  std::sort(rates.begin(), rates.end());
  auto cells = [](const Outcome* o, std::vector<Cell>& row) {
    row.push_back(o ? num(o->delivered_rate) : text("-"));
    row.push_back(o ? num(o->loss_pct, 2) : text("-"));
    row.push_back(o ? num(o->skipped) : text("-"));
    row.push_back(o ? maybe(o->gw_cpu_s_per_100k, 2) : text("-"));
  };
  for (const double rate : rates) {
    const auto* b = at_rate(before, rate);
    const auto* a = at_rate(after, rate);
    std::vector<Cell> row{num(std::uint64_t{n}), num(std::uint64_t(qos)), num(rate)};
    cells(b, row);
    cells(a, row);
    row.push_back(a && b ? ratio(a->delivered_rate, b->delivered_rate) : text("-"));
    row.push_back(a && b ? ratio(a->gw_cpu_s_per_100k, b->gw_cpu_s_per_100k) : text("-"));
    compare.add(std::move(row));
  }
  const auto* b = best_lossless(before);
  const auto* a = best_lossless(after);
  std::vector<Cell> row{num(std::uint64_t{n}), num(std::uint64_t(qos)), text("best lossless")};
  cells(b, row);
  cells(a, row);
  row.push_back(a && b ? ratio(a->delivered_rate, b->delivered_rate) : text("-"));
  row.push_back(a && b ? ratio(a->gw_cpu_s_per_100k, b->gw_cpu_s_per_100k) : text("-"));
  compare.add(std::move(row));
}

void consistency_error(const std::string& what) {
  ++errors;
  std::cerr << "[bench] ERROR: " << what << std::endl;
}

int consistency_errors() {
  return errors;
}

}  // namespace bench
