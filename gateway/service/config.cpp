// The only file that includes toml++ (it is slow to compile).
#include "gateway/service/config.hpp"

#include <charconv>
#include <cstdio>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <sstream>

#include <sys/stat.h>
#include <unistd.h>

#include <toml++/toml.h>

#include "gateway/admission/admission.hpp"
#include "mqttsn/topic.hpp"
#include "transports/udp/udp_transport.hpp"

namespace gw {

namespace {

std::string join(std::string_view prefix, std::string_view key) {
  return prefix.empty() ? std::string(key) : std::string(prefix) + "." + std::string(key);
}

class Reader {
 public:
  explicit Reader(std::vector<std::string>& errors) : errors_(errors) {}

  void error(const std::string& key, std::string_view what) {
    errors_.push_back(key + ": " + std::string(what));
  }

  std::size_t error_count() const noexcept { return errors_.size(); }

  void reject_unknown(const toml::table& t, std::string_view prefix,
                      std::initializer_list<std::string_view> known) {
    for (const auto& [k, v] : t) {
      bool found = false;
      for (auto name : known) found = found || k.str() == name;
      if (!found) error(join(prefix, k.str()), "unknown key");
    }
  }

  const toml::table* table(const toml::table& t, std::string_view prefix, std::string_view key) {
    const toml::node* n = t.get(key);
    if (n == nullptr) return nullptr;
    if (!n->is_table()) {
      error(join(prefix, key), "expected table");
      return nullptr;
    }
    return n->as_table();
  }

  template <class Int>
  void integer(const toml::table& t, std::string_view prefix, std::string_view key, Int& out,
               std::int64_t min, std::int64_t max) {
    const toml::node* n = t.get(key);
    if (n == nullptr) return;
    const auto* v = n->as_integer();
    if (v == nullptr) {
      error(join(prefix, key), "expected integer");
      return;
    }
    const std::int64_t x = v->get();
    if (x < min || x > max) {
      error(join(prefix, key),
            "must be between " + std::to_string(min) + " and " + std::to_string(max));
      return;
    }
    out = static_cast<Int>(x);
  }

  void string(const toml::table& t, std::string_view prefix, std::string_view key,
              std::string& out) {
    const toml::node* n = t.get(key);
    if (n == nullptr) return;
    const auto* v = n->as_string();
    if (v == nullptr) {
      error(join(prefix, key), "expected string");
      return;
    }
    out = v->get();
  }

  void boolean(const toml::table& t, std::string_view prefix, std::string_view key, bool& out) {
    const toml::node* n = t.get(key);
    if (n == nullptr) return;
    const auto* v = n->as_boolean();
    if (v == nullptr) {
      error(join(prefix, key), "expected boolean");
      return;
    }
    out = v->get();
  }

  void strings(const toml::table& t, std::string_view prefix, std::string_view key,
               std::vector<std::string>& out) {
    const toml::node* n = t.get(key);
    if (n == nullptr) return;
    const auto* a = n->as_array();
    if (a == nullptr) {
      error(join(prefix, key), "expected array of strings");
      return;
    }
    std::vector<std::string> values;
    for (const auto& e : *a) {
      const auto* s = e.as_string();
      if (s == nullptr) {
        error(join(prefix, key), "expected array of strings");
        return;
      }
      values.push_back(s->get());
    }
    out = std::move(values);
  }

 private:
  std::vector<std::string>& errors_;
};

void read_gateway(Reader& r, const toml::table& t, Config& c) {
  r.reject_unknown(t, "gateway", {"id", "log_level"});
  r.integer(t, "gateway", "id", c.gateway.id, 0, 255);
  r.string(t, "gateway", "log_level", c.gateway.log_level);
  if (!valid_log_level(c.gateway.log_level))
    r.error("gateway.log_level", "expected one of trace, debug, info, warn, error, critical, off");
}

// A secret kept in its own file: readable by the service only, one line (trailing newline dropped).
std::optional<std::string> read_secret_file(Reader& r, const std::string& key,
                                            const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    r.error(key, "cannot read \"" + path + "\"");
    return std::nullopt;
  }
  if ((st.st_mode & S_IROTH) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777u);
    r.error(key, "\"" + path + "\" is readable by everyone (mode " + mode +
                     "): refusing to use it; chmod o-r it");
    return std::nullopt;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    r.error(key, "cannot read \"" + path + "\"");
    return std::nullopt;
  }
  std::string secret;
  std::getline(in, secret);
  if (!secret.empty() && secret.back() == '\r') secret.pop_back();
  return secret;
}

