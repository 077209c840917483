#include "gateway/tools/common_options.hpp"

#include <unistd.h>

#include <chrono>
#include <exception>
#include <iostream>

#include "gateway/tools/tool_error.hpp"
#include "mqttsn/topic.hpp"

namespace mqttsn::tools {

void add_common_options(CLI::App& app, CommonOptions& o) {
  // -h is the host, as in mosquitto_pub; help moves to --help.
  app.set_help_flag("--help", "Print this help and exit");
  app.add_option("-h,--host", o.host, "Gateway host (name, IPv4 or IPv6 address)")
      ->capture_default_str();
  app.add_option("-p,--port", o.port, "Gateway UDP port")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  app.add_option("-i,--id", o.client_id, "Client id, 1-23 characters (default: <tool>-<pid>)")
      ->check([](const std::string& id) {
        return id.empty() || id.size() > 23 ? std::string("client id must be 1-23 characters")
                                            : std::string();
      });
  app.add_option("-k,--keepalive", o.keep_alive, "Keep-alive period in seconds (0: none)")
      ->capture_default_str();
  app.add_flag("-c,--disable-clean-session", o.no_clean_session,
               "Keep the session (subscriptions) after disconnecting");
  auto* will_topic = app.add_option("--will-topic", o.will_topic, "Will topic name");
  app.add_option("--will-payload", o.will_payload, "Will message")->needs(will_topic);
  app.add_option("--will-qos", o.will_qos, "Will QoS")
      ->check(CLI::IsMember({0, 1, 2}))
      ->needs(will_topic);
  app.add_flag("--will-retain", o.will_retain, "Retain the will message")->needs(will_topic);
  app.add_flag("-d,--debug", o.debug, "Print every MQTT-SN message sent and received on stderr");
  app.add_option("--retry-interval", o.retry_interval_s,
                 "Seconds to wait for an answer before resending (Tretry)")
      ->check(CLI::Range(0.01, 3600.0))
      ->capture_default_str();
  app.add_option("--retry-count", o.retry_count, "Resends before giving up (Nretry)")
      ->check(CLI::Range(0, 100))
      ->capture_default_str();
  // mosquitto_pub's TLS flag names; any of them turns DTLS on (the gateway's [dtls] port).
  auto* identity = app.add_option("--psk-identity", o.dtls.psk_identity, "DTLS: PSK identity");
  auto* psk = app.add_option("--psk", o.dtls.psk_hex, "DTLS: pre-shared key in hexadecimal");
  identity->needs(psk);
  psk->needs(identity);
  app.add_option("--cafile", o.dtls.cafile, "DTLS: CA file to verify the gateway's certificate")
      ->check(CLI::ExistingFile);
  auto* cert = app.add_option("--cert", o.dtls.cert, "DTLS: client certificate (PEM)")
                   ->check(CLI::ExistingFile);
  auto* key = app.add_option("--key", o.dtls.key, "DTLS: client private key (PEM)")
                  ->check(CLI::ExistingFile);
  cert->needs(key);
  key->needs(cert);
}

void start_dtls_if_asked(UdpLink& link, const CommonOptions& o) {
  if (!o.dtls.enabled()) return;
  // The handshake gets what the CONNECT would: every retry.
  const auto budget = std::chrono::duration<double>(o.retry_interval_s * (o.retry_count + 1));
  link.start_dtls(o.dtls, Clock::now() + std::chrono::duration_cast<Clock::duration>(budget));
}

std::string client_id_of(const CommonOptions& o, std::string_view tool) {
  if (!o.client_id.empty()) return o.client_id;
  return std::string(tool) + "-" + std::to_string(getpid());
}

ConnectOptions connect_options_of(const CommonOptions& o) {
  ConnectOptions c;
  c.keep_alive = o.keep_alive;
  c.clean_session = !o.no_clean_session;
  if (!o.will_topic.empty()) {
    if (!valid_topic_name(o.will_topic)) {
      throw ToolError("invalid will topic '" + o.will_topic + "' (no wildcards allowed)");
    }
    WillOptions w;
    w.topic = o.will_topic;
    w.payload.assign(o.will_payload.begin(), o.will_payload.end());
    w.qos = static_cast<QoS>(o.will_qos);
    w.retain = o.will_retain;
    c.will = std::move(w);
  }
  return c;
}

RetryPolicy retry_policy_of(const CommonOptions& o) {
  RetryPolicy r;
  r.interval = std::chrono::milliseconds(static_cast<long>(o.retry_interval_s * 1000.0));
  r.count = o.retry_count;
  return r;
}

std::string check_short_topic(const std::string& name) {
  return is_short_topic(name) ? std::string()
                              : std::string("a short topic name is exactly 2 characters");
}

int run_tool(CLI::App& app, int argc, char** argv, const std::function<void()>& body) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 1;  // --help is a "success" ParseError
  }
  try {
    body();
    return 0;
  } catch (const ToolError& e) {
    std::cerr << "Error: " << e.what() << '\n';
  } catch (const std::exception& e) {
    std::cerr << "Error: " << e.what() << '\n';
  }
  return 1;
}

}  // namespace mqttsn::tools
