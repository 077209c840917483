// mqttsn-bench: throughput, latency, connect storms and footprint of the gateway, measured
// against a real mosquitto on loopback (docs/benchmarks.md). Every step is bounded in time.
#include <CLI/CLI.hpp>

#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "ladder.hpp"
#include "processes.hpp"
#include "scenarios.hpp"

namespace bench {
// storm.cpp: the connect storm with spec retries (its own table).
Table storm_retry_table();
std::string run_storm_retry(Rig& rig, const Options& opt, Table& table);
}  // namespace bench

#ifndef BENCH_DEFAULT_GATEWAY
#define BENCH_DEFAULT_GATEWAY "mqttsn-gateway"
#endif

int main(int argc, char** argv) {
  bench::Options opt;
  const char* env = std::getenv("MQTTSN_GATEWAY");
  opt.gateway = env != nullptr ? env : BENCH_DEFAULT_GATEWAY;
  CLI::App app{"Benchmark of the MQTT-SN gateway against a real mosquitto, over loopback"};
  app.add_flag("--quick", opt.quick, "small N and short steps (under a minute)");
  app.add_flag("--json", opt.json, "print JSON instead of tables");
  app.add_option("--only", opt.only,
                 "run only these scenarios: uplink, downlink, storm, storm_retry (the burst with "
                 "spec retries)")
      ->check(CLI::IsMember({"uplink", "downlink", "storm", "storm_retry"}))
      ->delimiter(',');
  app.add_option("--gateway", opt.gateway,
                 "gateway executable (default: $MQTTSN_GATEWAY or the build's)");
  app.add_option("--mosquitto", opt.mosquitto, "mosquitto executable");
  app.add_option("--duration", opt.duration_s,
                 "seconds per measured step (default 2, 0.5 with --quick)")
      ->check(CLI::Range(0.1, 60.0));
  std::string json_file;
  app.add_option("--json-file", json_file, "also write the JSON to this file");
  app.add_flag("--paho-subscriber", opt.paho_subscriber,
               "count at the broker with a Paho C++ client instead of a raw MQTT socket");
  app.add_option("--connect-timeout-ms", opt.connect_timeout_ms,
                 "the gateway's [broker] connect_timeout_ms (default: the gateway's own)");
  app.add_flag("--state", opt.state,
               "keep sessions in a state file ([state] path) in the temporary directory");
  app.add_option("--mode", opt.mode, "the gateway's [broker] mode (default: transparent)")
      ->check(CLI::IsMember({"transparent", "aggregating"}));
  app.add_flag("--keep", opt.keep, "keep the temporary directory with configs and logs");
  app.add_option("--compare", opt.compare,
                 "a second (\"before\") gateway executable: every step runs against both, "
                 "interleaved, and the tables give both figures and their ratio");
  app.add_option("--sensors", opt.sensors, "uplink fleet sizes (default 1,100,1000)")
      ->delimiter(',');
  app.add_option("--rates", opt.rates, "uplink offered rates in msg/s (default: the ladder)")
      ->delimiter(',');
  app.add_option("--qos", opt.qos, "uplink QoS levels (default 0,1)")
      ->check(CLI::IsMember({0, 1}))
      ->delimiter(',');
  app.add_option("--paths", opt.paths, "uplink paths: gateway, paho, epoll (default all)")
      ->check(CLI::IsMember({"gateway", "paho", "epoll"}))
      ->delimiter(',');
  app.add_option("--repeat", opt.repeat,
                 "runs of each uplink step (before, after, before, after...); a rate is lossless "
                 "only if every run was, CPU figures are the median")
      ->check(CLI::Range(1, 20));
  app.add_option("--direct-window", opt.direct_window,
                 "QoS 1 unacknowledged per direct client (default 64, the sensors'; 0: none)");
  CLI11_PARSE(app, argc, argv);

  std::ostringstream command;
  for (int i = 0; i < argc; ++i) command << (i ? " " : "") << argv[i];

  const auto load_start = bench::read_file("/proc/loadavg");
  const auto fds = bench::raise_fd_limit();
  bench::stop_children_on_signals();
  bench::progress("fd limit " + std::to_string(fds) + ", gateway " + opt.gateway);
  bench::Rig rig(opt);
  if (auto err = rig.start_broker(); !err.empty()) {
    std::cerr << "mqttsn-bench: " << err << "\n";
    return 2;
  }
  if (opt.keep) bench::progress("configs and logs in " + rig.dir());
  auto results = bench::make_results();
  results.figures.aggregating = opt.mode == "aggregating";
  int status = 0;
  auto run = [&](const char* name, auto fn) {
    if (!opt.wants(name)) return;
    if (auto err = bench::run_each_gateway(name, fn, rig, opt, results); !err.empty()) {
      std::cerr << "mqttsn-bench: " << name << ": " << err << "\n";
      status = 1;
    }
  };
  run("storm", bench::run_storm);
  auto storm_retry = bench::storm_retry_table();
  run("storm_retry", [&](bench::Rig& r, const bench::Options& o, bench::Results&) {
    return bench::run_storm_retry(r, o, storm_retry);
  });
  run("uplink", bench::run_uplink);
  run("downlink", bench::run_downlink);

  std::vector<bench::Table> tables;
  for (auto* t : {&results.uplink, &results.uplink_summary, &results.compare, &results.downlink,
                  &results.storm, &results.memory}) {
    if (!t->rows.empty()) tables.push_back(*t);
  }
  if (!storm_retry.rows.empty()) tables.push_back(storm_retry);
  tables.push_back(bench::targets_table(results));
  bench::Table run_info{"run", "Run", {"item", "value"}, {}};
  auto first_three = [](const std::string& loadavg) {
    return loadavg.substr(0, loadavg.find(' ', loadavg.find(' ', loadavg.find(' ') + 1) + 1));
  };
  run_info.add(
      {bench::text("cores"), bench::num(std::uint64_t(std::thread::hardware_concurrency()))});
  run_info.add(
      {bench::text("load average at start (1/5/15 min)"), bench::text(first_three(load_start))});
  run_info.add({bench::text("load average at end"),
                bench::text(first_three(bench::read_file("/proc/loadavg")))});
  run_info.add({bench::text("gateway"), bench::text(opt.gateway)});
  if (!opt.compare.empty())
    run_info.add({bench::text("before (--compare)"), bench::text(opt.compare)});
  run_info.add({bench::text("count errors (acked > sent, ...)"),
                bench::num(std::uint64_t(bench::consistency_errors()))});
  run_info.add({bench::text("subscriber"),
                bench::text(opt.paho_subscriber ? "Paho C++" : "raw MQTT socket")});
  tables.push_back(run_info);
  if (!json_file.empty()) {
    std::ofstream f(json_file);
    bench::print_json(f, tables, command.str());
  }
  if (opt.json) {
    bench::print_json(std::cout, tables, command.str());
  } else {
    std::cout << "command: " << command.str() << "\n";
    bench::print_text(std::cout, tables);
  }
  if (bench::consistency_errors() > 0) status = 1;
  return status;
}