void check_readable(Reader& r, const std::string& key, const std::string& path, bool dir) {
  if (path.empty()) return;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || ::access(path.c_str(), R_OK) != 0)
    r.error(key, "cannot read \"" + path + "\"");
  else if (dir != S_ISDIR(st.st_mode))
    r.error(key, "\"" + path + "\" is " + (dir ? "not a directory" : "a directory"));
}

// Only "{client_id}" may appear in braces; `required`: it must appear (one file per sensor).
void check_client_id_template(Reader& r, const std::string& key, const std::string& t,
                              bool required) {
  if (t.empty()) return;
  bool found = false;
  for (std::size_t i = t.find('{'); i != std::string::npos; i = t.find('{', i + 1)) {
    if (t.compare(i, 11, "{client_id}") != 0)
      r.error(key, "only the placeholder {client_id} is known");
    else
      found = true;
  }
  if (required && !found) r.error(key, "must contain {client_id} (one file per sensor)");
}

void read_broker_tls(Reader& r, const toml::table& t, Config& c) {
  constexpr std::string_view p = "broker.tls";
  auto& tls = c.broker.tls;
  r.reject_unknown(t, p,
                   {"enabled", "ca_file", "ca_dir", "cert_file", "key_file", "key_password_file",
                    "cert_file_template", "key_file_template", "verify_hostname"});
  r.boolean(t, p, "enabled", tls.enabled);
  r.string(t, p, "ca_file", tls.ca_file);
  r.string(t, p, "ca_dir", tls.ca_dir);
  r.string(t, p, "cert_file", tls.cert_file);
  r.string(t, p, "key_file", tls.key_file);
  r.string(t, p, "key_password_file", tls.key_password_file);
  r.boolean(t, p, "verify_hostname", tls.verify_hostname);
  r.string(t, p, "cert_file_template", tls.cert_file_template);
  r.string(t, p, "key_file_template", tls.key_file_template);
  check_client_id_template(r, "broker.tls.cert_file_template", tls.cert_file_template, true);
  check_client_id_template(r, "broker.tls.key_file_template", tls.key_file_template, true);
  if (!tls.key_file_template.empty() && tls.cert_file_template.empty())
    r.error("broker.tls.key_file_template", "needs broker.tls.cert_file_template");
  check_readable(r, "broker.tls.ca_file", tls.ca_file, false);
  check_readable(r, "broker.tls.ca_dir", tls.ca_dir, true);
  check_readable(r, "broker.tls.cert_file", tls.cert_file, false);
  check_readable(r, "broker.tls.key_file", tls.key_file, false);
  if (!tls.key_file.empty() && tls.cert_file.empty())
    r.error("broker.tls.key_file", "needs broker.tls.cert_file");
  if (!tls.key_password_file.empty()) {
    if (tls.key_file.empty() && tls.cert_file_template.empty())
      r.error("broker.tls.key_password_file",
              "needs broker.tls.key_file or broker.tls.cert_file_template");
    if (auto s = read_secret_file(r, "broker.tls.key_password_file", tls.key_password_file))
      tls.key_password = *s;
  }
}

// Per-sensor identities need one upstream connection per sensor.
void check_sensor_identity(Reader& r, const BrokerSection& b) {
  const auto& tls = b.tls;
  if (tls.cert_file_template.empty()) return;
  if (b.mode == "aggregating")
    r.error("broker.tls.cert_file_template",
            "needs broker.mode = \"transparent\": in aggregating mode all sensors share the "
            "gateway's one connection, which can present only one certificate (cert_file)");
  const auto& uri = b.uri;
  const bool tls_uri =
      uri.rfind("ssl://", 0) == 0 || uri.rfind("mqtts://", 0) == 0 || uri.rfind("wss://", 0) == 0;
  if (!tls.enabled && !tls_uri)
    r.error("broker.tls.cert_file_template",
            "needs TLS (broker.tls.enabled = true or an ssl:// broker.uri)");
}

