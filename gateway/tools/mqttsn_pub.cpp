// mqttsn-pub: publish one message to an MQTT-SN gateway over UDP (like mosquitto_pub).
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>

#include "gateway/tools/client_session.hpp"
#include "gateway/tools/common_options.hpp"
#include "gateway/tools/tool_error.hpp"
#include "gateway/tools/udp_link.hpp"
#include "mqttsn/topic.hpp"

namespace {

using namespace mqttsn;
using namespace mqttsn::tools;

struct PubOptions {
  CommonOptions common;
  std::string topic;
  std::optional<std::uint16_t> predefined;
  std::string short_topic;
  int qos = 0;
  bool retain = false;
  std::optional<std::string> message;
  std::string file;
  bool from_stdin = false;
  bool null_message = false;
};

Bytes read_payload(const PubOptions& o) {
  if (o.message) return Bytes(o.message->begin(), o.message->end());
  if (o.null_message) return {};
  if (o.from_stdin) {
    return Bytes(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  std::ifstream in(o.file, std::ios::binary);
  if (!in) throw ToolError("cannot read message file '" + o.file + "'");
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void publish(const PubOptions& o) {
  if (o.topic.empty() && !o.predefined && o.short_topic.empty()) {
    throw ToolError("a topic is needed: -t NAME, --predefined ID or --short XY");
  }
  if (!o.message && o.file.empty() && !o.from_stdin && !o.null_message) {
    throw ToolError("a message is needed: -m MESSAGE, -f FILE, -s (stdin) or -n (empty)");
  }
  const auto qos = static_cast<QoS>(o.qos);
  if (qos == QoS::MinusOne && !o.topic.empty()) {
    throw ToolError(
        "QoS -1 needs --predefined or --short: there is no connection to REGISTER a name");
  }
  if (!o.topic.empty() && !valid_topic_name(o.topic)) {
    throw ToolError("invalid topic name '" + o.topic + "' (no wildcards when publishing)");
  }
  const Bytes payload = read_payload(o);
  const std::string client_id = client_id_of(o.common, "mqttsn-pub");

  UdpLink link(o.common.host, o.common.port);
  if (o.common.debug) link.set_trace(client_id);
  start_dtls_if_asked(link, o.common);
  ClientSession session(link, client_id, retry_policy_of(o.common));

  const bool connected = qos != QoS::MinusOne;  // §6.8: QoS -1 needs no connection
  if (connected) session.connect(connect_options_of(o.common));
  if (o.predefined) {
    session.publish(TopicIdType::Predefined, *o.predefined, qos, o.retain, payload);
  } else if (!o.short_topic.empty()) {
    session.publish(TopicIdType::Short, short_topic_id(o.short_topic), qos, o.retain, payload);
  } else {
    const std::uint16_t id = session.register_topic(o.topic);
    session.publish(TopicIdType::Normal, id, qos, o.retain, payload);
  }
  if (connected) session.disconnect();
}

}  // namespace

int main(int argc, char** argv) {
  PubOptions o;
  CLI::App app{"Publish one message to an MQTT-SN gateway over UDP.", "mqttsn-pub"};
  add_common_options(app, o.common);
  auto* topic = app.add_option("-t,--topic", o.topic, "Topic name (REGISTERed with the gateway)");
  auto* predefined = app.add_option("--predefined", o.predefined, "Predefined topic id")
                         ->check(CLI::Range(1, 0xFFFE));
  auto* short_topic = app.add_option("--short", o.short_topic, "Short topic name (2 characters)")
                          ->check(check_short_topic);
  topic->excludes(predefined)->excludes(short_topic);
  predefined->excludes(short_topic);
  app.add_option("-q,--qos", o.qos, "Quality of service: -1, 0, 1 or 2")
      ->check(CLI::IsMember({-1, 0, 1, 2}))
      ->capture_default_str();
  app.add_flag("-r,--retain", o.retain, "Ask the broker to retain the message");
  auto* message = app.add_option("-m,--message", o.message, "Message to send");
  auto* file = app.add_option("-f,--file", o.file, "Send the contents of a file");
  auto* from_stdin = app.add_flag("-s,--stdin-file", o.from_stdin, "Send all of stdin");
  auto* null_message = app.add_flag("-n,--null-message", o.null_message, "Send an empty message");
  message->excludes(file)->excludes(from_stdin)->excludes(null_message);
  file->excludes(from_stdin)->excludes(null_message);
  from_stdin->excludes(null_message);
  return run_tool(app, argc, argv, [&] { publish(o); });
}
