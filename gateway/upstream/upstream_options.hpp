// Security and protocol settings of the upstream MQTT connections (credentials, TLS, MQTT
// version, ClientId prefix), and how they become Paho create/connect options.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace mqtt {
class connect_options;
class create_options;
}  // namespace mqtt

namespace gw {

struct BrokerSection;
struct UpstreamOptions;

struct UpstreamSecurity {
  std::string username;
  std::optional<std::string> password;
  std::string username_template;          // "{client_id}" -> sensor ClientId; sensor sessions only
  std::string client_id_prefix;           // sensor sessions only
  int mqtt_version = 3;                   // 3 = 3.1.1, 5
  std::uint16_t shared_keep_alive_s = 0;  // shared gateway client; 0 = what the runtime asks
  // Shared gateway client: publishes Paho may hold not yet written to the socket
  // (broker.max_queued_publishes); sensor clients keep Paho's default (100 each).
  int shared_max_queued = 20000;
  bool tls = false;
  std::string ca_file;
  std::string ca_dir;
  std::string cert_file;
  std::string key_file;
  std::string key_password;        // also for the per-sensor keys
  std::string cert_file_template;  // "{client_id}" -> sensor ClientId; sensor sessions only
  std::string key_file_template;   // empty: the key is in the certificate file
  bool verify_hostname = true;
};

// Fills `out` (uri, timeouts, back-off, security) from the [broker] section.
void apply_broker_config(const BrokerSection& broker, UpstreamOptions& out);

// The URI handed to Paho: with TLS on, tcp:// / mqtt:// become ssl://, ws:// becomes wss://.
std::string upstream_uri(const std::string& uri, bool tls);
// True if the URI's scheme itself asks for TLS.
bool uri_wants_tls(const std::string& uri);

// The ClientId used upstream: the prefix is prepended for sensor sessions (not `shared`).
std::string upstream_client_id(const UpstreamSecurity& s, const std::string& client_id,
                               bool shared);
// The username for a session: the template (sensor sessions) or the global username.
std::string upstream_username(const UpstreamSecurity& s, const std::string& client_id, bool shared);

// Paho's create options; `shared`: the gateway's own client, which carries every sensor's traffic
// in aggregating mode and gets the larger queue.
mqtt::create_options upstream_create_options(const UpstreamSecurity& s, bool shared);
// Sets version, clean session/start, credentials, TLS on `opts` (after the caller set the rest).
void apply_security(mqtt::connect_options& opts, const UpstreamSecurity& s,
                    const std::string& client_id, bool shared, bool clean_session);

// The reason logged when a connect fails: Paho's code explained (TLS, credentials, refusal).
std::string describe_connect_failure(const UpstreamSecurity& s, int code, int reason_code);

}  // namespace gw