void read_broker(Reader& r, const toml::table& t, Config& c) {
  r.reject_unknown(t, "broker",
                   {"uri", "mode", "connect_timeout_ms", "username", "password", "password_file",
                    "username_template", "client_id_prefix", "mqtt_version", "keep_alive_s",
                    "reconnect_min_ms", "reconnect_max_ms", "max_connects_in_flight", "tls",
                    "max_queued_publishes", "client_id", "persistent_link"});
  r.string(t, "broker", "uri", c.broker.uri);
  r.string(t, "broker", "mode", c.broker.mode);
  r.integer(t, "broker", "connect_timeout_ms", c.broker.connect_timeout_ms, 100, 600000);
  r.integer(t, "broker", "max_connects_in_flight", c.broker.max_connects_in_flight, 0, 1000000);
  auto& b = c.broker;
  r.string(t, "broker", "username", b.username);
  if (t.get("password") != nullptr) {
    std::string pw;
    const std::size_t before = r.error_count();
    r.string(t, "broker", "password", pw);
    if (r.error_count() == before) b.password = pw;
  }
  r.string(t, "broker", "password_file", b.password_file);
  if (!b.password_file.empty()) {
    if (b.password) r.error("broker.password_file", "give either password or password_file");
    b.password = read_secret_file(r, "broker.password_file", b.password_file);
  }
  r.string(t, "broker", "username_template", b.username_template);
  check_client_id_template(r, "broker.username_template", b.username_template, false);
  r.string(t, "broker", "client_id_prefix", b.client_id_prefix);
  r.integer(t, "broker", "mqtt_version", b.mqtt_version, 3, 5);
  if (b.mqtt_version == 4) r.error("broker.mqtt_version", "expected 3 (MQTT 3.1.1) or 5");
  r.integer(t, "broker", "keep_alive_s", b.keep_alive_s, 0, 65535);
  r.integer(t, "broker", "max_queued_publishes", b.max_queued_publishes, 100, 1000000);
  r.string(t, "broker", "client_id", b.client_id);
  if (t.get("client_id") != nullptr && b.client_id.empty())
    r.error("broker.client_id", "must not be empty (leave it out for mqttsn-gw-<gateway.id>)");
  r.boolean(t, "broker", "persistent_link", b.persistent_link);
  r.integer(t, "broker", "reconnect_min_ms", b.reconnect_min_ms, 1, 3600000);
  r.integer(t, "broker", "reconnect_max_ms", b.reconnect_max_ms, 1, 3600000);
  if (b.reconnect_min_ms > b.reconnect_max_ms)
    r.error("broker.reconnect_min_ms", "must not exceed broker.reconnect_max_ms");
  if (const auto* tls = r.table(t, "broker", "tls")) read_broker_tls(r, *tls, c);
  const auto& uri = c.broker.uri;
  const bool scheme_ok = uri.rfind("tcp://", 0) == 0 || uri.rfind("mqtt://", 0) == 0 ||
                         uri.rfind("ssl://", 0) == 0 || uri.rfind("mqtts://", 0) == 0 ||
                         uri.rfind("ws://", 0) == 0 || uri.rfind("wss://", 0) == 0;
  if (!scheme_ok || uri.find("://") + 3 >= uri.size())
    r.error("broker.uri", "expected tcp://host:port (or mqtt://, ssl://, ws://, wss://)");
  if (c.broker.mode != "transparent" && c.broker.mode != "aggregating")
    r.error("broker.mode", "expected \"transparent\" or \"aggregating\"");
  check_sensor_identity(r, c.broker);
}

void read_udp(Reader& r, const toml::table& t, Config& c) {
  r.reject_unknown(t, "udp", {"enabled", "listen", "receive_buffer_bytes", "advertise_to"});
  r.boolean(t, "udp", "enabled", c.udp.enabled);
  r.strings(t, "udp", "listen", c.udp.listen);
  r.integer(t, "udp", "receive_buffer_bytes", c.udp.receive_buffer_bytes, 0, 1LL << 30);
  r.strings(t, "udp", "advertise_to", c.udp.advertise_to);
  for (const auto& a : c.udp.listen)
    if (!transport::parse_udp_address(a))
      r.error("udp.listen", "bad address \"" + a + "\" (expected 1.2.3.4:port or [v6]:port)");
  for (const auto& a : c.udp.advertise_to)
    if (!transport::parse_udp_address(a))
      r.error("udp.advertise_to", "bad address \"" + a + "\" (expected 1.2.3.4:port or [v6]:port)");
  if (c.udp.listen.size() > 255) r.error("udp.listen", "at most 255 addresses");
}

