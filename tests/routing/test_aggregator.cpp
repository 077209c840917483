// Aggregating mode (gateway/upstream/aggregator.hpp) through the runtime, with a fake link.
#include <doctest/doctest.h>

#include "tests/routing/rig.hpp"

using mqttsn::QoS;
using mqttsn::ReturnCode;
using mqttsn::TopicIdType;

namespace rt {

namespace {

const std::string kLinkSubscribe = "subscribe mqttsn-gw-7 cmd/#";
const std::string kLinkUnsubscribe = "unsubscribe mqttsn-gw-7 cmd/#";

}  // namespace

TEST_CASE("aggregating: one connection for two sensors, messages fanned out to both") {
  Rig rig({true, {}});
  rig.connect(ble(1), "s1");
  rig.connect(ble(2), "s2");
  CHECK(rig.broker.created == 1);  // only the gateway's own client
  rig.receive(ble(1), subscribe_msg("cmd/#", QoS::AtMostOnce, 1));
  rig.receive(ble(2), subscribe_msg("cmd/#", QoS::AtMostOnce, 1));
  CHECK(find<mqttsn::SubAck>(rig.sent_to(ble(1))) != std::nullopt);
  CHECK(find<mqttsn::SubAck>(rig.sent_to(ble(2))) != std::nullopt);
  // Every SUBSCRIBE goes up (the broker then sends the retained messages to the new holder).
  CHECK(rig.broker.count(kLinkSubscribe) == 2);

  rig.link().deliver("cmd/a", "hi");
  rig.drain();

  for (auto n : {1, 2}) {
    auto p = rig.publish_to(ble(static_cast<std::uint8_t>(n)));
    REQUIRE(p != std::nullopt);
    CHECK(text(p->data) == "hi");
  }

  // Uplink goes out on the link too.
  rig.receive(ble(1), publish_msg(TopicIdType::Short, 0x6162, QoS::AtLeastOnce, 4, "u"));
  REQUIRE(rig.broker.published.size() == 1);
  CHECK(rig.broker.published[0].session == 0);
  auto ack = find<mqttsn::PubAck>(rig.sent_to(ble(1)));
  REQUIRE(ack != std::nullopt);
  CHECK(ack->return_code == ReturnCode::Accepted);
}

TEST_CASE("aggregating: the link unsubscribes when the last holder leaves") {
  Rig rig({true, {}});
  rig.connect(ble(1), "s1");
  rig.connect(ble(2), "s2");
  rig.receive(ble(1), subscribe_msg("cmd/#", QoS::AtMostOnce, 1));
  rig.receive(ble(2), subscribe_msg("cmd/#", QoS::AtMostOnce, 1));
  rig.receive(ble(1), mqttsn::Disconnect{});
  CHECK(rig.broker.count(kLinkUnsubscribe) == 0);
  rig.receive(ble(2), mqttsn::Disconnect{});
  CHECK(rig.broker.count(kLinkUnsubscribe) == 1);
}

TEST_CASE("aggregating: a CleanSession=false sensor keeps its subscription until parked expiry") {
  Rig rig({true, {}});
  rig.connect(ble(1), "s1", false);
  rig.receive(ble(1), subscribe_msg("cmd/#", QoS::AtMostOnce, 1));
  rig.receive(ble(1), mqttsn::Disconnect{});
  CHECK(rig.broker.count(kLinkUnsubscribe) == 0);

  rig.connect(ble(1), "s1", false);
  static_cast<void>(rig.sent_to(ble(1)));
  rig.link().deliver("cmd/a", "kept");
  rig.drain();
  auto p = rig.publish_to(ble(1));
  REQUIRE(p != std::nullopt);
  CHECK(text(p->data) == "kept");
  CHECK(rig.broker.count(kLinkSubscribe) == 1);

  rig.receive(ble(1), mqttsn::Disconnect{});
  rig.advance(3601s);
  rig.connect(ble(2), "s2");  // the aggregator expires parked holders as sessions come and go
  CHECK(rig.broker.count(kLinkUnsubscribe) == 1);
}

TEST_CASE("aggregating: parked subscriptions are capped by max_parked_sessions, oldest first") {
  Rig rig({true, {}, 1});
  rig.connect(ble(1), "s1", false);
  rig.receive(ble(1), subscribe_msg("a/#", QoS::AtMostOnce, 1));
  rig.connect(ble(2), "s2", false);
  rig.receive(ble(2), subscribe_msg("b/#", QoS::AtMostOnce, 1));
  rig.receive(ble(1), mqttsn::Disconnect{});
  CHECK(rig.broker.count("unsubscribe mqttsn-gw-7 a/#") == 0);
  rig.receive(ble(2), mqttsn::Disconnect{});
  // s2 parks: s1, the oldest parked, makes room and its filter leaves the link.
  CHECK(rig.broker.count("unsubscribe mqttsn-gw-7 a/#") == 1);
  CHECK(rig.broker.count("unsubscribe mqttsn-gw-7 b/#") == 0);
}

TEST_CASE("aggregating: QoS 0 uplink while the shared link is down is counted as link_down") {
  Rig rig({true, {}});
  rig.connect(ble(1), "s1");
  rig.link().lose();
  rig.drain();
  rig.receive(ble(1), publish_msg(TopicIdType::Short, 0x6162, QoS::AtMostOnce, 0, "u"));
  CHECK(rig.broker.published.empty());
  CHECK(rig.runtime->counters().link_down == 1);
}

TEST_CASE("aggregating: link lost and back subscribes every filter again") {
  Rig rig({true, {}});
  rig.connect(ble(1), "s1");
  rig.receive(ble(1), subscribe_msg("cmd/#", QoS::AtMostOnce, 1));
  static_cast<void>(rig.sent_to(ble(1)));
  rig.link().lose();
  rig.drain();
  CHECK_FALSE(rig.runtime->broker_reachable());
  rig.link().back(false);
  rig.drain();
  CHECK(rig.runtime->broker_reachable());
  CHECK(rig.broker.count(kLinkSubscribe) == 2);
  rig.link().deliver("cmd/b", "again");
  rig.drain();
  auto p = rig.publish_to(ble(1));
  REQUIRE(p != std::nullopt);
  CHECK(text(p->data) == "again");
}

TEST_CASE("aggregating: a CleanSession=false takeover keeps the subscriptions on the link") {
  Rig rig({true, {}});
  rig.connect(ble(1), "s1", false);
  rig.receive(ble(1), subscribe_msg("cmd/#", QoS::AtMostOnce, 1));
  rig.connect(ble(2), "s1", false);
  static_cast<void>(rig.sent_to(ble(1)));
  rig.link().deliver("cmd/c", "moved");
  rig.drain();
  CHECK(rig.sent_to(ble(1)).empty());
  auto p = rig.publish_to(ble(2));
  REQUIRE(p != std::nullopt);
  CHECK(text(p->data) == "moved");
}

TEST_CASE("aggregating: a parked CleanSession=false session buffers what its subscriptions bring") {
  Rig rig({true, {}});
  rig.connect(ble(1), "s1", false);
  rig.receive(ble(1), subscribe_msg("cmd/#", QoS::AtLeastOnce, 1));
  rig.receive(ble(1), mqttsn::Disconnect{});
  static_cast<void>(rig.sent_to(ble(1)));
  // Published while it is away: kept in its buffer, as the broker would for its own session.
  rig.link().deliver("cmd/a", "while away", 1);
  rig.link().deliver("cmd/b", "and this", 0);
  rig.drain();
  CHECK(rig.sent_to(ble(1)).empty());
  CHECK(rig.runtime->counters().parked_not_kept == 0);

  rig.receive(ble(1), connect_msg("s1", false, 60));
  const auto sent = rig.sent_to(ble(1));
  REQUIRE(!sent.empty());
  CHECK(std::holds_alternative<mqttsn::ConnAck>(sent.front()));  // CONNACK first, then the buffer
  auto reg = find<mqttsn::Register>(sent);
  REQUIRE(reg != std::nullopt);
  CHECK(reg->topic_name == "cmd/a");
  rig.receive(ble(1), mqttsn::RegAck{reg->topic_id, reg->msg_id, ReturnCode::Accepted});
  auto p = find<mqttsn::Publish>(rig.sent_to(ble(1)));
  REQUIRE(p != std::nullopt);
  CHECK(text(p->data) == "while away");
  rig.receive(ble(1), mqttsn::PubAck{p->topic_id, p->msg_id, ReturnCode::Accepted});
  p = rig.publish_to(ble(1));
  REQUIRE(p != std::nullopt);
  CHECK(text(p->data) == "and this");
}

TEST_CASE("aggregating: a link back with its session present subscribes only what changed") {
  Rig rig({true, {}});
  rig.connect(ble(1), "s1");
  rig.connect(ble(2), "s2");
  rig.receive(ble(1), subscribe_msg("cmd/#", QoS::AtMostOnce, 1));
  rig.receive(ble(2), subscribe_msg("x/#", QoS::AtMostOnce, 1));
  rig.link().lose();
  rig.drain();
  mqttsn::Unsubscribe u;
  u.msg_id = 2;
  u.topic_name = "x/#";
  rig.receive(ble(2), u);
  // The broker kept the link's session (broker.persistent_link): its subscriptions stand, and the
  // one given up while the link was down is undone now.
  rig.link().back(true);
  rig.drain();
  CHECK(rig.broker.count(kLinkSubscribe) == 1);
  CHECK(rig.broker.count("unsubscribe mqttsn-gw-7 x/#") == 1);
  rig.link().deliver("cmd/b", "still here");
  rig.drain();
  auto p = rig.publish_to(ble(1));
  REQUIRE(p != std::nullopt);
  CHECK(text(p->data) == "still here");
}

TEST_CASE(
    "aggregating: the link back on a new Paho client fails what was in flight on the old one") {
  Rig rig({true, {}});
  rig.connect(ble(1), "s1");
  rig.connect(ble(2), "s2");
  rig.receive(ble(2), subscribe_msg("cmd/#", QoS::AtMostOnce, 1));
  static_cast<void>(rig.sent_to(ble(2)));
  rig.broker.hold_acks = true;
  rig.receive(ble(1), publish_msg(TopicIdType::Short, 0x6162, QoS::AtLeastOnce, 4, "u"));
  CHECK(find<mqttsn::PubAck>(rig.sent_to(ble(1))) == std::nullopt);  // in flight
  rig.link().lose();
  rig.drain();
  rig.broker.hold_acks = false;
  rig.link().back_on_new_client(true);
  rig.drain();
  CHECK(find<mqttsn::PubAck>(rig.sent_to(ble(1))) == std::nullopt);  // not acknowledged: lost
  // The sensor's retransmission goes out afresh (it would be taken for a duplicate of the lost
  // one, and never answered, if the old token were still waiting).
  auto dup = publish_msg(TopicIdType::Short, 0x6162, QoS::AtLeastOnce, 4, "u");
  dup.flags.dup = true;
  rig.receive(ble(1), dup);
  CHECK(rig.broker.published.size() == 2);
  auto ack = find<mqttsn::PubAck>(rig.sent_to(ble(1)));
  REQUIRE(ack != std::nullopt);
  CHECK(ack->return_code == ReturnCode::Accepted);
  // The broker kept the link's session: the subscription stands, not subscribed again.
  CHECK(rig.broker.count(kLinkSubscribe) == 1);
  rig.link().deliver("cmd/x", "still");
  rig.drain();
  auto p = rig.publish_to(ble(2));
  REQUIRE(p != std::nullopt);
  CHECK(text(p->data) == "still");
}

}  // namespace rt
