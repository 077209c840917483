// The client side of MQTT-SN v1.2 for the field tools: each procedure of spec §6 as one blocking
// call, with the retransmission procedure of §6.13 (resend after Tretry, give up after Nretry).
// While waiting for a reply it answers what the gateway sends on its own: REGISTER (wildcard
// subscriptions), PUBLISH (acked per QoS), PUBREL and PINGREQ.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "gateway/tools/udp_link.hpp"
#include "mqttsn/messages.hpp"

namespace mqttsn::tools {

struct RetryPolicy {
  std::chrono::milliseconds interval{5000};  // Tretry
  int count = 3;                             // Nretry: resends after the first attempt
};

struct WillOptions {
  std::string topic;
  Bytes payload;
  QoS qos = QoS::AtMostOnce;
  bool retain = false;
};

struct ConnectOptions {
  std::uint16_t keep_alive = 60;  // seconds
  bool clean_session = true;
  std::optional<WillOptions> will;
};

// A message the gateway delivered, with the topic as the tool prints it.
struct Delivery {
  std::string topic;
  Bytes payload;
  Flags flags;
};

class ClientSession {
 public:
  ClientSession(UdpLink& link, std::string client_id, RetryPolicy retry);

  void on_delivery(std::function<void(const Delivery&)> handler) { deliver_ = std::move(handler); }
  // Ends pump() and makes the tool wind down (e.g. the -C count is reached).
  void request_stop() noexcept { stop_ = true; }
  bool stop_requested() const noexcept;

  // §6.3 (with the will exchange of Fig. 3). Throws ToolError if refused or unanswered.
  void connect(const ConnectOptions& options);
  // §6.5: returns the topic id the gateway assigned.
  std::uint16_t register_topic(const std::string& name);
  // §6.8 (QoS -1), §6.9 (QoS 0/1/2): returns when the gateway has acknowledged per QoS.
  void publish(TopicIdType type, std::uint16_t topic_id, QoS qos, bool retain, Bytes data);
  // §6.9: Normal carries the name (wildcards allowed), Predefined/Short the id. Returns the
  // granted QoS.
  QoS subscribe(TopicIdType type, const std::string& name, std::uint16_t topic_id, QoS qos);
  // §6.11 keep-alive ping.
  void ping();
  // §6.14 wake-up: PINGREQ with the ClientId, take the buffered messages, until PINGRESP.
  // Returns false when no PINGRESP came after the retries (the client goes back to sleep).
  // Returns early (true) when a stop is requested meanwhile.
  bool wake();
  // §6.12 / §6.14: DISCONNECT, with a duration to fall asleep; waits for the gateway's DISCONNECT.
  void disconnect(std::optional<std::uint16_t> sleep_duration = std::nullopt);
  // Answers gateway traffic until `deadline` or until a stop is requested.
  void pump(Clock::time_point deadline);

 private:
  using Matcher = std::function<bool(const Message&)>;

  // Sends `request` and waits for the reply `is_reply` accepts, resending (DUP set where the
  // message has it) after each Tretry. Throws ToolError naming `expected` when it never comes.
  Message transact(Message request, const Matcher& is_reply, std::string_view expected);
  enum class WaitMode {
    Reply,   // wait for the reply whatever else happens
    WakeUp,  // §6.14: any other message restarts the timer; a stop request ends the wait
  };
  // Waits for a message `wanted` accepts, handling all others.
  std::optional<Message> wait_for(const Matcher& wanted, Clock::time_point deadline,
                                  WaitMode mode = WaitMode::Reply);
  void handle_unsolicited(const Message& m);
  void handle_publish(const Publish& p);
  std::uint16_t next_msg_id() noexcept;
  [[noreturn]] void no_answer(std::string_view expected, int attempts) const;

  UdpLink& link_;
  std::string client_id_;
  RetryPolicy retry_;
  std::function<void(const Delivery&)> deliver_;
  std::map<std::uint16_t, std::string> topics_;  // normal topic ids this client knows
  std::set<std::uint16_t> qos2_received_;        // PUBREC sent, PUBREL not yet seen
  std::uint16_t msg_id_ = 0;
  bool stop_ = false;
};

}  // namespace mqttsn::tools