void read_dtls(Reader& r, const toml::table& t, Config& c) {
  auto& d = c.dtls;
  r.reject_unknown(t, "dtls",
                   {"enabled", "listen", "psk_file", "cert_file", "key_file", "ca_file",
                    "require_certificate", "identity_must_match_client_id", "max_handshakes",
                    "max_peers", "idle_timeout_s", "handshake_timeout_s"});
  r.boolean(t, "dtls", "enabled", d.enabled);
  r.strings(t, "dtls", "listen", d.listen);
  r.string(t, "dtls", "psk_file", d.psk_file);
  r.string(t, "dtls", "cert_file", d.cert_file);
  r.string(t, "dtls", "key_file", d.key_file);
  r.string(t, "dtls", "ca_file", d.ca_file);
  r.boolean(t, "dtls", "require_certificate", d.require_certificate);
  r.boolean(t, "dtls", "identity_must_match_client_id", d.identity_must_match_client_id);
  r.integer(t, "dtls", "max_handshakes", d.max_handshakes, 1, 100000);
  r.integer(t, "dtls", "max_peers", d.max_peers, 1, 10000000);
  r.integer(t, "dtls", "idle_timeout_s", d.idle_timeout_s, 0, 30LL * 86400);
  r.integer(t, "dtls", "handshake_timeout_s", d.handshake_timeout_s, 1, 600);
  for (const auto& a : d.listen)
    if (!transport::parse_udp_address(a))
      r.error("dtls.listen", "bad address \"" + a + "\" (expected 1.2.3.4:port or [v6]:port)");
  if (d.listen.empty() || d.listen.size() > 255) r.error("dtls.listen", "1 to 255 addresses");
  if (!d.enabled) return;  // files are checked only when they will be used
  if (!d.psk_file.empty()) {
    auto keys = transport::psk_file_read(d.psk_file);
    if (auto* e = std::get_if<std::string>(&keys))
      r.error("dtls.psk_file", *e);
    else
      d.psk_keys = std::move(std::get<transport::PskKeys>(keys));
  }
  check_readable(r, "dtls.cert_file", d.cert_file, false);
  check_readable(r, "dtls.key_file", d.key_file, false);
  check_readable(r, "dtls.ca_file", d.ca_file, false);
  if (d.cert_file.empty() != d.key_file.empty())
    r.error("dtls.key_file", "give both dtls.cert_file and dtls.key_file, or neither");
  if (d.require_certificate && d.ca_file.empty())
    r.error("dtls.require_certificate", "needs dtls.ca_file (the CA client certificates chain to)");
  if (d.psk_file.empty() && d.cert_file.empty())
    r.error("dtls.psk_file", "neither psk_file nor cert_file: no client could connect");
  if (!d.ca_file.empty() && d.cert_file.empty())
    r.error("dtls.cert_file", "client certificates (dtls.ca_file) need a server certificate");
}

void read_topics(Reader& r, const toml::table& t, Config& c) {
  r.reject_unknown(t, "topics", {"predefined"});
  const toml::table* p = r.table(t, "topics", "predefined");
  if (p == nullptr) return;
  for (const auto& [k, v] : *p) {
    const std::string key = "topics.predefined." + std::string(k.str());
    unsigned id = 0;
    const auto text = k.str();
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
    if (ec != std::errc{} || end != text.data() + text.size() || id < 1 || id > 65534) {
      r.error(key, "topic id must be an integer 1..65534");
      continue;
    }
    const auto* s = v.as_string();
    if (s == nullptr) {
      r.error(key, "expected string");
      continue;
    }
    if (!mqttsn::valid_topic_name(s->get())) {
      r.error(key, "not a valid topic name (no wildcards, not empty)");
      continue;
    }
    c.predefined_topics[static_cast<std::uint16_t>(id)] = s->get();
  }
}

