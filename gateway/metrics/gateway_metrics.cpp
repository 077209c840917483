#include "gateway/metrics/gateway_metrics.hpp"

#include "gateway/metrics/exposition.hpp"
#include "gateway/upstream/upstream.hpp"

namespace gw::metrics {
namespace {

using U = std::uint64_t;

void counter(Exposition& e, std::string_view name, std::string_view help, U value) {
  e.family(name, Type::Counter, help);
  e.sample(value);
}

void gauge(Exposition& e, std::string_view name, std::string_view help, U value) {
  e.family(name, Type::Gauge, help);
  e.sample(value);
}

void sessions(Exposition& e, const Runtime& r) {
  const SessionCounts n = ServiceHooks::session_counts(r);
  e.family("mqttsn_gateway_sensors", Type::Gauge, "Sensors with a session, by session state.");
  e.sample(U{n.active}, {{"state", "active"}});
  e.sample(U{n.asleep}, {{"state", "asleep"}});
  e.sample(U{n.awake}, {{"state", "awake"}});
  e.sample(U{n.connecting}, {{"state", "connecting"}});
  e.family("mqttsn_gateway_sensors_by_transport", Type::Gauge,
           "Sensors with a session, by transport.");
  e.sample(U{n.udp}, {{"transport", "udp"}});
  e.sample(U{n.ble}, {{"transport", "ble"}});
  e.sample(U{n.dtls}, {{"transport", "dtls"}});
}

void drops(Exposition& e, const RuntimeCounters& c, const BufferBudget& b, const LimitCounters& l) {
  e.family("mqttsn_gateway_dropped_total", Type::Counter,
           "Messages and datagrams dropped, by reason (status JSON \"drops\").");
  e.sample(c.qos_m1_dropped, {{"reason", "qos_m1"}});
  e.sample(c.unknown_sender, {{"reason", "unknown_sender"}});
  e.sample(c.encode_errors, {{"reason", "encode_error"}});
  e.sample(c.rate_limited, {{"reason", "rate_limited"}});
  e.sample(c.dropped_network, {{"reason", "network_not_allowed"}});
  // Buffered broker messages dropped by the cap that was hit: "buffer_client_messages", ...
  for (auto reason : {DropReason::ClientMessages, DropReason::ClientBytes,
                      DropReason::TotalMessages, DropReason::TotalBytes}) {
    const std::string label = std::string("buffer_") + to_string(reason);
    e.sample(U{b.drops(reason)}, {{"reason", label}});
  }
  // QoS 0 uplink dropped, broker messages too big for a sensor, unknown senders not answered,
  // REGISTER / SUBSCRIBE refused by the per-sensor caps.
  e.sample(c.qos0_no_upstream, {{"reason", "qos0_no_upstream"}});
  e.sample(c.upstream_refused, {{"reason", "upstream_refused"}});
  e.sample(c.link_down, {{"reason", "link_down"}});
  e.sample(c.upstream_queue_full, {{"reason", "upstream_queue_full"}});
  e.sample(c.parked_not_kept, {{"reason", "parked_not_kept"}});
  e.sample(l.downlink_oversized, {{"reason", "downlink_oversized"}});
  e.sample(l.uplink_congestion, {{"reason", "uplink_congestion"}});
  e.sample(c.unknown_not_answered, {{"reason", "unknown_not_answered"}});
  e.sample(l.topics, {{"reason", "cap_topics"}});
  e.sample(l.topic_length, {{"reason", "cap_topic_length"}});
  e.sample(l.subscriptions, {{"reason", "cap_subscriptions"}});
  e.family("mqttsn_gateway_connects_refused_total", Type::Counter,
           "CONNECTs refused by admission, by reason.");
  e.sample(c.refused_client_id, {{"reason", "client_id"}});
  e.sample(c.refused_network, {{"reason", "network"}});
  e.sample(c.refused_max_sessions, {{"reason", "max_sessions"}});
  e.sample(c.refused_identity, {{"reason", "identity"}});
  e.sample(c.refused_credentials, {{"reason", "credentials"}});
  e.sample(c.refused_client_id_invalid, {{"reason", "client_id_invalid"}});
  e.sample(c.connack_queue_timeout, {{"reason", "connect_queue_timeout"}});
  e.sample(c.connack_connect_timeout, {{"reason", "connect_timeout"}});
  e.sample(c.connack_upstream_failed, {{"reason", "upstream_failed"}});
}

void links(Exposition& e, const Runtime& r, const RuntimeCounters& c) {
  gauge(e, "mqttsn_gateway_broker_up",
        "1 while the gateway's own MQTT client is connected to the broker.",
        r.broker_reachable() ? 1 : 0);
  counter(e, "mqttsn_gateway_broker_connects_total",
          "Connections of the gateway's own MQTT client to the broker.", c.broker_connects);
  counter(e, "mqttsn_gateway_broker_losses_total",
          "Connections of the gateway's own MQTT client that were lost.", c.broker_losses);
  counter(e, "mqttsn_gateway_upstream_connects_total",
          "Sensor sessions' broker connections established.", c.upstream_connects);
  counter(e, "mqttsn_gateway_upstream_connect_failures_total",
          "Sensor sessions' broker connection attempts that failed.", c.upstream_connect_failures);
  counter(e, "mqttsn_gateway_upstream_retries_total",
          "Reconnects of sensor sessions' lost broker connections.", c.upstream_retries);
  counter(e, "mqttsn_gateway_upstream_losses_total",
          "Sensor sessions' broker connections that were lost.", c.upstream_losses);
  counter(e, "mqttsn_gateway_upstream_clients_set_aside_total",
          "Paho clients set aside after a QoS 1/2 PUBLISH failed mid-write (docs/design.md).",
          U{UpstreamClient::set_aside_clients()});
}

}  // namespace

std::string render(const Runtime& r, const Extras& x) {
  Exposition e;
  const RuntimeCounters& c = r.counters();
  const BufferBudget& b = r.buffer_budget();
  e.family("mqttsn_gateway_build_info", Type::Gauge, "Always 1; the version as a label.");
  e.sample(U{1}, {{"version", x.version}});
  e.family("mqttsn_gateway_start_time_seconds", Type::Gauge,
           "Start time of the gateway since the Unix epoch, in seconds.");
  e.sample(x.start_time_seconds);
  sessions(e, r);
  counter(e, "mqttsn_gateway_sessions_created_total", "Sensor sessions created.",
          c.sessions_created);
  counter(e, "mqttsn_gateway_sessions_ended_total", "Sensor sessions ended.", c.sessions_ended);
  counter(e, "mqttsn_gateway_session_takeovers_total",
          "Sessions taken over by a new CONNECT with the same ClientId.", c.takeovers);
  counter(e, "mqttsn_gateway_parked_sessions_expired_total",
          "Parked (CleanSession=false) sessions dropped by expiry or by the cap.",
          c.parked_expired);
  counter(e, "mqttsn_gateway_datagrams_received_total",
          "MQTT-SN datagrams received from sensors (status JSON messages.in).", c.datagrams);
  counter(e, "mqttsn_gateway_datagrams_sent_total",
          "MQTT-SN datagrams handed to a transport (status JSON messages.out).", c.datagrams_out);
  counter(e, "mqttsn_gateway_malformed_datagrams_total",
          "Datagrams that did not decode as MQTT-SN (dropped).", c.malformed);
  counter(e, "mqttsn_gateway_qos_m1_forwarded_total", "QoS -1 publishes forwarded to the broker.",
          c.qos_m1_forwarded);
  drops(e, c, b, r.limit_counters());
  gauge(e, "mqttsn_gateway_buffered_messages",
        "Broker messages buffered for sensors (asleep or not acknowledged yet).", b.messages());
  gauge(e, "mqttsn_gateway_buffered_bytes",
        "Bytes (topic and payload) of the buffered broker messages.", b.bytes());
  links(e, r, c);
  counter(e, "mqttsn_gateway_store_writes_total", "State store transactions.", c.store_writes);
  counter(e, "mqttsn_gateway_store_errors_total", "State store transactions that failed.",
          c.store_errors);
  if (x.udp) {
    counter(e, "mqttsn_gateway_udp_truncated_total",
            "UDP datagrams larger than the receive buffer (dropped).", x.udp->truncated);
    counter(e, "mqttsn_gateway_udp_receive_errors_total", "UDP receive errors.",
            x.udp->receive_errors);
    counter(e, "mqttsn_gateway_udp_send_errors_total", "UDP send errors.", x.udp->send_errors);
  }
  if (x.ble) {
    e.family("mqttsn_gateway_ble_links", Type::Gauge, "BLE sensors with a GATT link, by adapter.");
    for (const auto& [adapter, a] : *x.ble) e.sample(a.links, {{"adapter", adapter}});
    e.family("mqttsn_gateway_ble_max_connections", Type::Gauge,
             "GATT links allowed at once per adapter (ble.max_connections).");
    for (const auto& [adapter, a] : *x.ble) e.sample(a.max_connections, {{"adapter", adapter}});
    e.family("mqttsn_gateway_ble_connects_refused_total", Type::Counter,
             "BLE connects refused by the controller, by adapter.");
    for (const auto& [adapter, a] : *x.ble) e.sample(a.refused, {{"adapter", adapter}});
    e.family("mqttsn_gateway_ble_links_released_total", Type::Counter,
             "BLE links released by the gateway (asleep sensors), by adapter.");
    for (const auto& [adapter, a] : *x.ble) e.sample(a.released, {{"adapter", adapter}});
  }
  return e.text();
}

}  // namespace gw::metrics
