// mqttsn-gateway: MQTT-SN v1.2 sensors over UDP (and BLE) bridged to an MQTT broker.
#include <uv.h>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>

#include "gateway/metrics/gateway_metrics.hpp"
#include "gateway/metrics/http_server.hpp"
#include "gateway/runtime/runtime.hpp"
#include "gateway/service/config.hpp"
#include "gateway/service/dtls_service.hpp"
#include "gateway/service/log.hpp"
#include "gateway/service/notify.hpp"
#include "gateway/service/reload.hpp"
#include "gateway/service/status.hpp"
#include "transports/log/limited_log.hpp"
#include "transports/udp/udp_transport.hpp"
#ifdef MQTTSN_WITH_BLE
#include "gateway/service/ble_status.hpp"
#include "transports/ble/ble_transport.hpp"
#endif

#ifndef MQTTSN_GATEWAY_VERSION
#define MQTTSN_GATEWAY_VERSION "unknown"
#endif

namespace {

std::string status_prefix(const gw::Config& c) {
  return c.status.topic_prefix.empty() ? "mqttsn-gateway/" + std::to_string(c.gateway.id)
                                       : c.status.topic_prefix;
}

gw::AdmissionOptions admission_options(const gw::Config& c) {
  gw::AdmissionOptions a;
  a.allow = gw::Admission(c.admission.client_ids, c.admission.networks);
  a.max_sessions = static_cast<std::size_t>(c.admission.max_sessions);
  a.rate_limit_pps = c.admission.rate_limit_pps;
  a.rate_limit_burst = c.admission.rate_limit_burst;
  a.rate_limit_sources = c.admission.rate_limit_sources;
  return a;
}

// [state] path: a relative one lives in the service's state directory when systemd gives one
// (StateDirectory= sets $STATE_DIRECTORY; several are ':'-separated, the first is ours).
std::string state_path(const gw::Config& c) {
  const std::string& p = c.state.path;
  if (p.empty() || p.front() == '/') return p;
  const char* dir = std::getenv("STATE_DIRECTORY");
  if (dir == nullptr || *dir == '\0') return p;
  const std::string d(dir);
  return d.substr(0, d.find(':')) + "/" + p;
}

// The per-sensor caps (README "Security"): [protocol] max_* and unknown-sender replies.
void apply_sensor_caps(const gw::Config& c, gw::RuntimeOptions& o) {
  const auto& p = c.protocol;
  o.max_client_id_length = p.max_client_id_length;
  o.unknown_sender_replies_pps = c.admission.unknown_sender_replies_pps;
  o.session.max_topics = p.max_topics_per_client;
  o.session.max_topic_length = p.max_topic_length;
  o.session.max_subscriptions = p.max_subscriptions_per_client;
  o.session.max_keep_alive_s = static_cast<std::uint16_t>(p.max_keep_alive_s);
  o.session.max_downlink_bytes = p.max_downlink_bytes;
}

gw::RuntimeOptions runtime_options(const gw::Config& c,
                                   const std::shared_ptr<gw::PredefinedTopics>& predefined) {
  gw::RuntimeOptions o;
  o.gw_id = c.gateway.id;
  gw::apply_broker_config(c.broker, o.upstream);
  o.aggregating = c.broker.mode == "aggregating";
  o.gateway_client_id = c.broker.client_id;
  o.persistent_link = c.broker.persistent_link;
  o.session.retry_interval = std::chrono::milliseconds(c.protocol.retry_interval_ms);
  o.session.retry_count = c.protocol.retry_count;
  o.session.max_buffered = static_cast<std::size_t>(c.protocol.max_buffered_per_client);
  o.session.max_buffered_bytes = static_cast<std::size_t>(c.protocol.max_buffered_bytes_per_client);
  o.session.budget = std::make_shared<gw::BufferBudget>(
      static_cast<std::size_t>(c.protocol.max_buffered_total),
      static_cast<std::size_t>(c.protocol.max_buffered_bytes_total));
  o.admission = admission_options(c);
  // Every session reads this one map: SIGHUP edits it in place.
  gw::apply_predefined(*predefined, c.predefined_topics);
  o.session.predefined = predefined;
  o.advertise_interval = std::chrono::seconds(c.protocol.advertise_interval_s);
  o.parked_session_expiry = std::chrono::seconds(c.protocol.parked_session_expiry_s);
  o.max_parked_sessions = static_cast<std::size_t>(c.protocol.max_parked_sessions);
  o.state_path = state_path(c);
  o.state_max_bytes = c.state.max_bytes;
  apply_sensor_caps(c, o);
  o.identity_must_match_client_id = c.dtls.identity_must_match_client_id;
  if (c.status.enabled) {
    const std::string offline = "{\"online\": false}";
    o.gateway_will =
        gw::Will{status_prefix(c) + "/status", gw::Bytes(offline.begin(), offline.end()), 1, true};
  }
  return o;
}

// Everything that lives on the loop, so shutdown can reach it from a signal callback.
struct App {
  uv_loop_t* loop;
  gw::Runtime runtime;
  transport::UdpTransport udp;
  gw::DtlsService dtls;
#ifdef MQTTSN_WITH_BLE
  std::unique_ptr<transport::BleTransport> ble;
#endif
  uv_signal_t sigint{};
  uv_signal_t sigterm{};
  uv_signal_t sighup{};
  uv_timer_t log_timer{};  // reports suppressed log lines once their window is over
  gw::Notifier notifier;
  std::unique_ptr<gw::StatusPublisher> status;
  std::unique_ptr<gw::metrics::HttpServer> metrics;  // [metrics] listen
  // What SIGHUP compares against and edits.
  gw::Config config;
  std::string config_path;
  bool log_level_pinned = false;
  std::shared_ptr<gw::PredefinedTopics> predefined;
  bool stopping = false;