void read_protocol(Reader& r, const toml::table& t, Config& c) {
  r.reject_unknown(
      t, "protocol",
      {"retry_interval_ms", "retry_count", "advertise_interval_s", "max_buffered_per_client",
       "parked_session_expiry_s", "max_parked_sessions", "max_buffered_bytes_per_client",
       "max_buffered_total", "max_buffered_bytes_total", "max_client_id_length",
       "max_topics_per_client", "max_topic_length", "max_subscriptions_per_client",
       "max_keep_alive_s", "max_downlink_bytes"});
  r.integer(t, "protocol", "retry_interval_ms", c.protocol.retry_interval_ms, 1, 3600000);
  r.integer(t, "protocol", "retry_count", c.protocol.retry_count, 0, 1000);
  // The ADVERTISE Duration field is 16 bits of seconds.
  r.integer(t, "protocol", "advertise_interval_s", c.protocol.advertise_interval_s, 1, 65535);
  r.integer(t, "protocol", "max_buffered_per_client", c.protocol.max_buffered_per_client, 0,
            100000000);
  r.integer(t, "protocol", "parked_session_expiry_s", c.protocol.parked_session_expiry_s, 0,
            365u * 24u * 3600u);
  r.integer(t, "protocol", "max_parked_sessions", c.protocol.max_parked_sessions, 0, 10000000);
  r.integer(t, "protocol", "max_buffered_bytes_per_client",
            c.protocol.max_buffered_bytes_per_client, 0, 1LL << 40);
  r.integer(t, "protocol", "max_buffered_total", c.protocol.max_buffered_total, 0, 1000000000);
  r.integer(t, "protocol", "max_buffered_bytes_total", c.protocol.max_buffered_bytes_total, 0,
            1LL << 40);
  auto& p = c.protocol;
  r.integer(t, "protocol", "max_client_id_length", p.max_client_id_length, 1, 65535);
  r.integer(t, "protocol", "max_topics_per_client", p.max_topics_per_client, 0, 65534);
  r.integer(t, "protocol", "max_topic_length", p.max_topic_length, 0, 65535);
  r.integer(t, "protocol", "max_subscriptions_per_client", p.max_subscriptions_per_client, 0,
            1000000);
  r.integer(t, "protocol", "max_keep_alive_s", p.max_keep_alive_s, 1, 65535);
  r.integer(t, "protocol", "max_downlink_bytes", p.max_downlink_bytes, 16, 65535);
}

void read_admission(Reader& r, const toml::table& t, Config& c) {
  constexpr std::string_view p = "admission";
  auto& a = c.admission;
  r.reject_unknown(t, p,
                   {"client_ids", "networks", "max_sessions", "rate_limit_pps", "rate_limit_burst",
                    "rate_limit_sources", "unknown_sender_replies_pps"});
  r.strings(t, p, "client_ids", a.client_ids);
  for (const auto& id : a.client_ids)
    if (auto why = check_client_id_pattern(id); !why.empty())
      r.error("admission.client_ids", "\"" + id + "\": " + why);
  r.strings(t, p, "networks", a.networks);
  for (const auto& n : a.networks)
    if (auto parsed = parse_network(n); const auto* why = std::get_if<std::string>(&parsed))
      r.error("admission.networks",
              "\"" + n + "\": " + *why + " (expected 10.1.0.0/16 or fd00::/8)");
  r.integer(t, p, "max_sessions", a.max_sessions, 0, 100000000);
  r.integer(t, p, "rate_limit_pps", a.rate_limit_pps, 0, 10000000);
  r.integer(t, p, "rate_limit_burst", a.rate_limit_burst, 0, 10000000);
  r.integer(t, p, "rate_limit_sources", a.rate_limit_sources, 1, 10000000);
  r.integer(t, p, "unknown_sender_replies_pps", a.unknown_sender_replies_pps, 0, 1000000);
  if (a.rate_limit_burst != 0 && a.rate_limit_pps == 0)
    r.error("admission.rate_limit_burst", "needs admission.rate_limit_pps");
}

