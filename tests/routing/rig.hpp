// A runtime with everything around it faked except libuv: an injected clock, a fake transport
// that records what the gateway sends, and a fake upstream (no broker, no Paho) that answers at
// once and lets a test drop and restore the connection. No sockets: the loop only carries the
// mailbox and the runtime's own timers. For the routing between sensors, sessions and upstream
// clients; the integration suites test the same paths against a real mosquitto.
#pragma once

#include <doctest/doctest.h>
#include <uv.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gateway/runtime/runtime.hpp"
#include "mqttsn/messages.hpp"

namespace rt {

using namespace std::chrono_literals;

// What an upstream was asked to publish (session 0: the shared gateway client).
struct Published {
  std::uint64_t session = 0;
  std::string topic;
  std::string payload;
  int qos = 0;
};

class FakeUpstream;

// The fake broker side, shared by every fake upstream of one rig.
struct Broker {
  bool reachable = true;       // connects succeed
  bool hold_connects = false;  // connects stay under way until FakeUpstream::finish_connect()
  bool hold_acks = false;      // QoS 1/2 publishes stay unacknowledged (in flight)
  std::vector<Published> published;
  std::vector<std::string> calls;                  // "connect id", "subscribe id filter", ...
  std::map<std::uint64_t, FakeUpstream*> clients;  // live ones by session id
  int created = 0;
  int wakes = 0;
  FakeUpstream* client(std::uint64_t session_id) const;
  // The live client of the sensor session with this MQTT ClientId.
  FakeUpstream* client(const std::string& client_id) const;
  std::size_t count(const std::string& call) const;
};

class FakeUpstream final : public gw::Upstream {
 public:
  FakeUpstream(Broker& b, std::string client_id, std::uint64_t session_id, gw::Mailbox& mailbox);
  ~FakeUpstream() override;
  void connect(bool clean_session, std::uint16_t keep_alive_s,
               const std::optional<gw::Will>& will) override;
  void reconnect(const std::optional<gw::Will>& will) override;
  void restart(bool clean_session, std::uint16_t keep_alive_s,
               const std::optional<gw::Will>& will) override;
  void publish(std::uint32_t token, const std::string& topic, const gw::Bytes& payload, int qos,
               bool retain) override;
  void subscribe(std::uint32_t token, const std::string& filter, int qos) override;
  void unsubscribe(std::uint32_t token, const std::string& filter) override;
  void disconnect(std::chrono::milliseconds timeout) override;
  bool after_closed() override { return false; }
  bool connected() const noexcept override { return connected_; }
  void retry() override;

  // The test plays the broker.
  void deliver(const std::string& topic, const std::string& payload, int qos = 0);
  void lose();
  void back(bool session_present);
  // Back on a new Paho client (gateway/upstream/upstream.hpp): what was in flight never completes.
  void back_on_new_client(bool session_present);
  // Ends a connect held by Broker::hold_connects (as the broker's CONNACK or a refusal would).
  void finish_connect(bool ok);
  bool connecting() const noexcept { return connecting_; }
  const std::string& client_id() const noexcept { return client_id_; }

 private:
  void post(gw::UpstreamEvent e);
  void attempt();
  Broker& broker_;
  bool connecting_ = false;
  std::string client_id_;
  std::uint64_t session_id_;
  gw::Mailbox& mailbox_;
  bool connected_ = false;
  std::vector<std::uint32_t> unacked_;  // QoS 1/2 publishes while the connection is down
};

class Transport final : public transport::Transport {
 public:
  explicit Transport(transport::Kind kind) : kind_(kind) {}
  transport::Kind kind() const noexcept override { return kind_; }
  void send(const transport::PeerAddress& to, std::span<const std::uint8_t> bytes) override;
  void broadcast(std::span<const std::uint8_t> /*bytes*/) override { ++broadcasts; }
  // What was sent to `to` since the last call, decoded.
  std::vector<mqttsn::Message> take(const transport::PeerAddress& to);
  int broadcasts = 0;

 private:
  transport::Kind kind_;
  std::map<transport::PeerAddress, std::vector<mqttsn::Message>> sent_;
};

transport::PeerAddress ble(std::uint8_t n);

struct Options {
  bool aggregating = false;
  std::map<std::uint16_t, std::string> predefined;
  std::size_t max_parked_sessions = 10000;   // protocol.max_parked_sessions
  std::size_t max_connects_in_flight = 256;  // broker.max_connects_in_flight
};

template <class T>
std::optional<T> find(const std::vector<mqttsn::Message>& ms);

struct Rig {
  explicit Rig(Options o = {});
  ~Rig();
  // A datagram from `from`, then whatever the mailbox brings.
  void receive(const transport::PeerAddress& from, const mqttsn::Message& m);
  // Moves the clock and runs what became due.
  void advance(std::chrono::milliseconds d);
  // Runs the loop until the mailbox is empty.
  void drain();
  std::vector<mqttsn::Message> sent_to(const transport::PeerAddress& to) { return radio.take(to); }
  // CONNECT (clean or not) from `at`; REQUIREs the CONNACK.
  void connect(const transport::PeerAddress& at, const std::string& client_id, bool clean = true,
               std::uint16_t keep_alive = 60);
  // The PUBLISH sent to `to`, REGACKing the REGISTER that may come first (a wildcard
  // subscription's new topic name, §6.10).
  std::optional<mqttsn::Publish> publish_to(const transport::PeerAddress& to);
  FakeUpstream& link() { return *broker.client(std::uint64_t{0}); }

  uv_loop_t loop{};
  gw::TimePoint now = gw::TimePoint{} + std::chrono::hours(1);
  Broker broker;
  Transport radio{transport::Kind::Ble};
  std::shared_ptr<gw::PredefinedTopics> predefined = std::make_shared<gw::PredefinedTopics>();
  std::unique_ptr<gw::Runtime> runtime;
};

// Message builders.
mqttsn::Connect connect_msg(const std::string& client_id, bool clean, std::uint16_t keep_alive);
mqttsn::Publish publish_msg(mqttsn::TopicIdType type, std::uint16_t topic_id, mqttsn::QoS qos,
                            std::uint16_t msg_id, const std::string& data);
mqttsn::Subscribe subscribe_msg(const std::string& filter, mqttsn::QoS qos, std::uint16_t msg_id);
std::string text(const gw::Bytes& b);

// The first message of type T in `ms` (a copy: `ms` is often a temporary).
template <class T>
std::optional<T> find(const std::vector<mqttsn::Message>& ms) {
  for (const auto& m : ms)
    if (const auto* p = std::get_if<T>(&m)) return *p;
  return std::nullopt;
}

}  // namespace rt