  App(uv_loop_t* l, gw::Config c, std::shared_ptr<gw::PredefinedTopics> p)
      : loop(l),
        runtime(l, runtime_options(c, p)),
        udp(
            l,
            [this](const transport::PeerAddress& from, std::span<const std::uint8_t> bytes) {
              runtime.on_datagram(from, bytes);
            },
            [](transport::UdpTransport::LogLevel level, const std::string& text) {
              spdlog::log(level == transport::UdpTransport::LogLevel::Warn ? spdlog::level::warn
                                                                           : spdlog::level::info,
                          "{}", text);
            }),
        dtls(l, runtime),
        notifier(l, [this] { return status_line(); }),
        config(std::move(c)),
        predefined(std::move(p)) {}

  std::string status_line() const {
    const gw::SessionCounts n = gw::ServiceHooks::session_counts(runtime);
    return std::to_string(n.total()) + " sensors: " + std::to_string(n.active) + " active, " +
           std::to_string(n.asleep) + " asleep, " + std::to_string(n.awake) + " awake, " +
           std::to_string(n.connecting) + " connecting; broker " +
           (runtime.broker_reachable() ? "connected" : "unreachable");
  }

  // [metrics] listen: /metrics on this loop, read from the same figures as the status topic.
  std::string start_metrics() {
    const double started =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    metrics = std::make_unique<gw::metrics::HttpServer>(loop, [this, started] {
      gw::metrics::Extras x{MQTTSN_GATEWAY_VERSION, started, std::nullopt, std::nullopt};
      if (config.udp.enabled) x.udp = udp.counters();
#ifdef MQTTSN_WITH_BLE
      if (ble) {
        x.ble.emplace();
        for (const auto& a : ble->adapters())
          (*x.ble)[a.name] = {a.links, a.max_connections, a.refused, a.released};
      }
#endif
      return gw::metrics::render(runtime, x);
    });
    std::string error = metrics->start(config.metrics.listen);
    if (error.empty()) spdlog::info("metrics on http://{}/metrics", config.metrics.listen);
    return error;
  }

