// mqttsn-sub: subscribe through an MQTT-SN gateway over UDP and print what arrives
// (like mosquitto_sub), optionally as a sleeping client (§6.14).
#include <algorithm>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "gateway/tools/client_session.hpp"
#include "gateway/tools/common_options.hpp"
#include "gateway/tools/stop_signal.hpp"
#include "gateway/tools/tool_error.hpp"
#include "gateway/tools/udp_link.hpp"
#include "mqttsn/topic.hpp"

namespace {

using namespace mqttsn;
using namespace mqttsn::tools;
using std::chrono::seconds;

struct SubOptions {
  CommonOptions common;
  std::vector<std::string> topics;
  std::vector<std::uint16_t> predefined;
  std::vector<std::string> short_topics;
  int qos = 0;
  int count = 0;    // -C: 0 = unlimited
  int timeout = 0;  // -W: 0 = none
  bool verbose = false;
  bool no_newline = false;
  std::optional<std::uint16_t> sleep;
};

void print(const SubOptions& o, const Delivery& d) {
  if (o.verbose) std::cout << d.topic << ' ';
  std::cout.write(reinterpret_cast<const char*>(d.payload.data()),
                  static_cast<std::streamsize>(d.payload.size()));
  if (!o.no_newline) std::cout << '\n';
  std::cout.flush();  // one message at a time for pipes and scripts
}

void subscribe_all(const SubOptions& o, ClientSession& session) {
  const auto qos = static_cast<QoS>(o.qos);
  for (const auto& filter : o.topics) session.subscribe(TopicIdType::Normal, filter, 0, qos);
  for (const auto id : o.predefined) {
    session.subscribe(TopicIdType::Predefined, std::to_string(id), id, qos);
  }
  for (const auto& name : o.short_topics) {
    session.subscribe(TopicIdType::Short, name, short_topic_id(name), qos);
  }
}

void subscribe(const SubOptions& o) {
  if (o.topics.empty() && o.predefined.empty() && o.short_topics.empty()) {
    throw ToolError("at least one topic is needed: -t FILTER, --predefined ID or --short XY");
  }
  for (const auto& filter : o.topics) {
    if (!valid_topic_filter(filter)) throw ToolError("invalid topic filter '" + filter + "'");
  }
  const std::string client_id = client_id_of(o.common, "mqttsn-sub");
  UdpLink link(o.common.host, o.common.port);
  if (o.common.debug) link.set_trace(client_id);
  start_dtls_if_asked(link, o.common);
  ClientSession session(link, client_id, retry_policy_of(o.common));

  int received = 0;
  session.on_delivery([&](const Delivery& d) {
    if (o.count > 0 && received >= o.count) return;  // already done; acked, not printed
    print(o, d);
    if (o.count > 0 && ++received >= o.count) session.request_stop();
  });
  install_stop_handlers();

  const auto end = o.timeout > 0 ? Clock::now() + seconds(o.timeout) : Clock::time_point::max();
  session.connect(connect_options_of(o.common));
  subscribe_all(o, session);

  if (o.sleep) {
    session.disconnect(*o.sleep);  // asleep: the gateway buffers for us (§6.14)
    while (!session.stop_requested() && Clock::now() < end) {
      session.pump(std::min(end, Clock::now() + seconds(*o.sleep)));
      if (session.stop_requested() || Clock::now() >= end) break;
      if (!session.wake()) {
        std::cerr << "Warning: no PINGRESP from gateway " << link.peer()
                  << "; going back to sleep\n";
      }
    }
  } else {
    while (!session.stop_requested() && Clock::now() < end) {
      auto next_ping = Clock::time_point::max();
      if (o.common.keep_alive > 0) next_ping = link.last_send() + seconds(o.common.keep_alive);
      session.pump(std::min(end, next_ping));
      if (!session.stop_requested() && Clock::now() >= next_ping && Clock::now() < end) {
        session.ping();  // §6.11: also tells us the gateway is still there
      }
    }
  }
  session.disconnect();
  if (o.count > 0 && received < o.count && !stop_signal_received()) {
    throw ToolError("timed out after " + std::to_string(o.timeout) + " s with " +
                    std::to_string(received) + " of " + std::to_string(o.count) + " messages");
  }
}

}  // namespace

int main(int argc, char** argv) {
  SubOptions o;
  CLI::App app{"Subscribe through an MQTT-SN gateway over UDP and print the messages.",
               "mqttsn-sub"};
  add_common_options(app, o.common);
  app.add_option("-t,--topic", o.topics, "Topic filter (wildcards allowed); repeatable");
  app.add_option("--predefined", o.predefined, "Predefined topic id; repeatable")
      ->check(CLI::Range(1, 0xFFFE));
  app.add_option("--short", o.short_topics, "Short topic name (2 characters); repeatable")
      ->check(check_short_topic);
  app.add_option("-q,--qos", o.qos, "Maximum QoS to subscribe with: 0, 1 or 2")
      ->check(CLI::IsMember({0, 1, 2}))
      ->capture_default_str();
  app.add_option("-C,--count", o.count, "Exit after this many messages")
      ->check(CLI::PositiveNumber);
  app.add_option("-W,--timeout", o.timeout,
                 "Exit after this many seconds (an error if -C was not reached)")
      ->check(CLI::PositiveNumber);
  app.add_flag("-v,--verbose", o.verbose, "Print the topic before each message");
  app.add_flag("-N,--no-newline", o.no_newline, "Do not add a newline after each message");
  app.add_option("--sleep", o.sleep,
                 "Sleep this many seconds between wake-ups after subscribing (sleeping client)")
      ->check(CLI::Range(1, 65535));
  return run_tool(app, argc, argv, [&] { subscribe(o); });
}
