#include "gateway/upstream/upstream_options.hpp"

#include <mqtt/connect_options.h>
#include <mqtt/create_options.h>
#include <mqtt/properties.h>
#include <mqtt/ssl_options.h>

#include <limits>

#include "gateway/service/config.hpp"
#include "gateway/upstream/sensor_credentials.hpp"
#include "gateway/upstream/upstream.hpp"

namespace gw {

namespace {
bool starts_with(const std::string& s, std::string_view prefix) {
  return s.rfind(prefix, 0) == 0;
}
std::string replace_scheme(const std::string& uri, std::string_view from, std::string_view to) {
  return std::string(to) + uri.substr(from.size());
}
std::string hex(int v) {
  static constexpr char digits[] = "0123456789abcdef";
  return {digits[(v >> 4) & 0xf], digits[v & 0xf]};
}
}  // namespace

bool uri_wants_tls(const std::string& uri) {
  return starts_with(uri, "ssl://") || starts_with(uri, "mqtts://") || starts_with(uri, "wss://");
}

std::string upstream_uri(const std::string& uri, bool tls) {
  // Paho C knows ssl:// everywhere; spell mqtts:// that way too.
  if (starts_with(uri, "mqtts://")) return replace_scheme(uri, "mqtts://", "ssl://");
  if (!tls) return uri;
  if (starts_with(uri, "tcp://")) return replace_scheme(uri, "tcp://", "ssl://");
  if (starts_with(uri, "mqtt://")) return replace_scheme(uri, "mqtt://", "ssl://");
  if (starts_with(uri, "ws://")) return replace_scheme(uri, "ws://", "wss://");
  return uri;
}

void apply_broker_config(const BrokerSection& b, UpstreamOptions& out) {
  UpstreamSecurity& s = out.security;
  s.tls = b.tls.enabled || uri_wants_tls(b.uri);
  out.uri = upstream_uri(b.uri, s.tls);
  out.connect_timeout = std::chrono::milliseconds(b.connect_timeout_ms);
  out.reconnect_min = std::chrono::milliseconds(b.reconnect_min_ms);
  out.reconnect_max = std::max(out.reconnect_min, std::chrono::milliseconds(b.reconnect_max_ms));
  out.max_connects_in_flight = b.max_connects_in_flight;
  s.username = b.username;
  s.password = b.password;
  s.username_template = b.username_template;
  s.client_id_prefix = b.client_id_prefix;
  s.mqtt_version = b.mqtt_version;
  s.shared_keep_alive_s = b.keep_alive_s;
  s.shared_max_queued = static_cast<int>(b.max_queued_publishes);
  s.ca_file = b.tls.ca_file;
  s.ca_dir = b.tls.ca_dir;
  s.cert_file = b.tls.cert_file;
  s.key_file = b.tls.key_file;
  s.key_password = b.tls.key_password;
  s.cert_file_template = b.tls.cert_file_template;
  s.key_file_template = b.tls.key_file_template;
  s.verify_hostname = b.tls.verify_hostname;
}

std::string upstream_client_id(const UpstreamSecurity& s, const std::string& client_id,
                               bool shared) {
  return shared ? client_id : s.client_id_prefix + client_id;
}

std::string upstream_username(const UpstreamSecurity& s, const std::string& client_id,
                              bool shared) {
  if (shared || s.username_template.empty()) return s.username;
  static constexpr std::string_view placeholder = "{client_id}";
  std::string out;
  const std::string& t = s.username_template;
  for (std::size_t i = 0; i < t.size();) {
    if (t.compare(i, placeholder.size(), placeholder) == 0) {
      out += client_id;
      i += placeholder.size();
    } else {
      out += t[i++];
    }
  }
  return out;
}

mqtt::create_options upstream_create_options(const UpstreamSecurity& s, bool shared) {
  mqtt::create_options opts(s.mqtt_version == 5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1);
  // Paho C counts every publish queued and not yet written against max_buffered_messages, also
  // while connected, and refuses the next one beyond it (MQTTASYNC_MAX_BUFFERED_MESSAGES). Its
  // default of 100 is one client's; the shared client carries all sensors' traffic, and at a few
  // thousand messages a second a short stall of Paho's send thread fills 100.
  if (shared) opts.set_max_buffered_messages(s.shared_max_queued);
  return opts;
}

void apply_security(mqtt::connect_options& opts, const UpstreamSecurity& s,
                    const std::string& client_id, bool shared, bool clean_session) {
  if (s.mqtt_version == 5) {
    opts.set_mqtt_version(MQTTVERSION_5);
    // MQTT 5 has Clean Start plus a session expiry; "keep the session" means never expire.
    opts.set_clean_session(false);
    opts.set_clean_start(clean_session);
    mqtt::properties props;
    props.add(mqtt::property(mqtt::property::SESSION_EXPIRY_INTERVAL,
                             clean_session ? 0 : std::numeric_limits<int>::max()));
    opts.set_properties(std::move(props));
  } else {
    opts.set_mqtt_version(MQTTVERSION_3_1_1);
    opts.set_clean_session(clean_session);
  }
  if (shared && s.shared_keep_alive_s != 0) opts.set_keep_alive_interval(s.shared_keep_alive_s);
  const std::string user = upstream_username(s, client_id, shared);
  if (!user.empty()) opts.set_user_name(user);
  // MQTT 3.1.1 forbids a password without a user name (MQTT 5 allows it).
  if (s.password && (!user.empty() || s.mqtt_version == 5)) opts.set_password(*s.password);
  if (s.tls) {
    mqtt::ssl_options ssl;
    if (!s.ca_file.empty()) ssl.set_trust_store(s.ca_file);
    if (!s.ca_dir.empty()) ssl.ca_path(s.ca_dir);
    if (!shared && !s.cert_file_template.empty()) {
      // The sensor's own certificate (gateway/upstream/sensor_credentials.hpp checked it loads).
      // Paho reads the files at each connect, so a rotated certificate is used from the next one.
      ssl.set_key_store(expand_client_id(s.cert_file_template, client_id));
      ssl.set_private_key(expand_client_id(
          s.key_file_template.empty() ? s.cert_file_template : s.key_file_template, client_id));
    } else {
      if (!s.cert_file.empty()) ssl.set_key_store(s.cert_file);
      if (!s.key_file.empty()) ssl.set_private_key(s.key_file);
    }
    if (!s.key_password.empty()) ssl.set_private_key_password(s.key_password);
    ssl.set_enable_server_cert_auth(true);  // the chain is always verified
    ssl.set_verify(s.verify_hostname);      // the broker's name against its certificate
    opts.set_ssl(std::move(ssl));
  }
}

std::string describe_connect_failure(const UpstreamSecurity& s, int code, int reason_code) {
  std::string text = "connect failed (code " + std::to_string(code) + ")";
  // MQTT 5 reports the CONNACK reason in the reason code, 3.1.1 in the return code (Paho
  // leaves a generic reason code on 3.1.1 failures: ignore it there).
  if (s.mqtt_version == 5 && reason_code >= 0x80) {
    text += " reason 0x" + hex(reason_code);
    code = reason_code;
  }
  switch (code) {
    case -1:  // MQTTASYNC_FAILURE: no CONNACK at all (refused socket, TLS handshake, timeout)
      if (s.tls)
        text +=
            ": no TCP/TLS connection; if the broker is up, check broker.tls.ca_file/ca_dir, "
            "the broker certificate's name (broker.tls.verify_hostname) and client cert";
      break;
    case 1:
    case 0x84:
      text += ": broker refused the protocol version (broker.mqtt_version)";
      break;
    case 2:
    case 0x85:
      text += ": broker refused the ClientId (broker.client_id_prefix?)";
      break;
    case 4:
    case 0x86:
      text += ": bad user name or password (broker.username/password)";
      break;
    case 5:
    case 0x87:
      text += ": not authorized (broker credentials)";
      break;
    default:
      break;
  }
  return text;
}

}  // namespace gw