  void reload() {
    if (config_path.empty()) {
      spdlog::info("reload: no configuration file (--config), nothing to reload");
      return;
    }
    gw::ConfigResult fresh = gw::load_config_file(config_path);
    if (!fresh.ok()) {
      for (const auto& e : fresh.errors) spdlog::error("reload: {}", e);
      spdlog::error("reload: {} refused, the old configuration stays in force", config_path);
      return;
    }
    const gw::ReloadPlan plan = gw::plan_reload(config, fresh.config, log_level_pinned);
    if (!log_level_pinned)
      spdlog::set_level(spdlog::level::from_str(fresh.config.gateway.log_level));
    gw::apply_predefined(*predefined, fresh.config.predefined_topics);
    std::string ble_error;
#ifdef MQTTSN_WITH_BLE
    if (ble) ble_error = ble->set_allow(fresh.config.ble.allow);
#endif
    if (!ble_error.empty())
      spdlog::error("reload: {}; the old [ble] allow stays in force", ble_error);
    runtime.set_admission(admission_options(fresh.config));
    dtls.reload(fresh.config);
    const auto& p = fresh.config.protocol;
    runtime.set_buffer_limits(static_cast<std::size_t>(p.max_buffered_per_client),
                              static_cast<std::size_t>(p.max_buffered_bytes_per_client),
                              static_cast<std::size_t>(p.max_buffered_total),
                              static_cast<std::size_t>(p.max_buffered_bytes_total));
    for (const auto& key : plan.ignored)
      spdlog::warn("reload: {} changed: needs a restart, not applied", key);
    std::string what;
    for (const auto& c : plan.changes) what += (what.empty() ? "" : "; ") + c;
    spdlog::info("reload: {}", what.empty() ? "nothing changed" : what);
    // Keys that need a restart keep their running value, so the next comparison stays honest.
    config.gateway.log_level = fresh.config.gateway.log_level;
    config.predefined_topics = fresh.config.predefined_topics;
    if (ble_error.empty()) config.ble.allow = fresh.config.ble.allow;
    config.admission = fresh.config.admission;
    config.protocol.max_buffered_per_client = p.max_buffered_per_client;
    config.protocol.max_buffered_bytes_per_client = p.max_buffered_bytes_per_client;
    config.protocol.max_buffered_total = p.max_buffered_total;
    config.protocol.max_buffered_bytes_total = p.max_buffered_bytes_total;
  }

  void shutdown() {
    if (stopping) return;
    stopping = true;
    notifier.stopping();
    notifier.close();
    if (status) status->stop();  // before the runtime disconnects the gateway client
    if (metrics) metrics->close();
    if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&sighup)))
      uv_close(reinterpret_cast<uv_handle_t*>(&sighup), nullptr);
    if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&log_timer)))
      uv_close(reinterpret_cast<uv_handle_t*>(&log_timer), nullptr);
    udp.close();
    dtls.close();
#ifdef MQTTSN_WITH_BLE
    if (ble) ble->stop([] {});
#endif
    runtime.stop([this] {
      for (uv_signal_t* s : {&sigint, &sigterm})
        if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(s)))
          uv_close(reinterpret_cast<uv_handle_t*>(s), nullptr);
    });
  }
};

void on_signal(uv_signal_t* s, int signum) {
  auto* app = static_cast<App*>(s->data);
  spdlog::info("signal {}: shutting down", signum);
  app->shutdown();
}