void read_ble(Reader& r, const toml::table& t, Config& c) {
  r.reject_unknown(t, "ble",
                   {"enabled", "adapter", "adapters", "max_connections", "idle_disconnect_s",
                    "allow", "service_uuid", "rx_uuid", "tx_uuid", "rssi_min", "passkeys"});
  r.boolean(t, "ble", "enabled", c.ble.enabled);
  r.string(t, "ble", "adapter", c.ble.adapter);
  r.strings(t, "ble", "adapters", c.ble.adapters);
  r.integer(t, "ble", "max_connections", c.ble.max_connections, 1, 64);
  r.integer(t, "ble", "idle_disconnect_s", c.ble.idle_disconnect_s, 0, 86400);
  r.strings(t, "ble", "allow", c.ble.allow);
  r.string(t, "ble", "service_uuid", c.ble.service_uuid);
  r.string(t, "ble", "rx_uuid", c.ble.rx_uuid);
  r.string(t, "ble", "tx_uuid", c.ble.tx_uuid);
  if (t.get("rssi_min") != nullptr) {
    int v = 0;
    const std::size_t before = r.error_count();
    r.integer(t, "ble", "rssi_min", v, -127, 20);
    if (r.error_count() == before) c.ble.rssi_min = v;
  }
  if (const toml::table* p = r.table(t, "ble", "passkeys")) {
    for (const auto& [k, v] : *p) {
      std::uint32_t passkey = 0;
      const std::size_t before = r.error_count();
      r.integer(*p, "ble.passkeys", k.str(), passkey, 0, 999999);
      if (r.error_count() == before) c.ble.passkeys[std::string(k.str())] = passkey;
    }
  }
}

// [state]: where sensor sessions survive a restart.
void read_state(Reader& r, const toml::table& t, Config& c) {
  r.reject_unknown(t, "state", {"path", "max_bytes"});
  r.string(t, "state", "path", c.state.path);
  r.integer(t, "state", "max_bytes", c.state.max_bytes, 0, 1LL << 50);
}

// [status]: retained JSON status topics through the gateway's own MQTT client.
void read_status(Reader& r, const toml::table& t, Config& c) {
  r.reject_unknown(t, "status", {"enabled", "topic_prefix", "interval_s"});
  r.boolean(t, "status", "enabled", c.status.enabled);
  r.string(t, "status", "topic_prefix", c.status.topic_prefix);
  r.integer(t, "status", "interval_s", c.status.interval_s, 1, 86400);
}

// [metrics]: the HTTP endpoint's TCP address (same syntax as udp.listen).
void read_metrics(Reader& r, const toml::table& t, Config& c) {
  r.reject_unknown(t, "metrics", {"listen"});
  r.string(t, "metrics", "listen", c.metrics.listen);
  if (!c.metrics.listen.empty() && !transport::parse_udp_address(c.metrics.listen))
    r.error("metrics.listen",
            "bad address \"" + c.metrics.listen + "\" (expected 1.2.3.4:port or [v6]:port)");
}

}  // namespace

bool valid_log_level(std::string_view level) noexcept {
  for (std::string_view l : {"trace", "debug", "info", "warn", "error", "critical", "off"})
    if (level == l) return true;
  return false;
}

ConfigResult parse_config(std::string_view toml_text, std::string_view source_name) {
  ConfigResult result;
  toml::table root;
  try {
    root = toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << source_name << ":" << e.source().begin.line << ":" << e.source().begin.column << ": "
       << e.description();
    result.errors.push_back(os.str());
    return result;
  }
  Reader r(result.errors);
  r.reject_unknown(root, "",
                   {"gateway", "broker", "udp", "dtls", "topics", "protocol", "ble", "status",
                    "admission", "state", "metrics"});
  Config& c = result.config;
  if (const auto* t = r.table(root, "", "gateway")) read_gateway(r, *t, c);
  if (const auto* t = r.table(root, "", "broker")) read_broker(r, *t, c);
  if (const auto* t = r.table(root, "", "udp")) read_udp(r, *t, c);
  if (const auto* t = r.table(root, "", "dtls")) read_dtls(r, *t, c);
  if (const auto* t = r.table(root, "", "topics")) read_topics(r, *t, c);
  if (const auto* t = r.table(root, "", "protocol")) read_protocol(r, *t, c);
  if (const auto* t = r.table(root, "", "ble")) read_ble(r, *t, c);
  if (const auto* t = r.table(root, "", "status")) read_status(r, *t, c);
  if (const auto* t = r.table(root, "", "admission")) read_admission(r, *t, c);
  if (const auto* t = r.table(root, "", "state")) read_state(r, *t, c);
  if (const auto* t = r.table(root, "", "metrics")) read_metrics(r, *t, c);
  if (!c.udp.enabled && !c.ble.enabled && !c.dtls.enabled)
    r.error("udp.enabled", "no transport enabled (udp, dtls, ble)");
  return result;
}

ConfigResult load_config_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ConfigResult result;
    result.errors.push_back(path + ": cannot read file");
    return result;
  }
  std::ostringstream os;
  os << in.rdbuf();
  return parse_config(os.str(), path);
}

}  // namespace gw
