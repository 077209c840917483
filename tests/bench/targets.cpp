// The tables' shapes, and the benchmark targets (docs/benchmarks.md) judged on the figures.
#include <cstdio>

#include "scenarios.hpp"

namespace bench {

Results make_results() {
  Results r;
  r.uplink = {"uplink",
              "Uplink: sensors -> broker subscriber (per offered rate)",
              {"path", "sensors", "qos", "offered/s", "sent", "delivered", "delivered/s", "loss %",
               "p50 ms", "p99 ms", "acked", "rejected", "gw cpu %", "broker cpu %", "gw cpu s/100k",
               "kernel UDP drops", "gw drops", "unaccounted"},
              {}};
  r.uplink_summary = {
      "uplink_summary",
      "Uplink summary: gateway vs direct to mosquitto",
      {"sensors", "qos", "gw peak/s", "gw lossless/s", "direct peak/s", "direct lossless/s",
       "gw/direct peak %", "gw lossless/direct peak %", "raw peak/s", "gw/raw peak %"},
      {}};
  r.downlink = {"downlink",
                "Downlink: broker publisher -> subscribed sensors",
                {"sensors", "qos", "offered/s", "sent", "delivered", "delivered/s", "loss %",
                 "p50 ms", "p99 ms", "duplicates", "gw cpu %", "gw cpu s/100k"},
                {}};
  r.storm = {"storm",
             "Connect storm: one CONNECT per sensor, no retry",
             {"mode", "sensors", "send ms", "accepted", "rejected", "no answer", "last CONNACK ms",
              "p50 ms", "p99 ms", "max ms", "kernel UDP drops"},
             {}};
  r.memory = {"memory",
              "Gateway process: memory and threads",
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
  const bool q0 = f.q0_gateway_lossless && f.q0_direct && *f.q0_direct > 0;
  const double q0_ratio = q0 ? *f.q0_gateway_lossless / *f.q0_direct : 0;
  row("QoS 0 uplink, 100 sensors: >= 80 % of direct, no loss", q0,
      fixed(f.q0_gateway_lossless.value_or(0), 0) + " msg/s lossless vs " +
          fixed(f.q0_direct.value_or(0), 0) + " direct = " + fixed(100 * q0_ratio, 0) + " %" + up +
          "; raw-socket ceiling " + fixed(f.q0_raw.value_or(0), 0),
      q0_ratio >= 0.8);
  const bool q1 = f.q1_gateway && f.q1_direct && *f.q1_direct > 0;
  const double q1_ratio = q1 ? *f.q1_gateway / *f.q1_direct : 0;
  row("QoS 1 uplink, 100 sensors: >= 70 % of direct", q1,
      fixed(f.q1_gateway.value_or(0), 0) + " vs " + fixed(f.q1_direct.value_or(0), 0) +
          " msg/s = " + fixed(100 * q1_ratio, 0) + " %" + up + "; raw-socket ceiling " +
          fixed(f.q1_raw.value_or(0), 0),
      q1_ratio >= 0.7);
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
