// Gateway configuration: the TOML file's contents as plain values, with defaults.
// Parsing is strict: unknown keys and wrong types are errors that name the key.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "transports/dtls/psk_file.hpp"

namespace gw {

struct GatewaySection {
  std::uint8_t id = 1;  // GwId in ADVERTISE / GWINFO
  std::string log_level = "info";
};

struct BrokerTlsSection {
  bool enabled = false;  // also on with an ssl://, mqtts:// or wss:// broker.uri
  std::string ca_file;   // PEM CA bundle; neither this nor ca_dir: the system's trust store
  std::string ca_dir;
  std::string cert_file;     // client certificate (PEM)
  std::string key_file;      // its private key (PEM)
  std::string key_password;  // read from key_password_file
  std::string key_password_file;
  // Transparent mode: each sensor's upstream presents its own certificate; "{client_id}" is
  // replaced by the sensor's ClientId (gateway/upstream/sensor_credentials.hpp). The gateway's own
  // client keeps cert_file/key_file.
  std::string cert_file_template;
  std::string key_file_template;  // empty: the key is in the certificate file
  bool verify_hostname = true;
};

struct BrokerSection {
  std::string uri = "tcp://127.0.0.1:1883";
  std::string mode = "transparent";  // one upstream MQTT session per sensor
  // A sensor's CONNECT is answered CONNACK 0x01 when its upstream is not connected this long
  // after it (waiting for a connect slot included); also Paho's connect timeout.
  std::uint32_t connect_timeout_ms = 4000;
  // Sensors' upstream connects under way at once (transparent mode); the rest wait in FIFO
  // order. 0: no limit.
  std::uint32_t max_connects_in_flight = 256;
  std::string username;
  std::optional<std::string> password;  // inline, or read from password_file at load
  std::string password_file;
  std::string username_template;    // "{client_id}" -> the sensor's ClientId (sensor sessions only)
  std::string client_id_prefix;     // prepended to each sensor's ClientId upstream
  int mqtt_version = 3;             // 3 = MQTT 3.1.1, 5 = MQTT 5
  std::uint16_t keep_alive_s = 60;  // shared gateway client only
  // Shared gateway client: publishes queued in Paho, not yet written (drops beyond: counted).
  std::uint32_t max_queued_publishes = 20000;
  // The shared gateway client's ClientId ("" = "mqttsn-gw-<gateway.id>") and, in aggregating
  // mode, whether its broker session is kept across reconnects and restarts (CleanSession=false).
  std::string client_id;
  bool persistent_link = true;
  // The broker probe's interval while it is unreachable, and the back-off (doubling from min to
  // max) of a sensor's upstream that the broker drops while it is up.
  std::uint32_t reconnect_min_ms = 250;
  std::uint32_t reconnect_max_ms = 30000;
  BrokerTlsSection tls;
};

struct UdpSection {
  bool enabled = true;
  std::vector<std::string> listen{"0.0.0.0:1883", "[::]:1883"};
  std::uint64_t receive_buffer_bytes = 4u * 1024u * 1024u;
  std::vector<std::string> advertise_to;
};

// [dtls]: DTLS 1.2 listeners for UDP sensors (transports/dtls/), next to or instead of [udp].
struct DtlsSection {
  bool enabled = false;
  std::vector<std::string> listen{"0.0.0.0:8883", "[::]:8883"};
  std::string psk_file = "/etc/mqttsn-gateway/psk";  // "" = no PSK (certificates only)
  transport::PskKeys psk_keys;                       // read from psk_file at load
  std::string cert_file;
  std::string key_file;
  std::string ca_file;
  bool require_certificate = false;
  bool identity_must_match_client_id = true;
  std::uint64_t max_handshakes = 256;      // peers between cookie and Finished
  std::uint64_t max_peers = 10000;         // established DTLS peers
  std::uint32_t idle_timeout_s = 3600;     // an established peer silent this long is forgotten
  std::uint32_t handshake_timeout_s = 30;  // a handshake not done by then is dropped
};

struct ProtocolSection {
  std::uint32_t retry_interval_ms = 10000;   // Tretry
  std::uint32_t retry_count = 3;             // Nretry
  std::uint32_t advertise_interval_s = 900;  // Tadv
  std::uint64_t max_buffered_per_client = 1000;
  std::uint32_t parked_session_expiry_s = 3600;  // CleanSession=false sessions kept; 0 = none
  std::uint64_t max_parked_sessions = 10000;     // the oldest parked session goes first
  // Further buffer caps; 0 = no limit. Over one, the oldest QoS 0 message goes, else the oldest.
  std::uint64_t max_buffered_bytes_per_client = 1024u * 1024u;
  std::uint64_t max_buffered_total = 0;  // messages over all sensors
  std::uint64_t max_buffered_bytes_total = 64u * 1024u * 1024u;
  // What one sensor may ask for (README "Security"); 0 = no limit, except max_client_id_length.
  std::uint32_t max_client_id_length = 64;   // octets; the spec's own limit is 23
  std::uint32_t max_topics_per_client = 64;  // normal topic ids it REGISTERs / SUBSCRIBEs
  std::uint32_t max_topic_length = 128;      // octets of a topic name or filter it sends
  std::uint32_t max_subscriptions_per_client = 32;
  std::uint32_t max_keep_alive_s = 65535;    // Duration 0 or above: supervised at this
  std::uint32_t max_downlink_bytes = 65535;  // a broker message framed bigger is dropped
};

// [admission]: who may connect, and how much any one peer may use. Empty lists allow everyone;
// 0 = no limit.
struct AdmissionSection {
  std::vector<std::string> client_ids;            // exact, or a prefix with a trailing '*'
  std::vector<std::string> networks;              // UDP sources, CIDR (IPv4 and IPv6)
  std::uint64_t max_sessions = 10000;             // live sessions
  std::uint32_t rate_limit_pps = 0;               // datagrams per second per source IP / BLE device
  std::uint32_t rate_limit_burst = 0;             // 0: rate_limit_pps (one second's worth)
  std::uint32_t rate_limit_sources = 10000;       // buckets kept; more sources share one
  std::uint32_t unknown_sender_replies_pps = 10;  // DISCONNECTs to unknown senders, all together
};

struct BleSection {
  bool enabled = false;
  std::string adapter;                   // "" = the first adapter found
  std::vector<std::string> adapters;     // several adapters ("hci0", "hci1"); empty = `adapter`
  std::uint32_t max_connections = 5;     // GATT links at once per adapter
  std::uint32_t idle_disconnect_s = 30;  // an asleep sensor's link is released; 0 = never
  std::vector<std::string> allow;        // identity addresses allowed to connect
  std::string service_uuid = "6e400001-b5a3-f393-e0a9-e50e24dcca9e";
  std::string rx_uuid = "6e400002-b5a3-f393-e0a9-e50e24dcca9e";
  std::string tx_uuid = "6e400003-b5a3-f393-e0a9-e50e24dcca9e";
  std::optional<int> rssi_min;
  std::map<std::string, std::uint32_t> passkeys;  // address -> 6-digit passkey
};

// [status]. topic_prefix "" = "mqttsn-gateway/<gateway.id>".
struct StatusSection {
  bool enabled = true;
  std::string topic_prefix;
  std::uint32_t interval_s = 30;
};

// [state]: sensor sessions kept across restarts (SQLite). "" = not kept. A relative path is taken
// inside $STATE_DIRECTORY when systemd sets it (StateDirectory=), else the working directory.
struct StateSection {
  std::string path;
  std::uint64_t max_bytes =
      0;  // the file grows no further (writes fail as on a full disk); 0 = no limit
};

// [metrics]: Prometheus /metrics over HTTP on the loop. "" = off; "127.0.0.1:9883", "[::1]:9883".
struct MetricsSection {
  std::string listen;
};

struct Config {
  GatewaySection gateway;
  BrokerSection broker;
  UdpSection udp;
  DtlsSection dtls;
  std::map<std::uint16_t, std::string> predefined_topics;  // [topics.predefined]
  ProtocolSection protocol;
  BleSection ble;
  StatusSection status;
  AdmissionSection admission;
  StateSection state;
  MetricsSection metrics;
};

// Result of parsing: the config, or every error found ("protocol.retry_count: expected integer").
struct ConfigResult {
  Config config;
  std::vector<std::string> errors;
  bool ok() const noexcept { return errors.empty(); }
};

ConfigResult parse_config(std::string_view toml_text, std::string_view source_name = "config");
ConfigResult load_config_file(const std::string& path);

bool valid_log_level(std::string_view level) noexcept;

}  // namespace gw
