// The tables' shapes, and the benchmark targets (docs/benchmarks.md) judged on the figures.
#include <cstdio>

#include "scenarios.hpp"

namespace bench {

Results make_results() {
  Results r;
  r.uplink = {"uplink",
              "Uplink: sensors -> broker subscriber (per offered rate)",
              {"path", "sensors", "qos", "offered/s", "sent", "skipped", "delivered", "delivered/s",
               "loss %", "p50 ms", "p99 ms", "acked", "rejected", "gw cpu %", "broker cpu %",
               "gw cpu s/100k", "kernel UDP drops", "gw drops", "unaccounted"},
              {}};
  r.uplink_summary = {
      "uplink_summary",
      "Uplink summary: highest lossless rate per path (no loss, nothing skipped, "
      "delivered >= 95 % of offered), and the next step up",
      {"sensors", "qos", "path", "lossless msg/s", "gw cpu %", "gw cpu s/100k", "broker cpu %",
       "next offered/s", "next delivered/s", "next loss %", "next skipped"},
      {}};
  r.compare = {"compare",
               "Before / after: the same steps, interleaved (after/before ratios)",
               {"sensors", "qos", "offered/s", "before msg/s", "before loss %", "before skipped",
                "before cpu s/100k", "after msg/s", "after loss %", "after skipped",
                "after cpu s/100k", "msg/s after/before", "cpu after/before"},
               {}};
  r.downlink = {"downlink",
                "Downlink: broker publisher -> subscribed sensors",
                {"gateway", "sensors", "qos", "offered/s", "sent", "delivered", "delivered/s",
                 "loss %", "p50 ms", "p99 ms", "duplicates", "gw cpu %", "gw cpu s/100k"},
                {}};
  r.storm = {"storm",
             "Connect storm: one CONNECT per sensor, no retry",
             {"mode", "sensors", "send ms", "accepted", "rejected", "no answer", "last CONNACK ms",
              "p50 ms", "p99 ms", "max ms", "kernel UDP drops"},
             {}};
  r.memory = {"memory",
              "Gateway process: memory and threads (KB/sensor = (RSS - idle RSS) / sensors, "
              "both read 1 s after settling)",
              {"when", "sensors", "idle RSS MB", "RSS MB", "KB/sensor", "idle threads", "threads"},
              {}};
  return r;
}

namespace {
std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}
}  // namespace

Table targets_table(const Results& r) {
  Table t{"targets", "Targets", {"target", "measured", "met"}, {}};
  const auto& f = r.figures;
  auto row = [&](const std::string& target, bool measured, const std::string& value, bool met) {
    t.add({text(target), text(measured ? value : "not measured"),
           text(!measured ? "-"
                : met     ? "met"
                          : "NOT MET")});
  };
  const std::string up = " (" + std::to_string(f.uplink_n) + " sensors)";
  auto lossless = [](const std::optional<double>& v) { return fixed(v.value_or(0), 0); };
  row("QoS 0 uplink lossless, 100 sensors: >= 25000 msg/s", f.q0_gateway_lossless.has_value(),
      lossless(f.q0_gateway_lossless) + " msg/s" + up + "; direct Paho " + lossless(f.q0_direct) +
          ", direct epoll " + lossless(f.q0_raw) + " (all lossless)",
      f.q0_gateway_lossless.value_or(0) >= 25000);
  const bool q1 = f.q1_gateway && f.q1_direct && *f.q1_direct > 0;
  const double q1_ratio = q1 ? *f.q1_gateway / *f.q1_direct : 0;
  row("QoS 1 uplink lossless, 100 sensors: >= 70 % of direct Paho (same window)", q1,
      lossless(f.q1_gateway) + " vs " + lossless(f.q1_direct) + " msg/s = " +
          fixed(100 * q1_ratio, 0) + " %" + up + "; direct epoll " + lossless(f.q1_raw),
      q1_ratio >= 0.7);
  const bool cpu = f.q0_cpu_before && f.q0_cpu_after && *f.q0_cpu_before > 0;
  if (cpu) {
    row("Gateway CPU per QoS 0 uplink message at 10000 msg/s: half of before", true,
        fixed(*f.q0_cpu_after, 2) + " vs " + fixed(*f.q0_cpu_before, 2) +
            " s/100k = " + fixed(100 * *f.q0_cpu_after / *f.q0_cpu_before, 0) + " % of before",
        *f.q0_cpu_after <= 0.5 * *f.q0_cpu_before);
  }
  row("Connect storm, 10000 sensors: all CONNACK without retry", f.storm_n > 0,
      std::to_string(f.storm_accepted) + " of " + std::to_string(f.storm_n),
      f.storm_n >= 10000 && f.storm_accepted == f.storm_n);
  row("CONNECT -> CONNACK p50 < 5 ms at 1 sensor/ms", f.paced_p50_ms.has_value(),
      fixed(f.paced_p50_ms.value_or(0), 2) + " ms", f.paced_p50_ms.value_or(1e9) < 5.0);
  // Target: under 2 KB per sensor in aggregating mode, under 16 KB in transparent mode.
  const std::string mode = f.aggregating ? " (aggregating)" : " (transparent)";
  const double kb_target = f.aggregating ? 2.0 : 16.0;
  row("< " + fixed(kb_target, 0) + " KB per connected sensor" + mode, f.per_sensor_kb.has_value(),
      fixed(f.per_sensor_kb.value_or(0), 2) + " KB" + " (" + std::to_string(f.memory_n) +
          " connected)",
      f.per_sensor_kb.value_or(1e9) < kb_target);
  row("10000 connected sensors < 200 MB" + mode, f.rss_mb_at_n.has_value(),
      fixed(f.rss_mb_at_n.value_or(0), 1) + " MB" + " RSS with " + std::to_string(f.memory_n) +
          " connected",
      f.memory_n >= 10000 && f.rss_mb_at_n.value_or(1e9) < 200.0);
  return t;
}

}  // namespace bench