void on_sighup(uv_signal_t* s, int) {
  auto* app = static_cast<App*>(s->data);
  spdlog::info("SIGHUP: reloading {}", app->config_path);
  app->reload();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"MQTT-SN v1.2 gateway: sensors over UDP (and BLE) to an MQTT broker"};
  std::string config_path;
  bool check_config = false;
  std::string log_level;
  cli.add_option("-c,--config", config_path,
                 "TOML configuration file (default: built-in defaults)");
  cli.add_flag("--check-config", check_config,
               "Validate the configuration, print the verdict, exit");
  cli.add_option("--log-level", log_level,
                 "trace, debug, info, warn, error, critical or off (overrides gateway.log_level)");
  std::string log_format = "auto";
  cli.add_option(
      "--log-format", log_format,
      "auto (journal when JOURNAL_STREAM is set), text (timestamped) or journal (<N> priority "
      "prefixes, no timestamp)");
  cli.set_version_flag("--version", std::string("mqttsn-gateway ") + MQTTSN_GATEWAY_VERSION);
  CLI11_PARSE(cli, argc, argv);

  gw::ConfigResult loaded =
      config_path.empty() ? gw::ConfigResult{} : gw::load_config_file(config_path);
  if (!log_level.empty() && !gw::valid_log_level(log_level))
    loaded.errors.push_back(
        "--log-level: expected one of trace, debug, info, warn, error, critical, off");
  gw::LogFormat format = gw::LogFormat::Auto;
  if (!gw::parse_log_format(log_format, format))
    loaded.errors.push_back("--log-format: expected auto, text or journal");
  if (!loaded.ok()) {
    for (const auto& e : loaded.errors) std::cerr << "error: " << e << "\n";
    return 1;
  }
  if (check_config) {
    std::cout << "configuration OK\n";
    return 0;
  }
  const gw::Config& config = loaded.config;
  gw::init_logging(log_level.empty() ? config.gateway.log_level : log_level, format);

  uv_loop_t loop;
  uv_loop_init(&loop);
  int exit_code = 0;
  {
    App app(&loop, config, std::make_shared<gw::PredefinedTopics>());
    app.config_path = config_path;
    app.log_level_pinned = !log_level.empty();
    app.runtime.add_transport(app.udp);
    for (uv_signal_t* s : {&app.sigint, &app.sigterm, &app.sighup}) {
      uv_signal_init(&loop, s);
      s->data = &app;
    }
    uv_signal_start(&app.sigint, on_signal, SIGINT);
    uv_signal_start(&app.sigterm, on_signal, SIGTERM);
    uv_signal_start(&app.sighup, on_sighup, SIGHUP);
    uv_timer_init(&loop, &app.log_timer);
    uv_timer_start(
        &app.log_timer, [](uv_timer_t*) { util::report_suppressed(); }, 1000, 1000);

    std::string error;
    if (config.udp.enabled) {
      transport::UdpOptions udp;
      udp.listen = config.udp.listen;
      udp.receive_buffer_bytes = static_cast<std::size_t>(config.udp.receive_buffer_bytes);
      udp.advertise_to = config.udp.advertise_to;
      error = app.udp.start(udp);
      if (error.empty())
        for (const auto& a : app.udp.local_addresses()) spdlog::info("listening on udp {}", a);
    }
    if (error.empty()) error = app.dtls.start(config);
    if (error.empty() && config.ble.enabled) {
#ifdef MQTTSN_WITH_BLE
      transport::BleConfig ble;
      ble.adapter = config.ble.adapter;
      ble.adapters = config.ble.adapters;
      ble.max_connections = config.ble.max_connections;
      ble.idle_disconnect = std::chrono::seconds(config.ble.idle_disconnect_s);
      ble.allow = config.ble.allow;
      ble.service_uuid = config.ble.service_uuid;
      ble.rx_uuid = config.ble.rx_uuid;
      ble.tx_uuid = config.ble.tx_uuid;
      if (config.ble.rssi_min) ble.rssi_min = static_cast<std::int16_t>(*config.ble.rssi_min);
      ble.passkeys = config.ble.passkeys;
      try {
        app.ble = transport::BleTransport::create(
            &loop, std::move(ble),
            [&app](const transport::PeerAddress& from, std::span<const std::uint8_t> bytes) {
              app.runtime.on_datagram(from, bytes);
            },
            [&app, &exit_code](const std::string& text) {
              spdlog::critical("{}: exiting (systemd restarts the gateway)", text);
              exit_code = 2;
              app.shutdown();
            });
        app.runtime.add_transport(*app.ble);
        app.ble->start();
      } catch (const std::exception& e) {
        error = e.what();
      }
#else
      error = "ble.enabled: this gateway was built without BLE support (sdbus-c++ not found)";
#endif
    }
    if (error.empty() && !config.metrics.listen.empty()) error = app.start_metrics();
    if (error.empty()) error = app.runtime.start();
    if (!error.empty()) {
      spdlog::error("{}", error);
      exit_code = 1;
      app.shutdown();
    } else {
      spdlog::info("mqttsn-gateway {} started: gateway id {}, broker {}", MQTTSN_GATEWAY_VERSION,
                   config.gateway.id, config.broker.uri);
      // Listening: ready whether or not the broker is up yet (the runtime keeps retrying it).
      app.notifier.ready();
      if (config.status.enabled) {
        const std::string prefix = status_prefix(config);
        app.status = std::make_unique<gw::StatusPublisher>(
            &loop, app.runtime, prefix, std::chrono::seconds(config.status.interval_s));
#ifdef MQTTSN_WITH_BLE
        if (app.ble) {
          app.status->set_link_info([&app] {
            std::map<std::string, gw::StatusPublisher::LinkInfo> out;
            for (const auto& d : app.ble->devices())
              out["ble:" + d.address] = gw::StatusPublisher::LinkInfo{d.rssi, d.mtu, d.adapter};
            return out;
          });
          app.status->set_ble_summary(
              [&app] { return gw::ble_adapters_json(app.ble->adapters()); });
        }
#endif
        app.status->set_extra([&app] { return app.dtls.status_json(); });
        app.status->start();
        spdlog::info("status topics under {}/ every {} s", prefix, config.status.interval_s);
      }
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    util::report_suppressed(true);
    spdlog::info("stopped: {} datagrams, {} malformed, {} sessions, udp send errors {}",
                 app.runtime.counters().datagrams, app.runtime.counters().malformed,
                 app.runtime.counters().sessions_created, app.udp.counters().send_errors);
  }
  const int rc = uv_loop_close(&loop);
  if (rc != 0) {
    spdlog::error("loop not closed cleanly: {}", uv_strerror(rc));
    return exit_code == 0 ? 1 : exit_code;
  }
  return exit_code;
}
