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

}  // namespace rt
