// The runtime's routing with a fake upstream and an injected clock (tests/routing/rig.hpp).
#include <doctest/doctest.h>

#include "tests/routing/rig.hpp"

using mqttsn::QoS;
using mqttsn::ReturnCode;
using mqttsn::TopicIdType;

namespace rt {

namespace {

constexpr std::uint16_t kShortAb = 0x6162;  // short topic name "ab"

mqttsn::Register register_msg(const std::string& name, std::uint16_t msg_id) {
  mqttsn::Register r;
  r.msg_id = msg_id;
  r.topic_name = name;
  return r;
}

std::uint64_t session_of(const Broker& b, const std::string& client_id) {
  for (const auto& [id, c] : b.clients)
    if (id != 0 && c->client_id() == client_id) return id;
  return 0;
}

}  // namespace

TEST_CASE("a CONNECT opens the sensor's own upstream client; its PUBLISH goes out on it") {
  Rig rig;
  rig.connect(ble(1), "s1");
  REQUIRE(rig.broker.client("s1") != nullptr);
  CHECK(rig.runtime->session_count() == 1);
  CHECK(rig.broker.created == 2);  // the gateway's own client and the sensor's

  rig.receive(ble(1), publish_msg(TopicIdType::Short, kShortAb, QoS::AtLeastOnce, 5, "21.5"));
  REQUIRE(rig.broker.published.size() == 1);
  CHECK(rig.broker.published[0].session == session_of(rig.broker, "s1"));
  CHECK(rig.broker.published[0].topic == "ab");
  CHECK(rig.broker.published[0].payload == "21.5");
  const auto sent = rig.sent_to(ble(1));
  auto ack = find<mqttsn::PubAck>(sent);
  REQUIRE(ack != std::nullopt);
  CHECK(ack->msg_id == 5);
  CHECK(ack->return_code == ReturnCode::Accepted);
}

TEST_CASE("a packet from an address with no session is answered with DISCONNECT") {
  Rig rig;
  rig.receive(ble(3), mqttsn::PingReq{});
  CHECK(find<mqttsn::Disconnect>(rig.sent_to(ble(3))) != std::nullopt);
  CHECK(rig.runtime->counters().unknown_sender == 1);
}

TEST_CASE("no reflection: answers from unknown senders are not answered, requests at a rate") {
  Rig rig;
  rig.receive(ble(3), mqttsn::Disconnect{});
  rig.receive(ble(3), mqttsn::PubAck{1, 2, ReturnCode::Accepted});
  rig.receive(ble(3), mqttsn::PingResp{});
  CHECK(rig.sent_to(ble(3)).empty());
  CHECK(rig.runtime->counters().unknown_not_answered == 3);
  // Requests share one bucket (admission.unknown_sender_replies_pps, default 10): the clock stands
  // still, so the eleventh goes unanswered.
  for (int i = 0; i < 11; ++i) rig.receive(ble(4), mqttsn::PingReq{});
  std::size_t answers = 0;
  for (const auto& m : rig.sent_to(ble(4)))
    answers += std::holds_alternative<mqttsn::Disconnect>(m);
  CHECK(answers == 10);
  CHECK(rig.runtime->counters().unknown_not_answered == 4);
  rig.advance(1s);
  rig.receive(ble(4), mqttsn::PingReq{});
  CHECK(find<mqttsn::Disconnect>(rig.sent_to(ble(4))) != std::nullopt);
}

TEST_CASE("a ClientId with a control character is refused with CONNACK 0x03, no session made") {
  Rig rig;
  rig.receive(ble(1), connect_msg(std::string("s\x01", 2), true, 60));
  auto ack = find<mqttsn::ConnAck>(rig.sent_to(ble(1)));
  REQUIRE(ack != std::nullopt);
  CHECK(ack->return_code == ReturnCode::RejectedNotSupported);
  CHECK(rig.runtime->counters().refused_client_id_invalid == 1);
  CHECK(rig.runtime->session_count() == 0);
  CHECK(rig.broker.created == 1);  // only the gateway's own client
}

TEST_CASE("takeover: the same ClientId from another address moves the session there") {
  Rig rig;
  rig.connect(ble(1), "s1");
  rig.connect(ble(2), "s1");
  CHECK(rig.runtime->counters().takeovers == 1);
  CHECK(rig.runtime->session_count() == 1);
  // The old address is no longer the sensor's.
  rig.receive(ble(1), mqttsn::PingReq{});
  CHECK(find<mqttsn::Disconnect>(rig.sent_to(ble(1))) != std::nullopt);
  rig.receive(ble(2), mqttsn::PingReq{});
  CHECK(find<mqttsn::PingResp>(rig.sent_to(ble(2))) != std::nullopt);
}

TEST_CASE("a new ClientId on an address takes the address from the session that had it") {
  Rig rig;
  rig.connect(ble(1), "s1");
  rig.connect(ble(1), "s2");
  CHECK(rig.runtime->session_count() == 2);
  REQUIRE(rig.broker.client("s1") != nullptr);
  // s1 has no address now: what the broker sends it does not go to s2's.
  rig.broker.client("s1")->deliver("cmd/s1", "for s1");
  rig.drain();
  CHECK(rig.sent_to(ble(1)).empty());
  // s2 owns it.
  rig.receive(ble(1), mqttsn::PingReq{});
  CHECK(find<mqttsn::PingResp>(rig.sent_to(ble(1))) != std::nullopt);
}

TEST_CASE("a sleeping sensor waking up from a new address gets its buffered messages there") {
  Rig rig;
  rig.connect(ble(1), "s1");
  rig.receive(ble(1), subscribe_msg("cmd/s1", QoS::AtMostOnce, 1));
  REQUIRE(find<mqttsn::SubAck>(rig.sent_to(ble(1))) != std::nullopt);
  mqttsn::Disconnect sleep;
  sleep.duration = 60;
  rig.receive(ble(1), sleep);
  REQUIRE(find<mqttsn::Disconnect>(rig.sent_to(ble(1))) != std::nullopt);

  rig.broker.client("s1")->deliver("cmd/s1", "on");
  rig.drain();

  CHECK(rig.sent_to(ble(1)).empty());  // asleep: buffered (§6.14)

  rig.receive(ble(2), mqttsn::PingReq{"s1"});
  const auto sent = rig.sent_to(ble(2));
  auto p = find<mqttsn::Publish>(sent);
  REQUIRE(p != std::nullopt);
  CHECK(text(p->data) == "on");
  CHECK(find<mqttsn::PingResp>(sent) != std::nullopt);
  CHECK(rig.sent_to(ble(1)).empty());
}

TEST_CASE("a sleeping sensor that misses its sleep timer is lost") {
  Rig rig;
  rig.connect(ble(1), "s1");
  mqttsn::Disconnect sleep;
  sleep.duration = 10;
  rig.receive(ble(1), sleep);
  rig.advance(9s);
  CHECK(rig.runtime->session_count() == 1);
  rig.advance(60s);
  CHECK(rig.runtime->session_count() == 0);
  CHECK(rig.runtime->counters().sessions_ended == 1);
}

TEST_CASE("CleanSession=false: parked at DISCONNECT, resumed by CONNECT, dropped after expiry") {
  Rig rig;
  rig.connect(ble(1), "s1", false);
  rig.receive(ble(1), register_msg("data/t", 1));
  auto regack = find<mqttsn::RegAck>(rig.sent_to(ble(1)));
  REQUIRE(regack != std::nullopt);
  const std::uint16_t id = regack->topic_id;
  rig.receive(ble(1), mqttsn::Disconnect{});
  CHECK(rig.runtime->session_count() == 0);

  // Resumed: its topic id still stands.
  rig.connect(ble(1), "s1", false);
  rig.receive(ble(1), publish_msg(TopicIdType::Normal, id, QoS::AtLeastOnce, 2, "x"));
  auto ack = find<mqttsn::PubAck>(rig.sent_to(ble(1)));
  REQUIRE(ack != std::nullopt);
  CHECK(ack->return_code == ReturnCode::Accepted);
  REQUIRE(!rig.broker.published.empty());
  CHECK(rig.broker.published.back().topic == "data/t");

  // Parked again, then expired (default parked_session_expiry: 3600 s).
  rig.receive(ble(1), mqttsn::Disconnect{});
  rig.advance(3599s);
  CHECK(rig.runtime->counters().parked_expired == 0);
  rig.advance(2s);
  CHECK(rig.runtime->counters().parked_expired == 1);
  rig.connect(ble(1), "s1", false);
  rig.receive(ble(1), publish_msg(TopicIdType::Normal, id, QoS::AtLeastOnce, 3, "y"));
  ack = find<mqttsn::PubAck>(rig.sent_to(ble(1)));
  REQUIRE(ack != std::nullopt);
  CHECK(ack->return_code == ReturnCode::RejectedInvalidTopicId);
}

TEST_CASE("QoS -1: predefined and short topics go out on the gateway client, unknown ids do not") {
  Rig rig({false, {{1, "pre/one"}}});
  rig.receive(ble(9), publish_msg(TopicIdType::Predefined, 1, QoS::MinusOne, 0, "x"));
  rig.receive(ble(9), publish_msg(TopicIdType::Short, kShortAb, QoS::MinusOne, 0, "y"));
  REQUIRE(rig.broker.published.size() == 2);
  CHECK(rig.broker.published[0].session == 0);
  CHECK(rig.broker.published[0].topic == "pre/one");
  CHECK(rig.broker.published[1].topic == "ab");
  CHECK(rig.runtime->counters().qos_m1_forwarded == 2);

  rig.receive(ble(9), publish_msg(TopicIdType::Predefined, 2, QoS::MinusOne, 0, "z"));
  CHECK(rig.runtime->counters().qos_m1_dropped == 1);
  rig.link().lose();
  rig.drain();
  CHECK_FALSE(rig.runtime->broker_reachable());
  rig.receive(ble(9), publish_msg(TopicIdType::Predefined, 1, QoS::MinusOne, 0, "x"));
  CHECK(rig.runtime->counters().qos_m1_dropped == 2);
  CHECK(rig.broker.published.size() == 2);
  CHECK(rig.sent_to(ble(9)).empty());  // connectionless: never answered
}

TEST_CASE(
    "upstream lost and back: uplink refused with congestion meanwhile, subscriptions renewed") {
  Rig rig;
  rig.connect(ble(1), "s1");
  rig.receive(ble(1), subscribe_msg("cmd/#", QoS::AtMostOnce, 1));
  CHECK(rig.broker.count("subscribe s1 cmd/#") == 1);
  static_cast<void>(rig.sent_to(ble(1)));

  rig.broker.client("s1")->lose();
  rig.drain();
  rig.receive(ble(1), publish_msg(TopicIdType::Short, kShortAb, QoS::AtLeastOnce, 9, "v"));
  auto refused = find<mqttsn::PubAck>(rig.sent_to(ble(1)));
  REQUIRE(refused != std::nullopt);
  CHECK(refused->return_code == ReturnCode::RejectedCongestion);
  CHECK(rig.runtime->limit_counters().uplink_congestion == 1);

  rig.broker.client("s1")->back(false);
  rig.drain();
  rig.receive(ble(1), publish_msg(TopicIdType::Short, kShortAb, QoS::AtLeastOnce, 10, "v"));
  rig.drain();
  auto ack = find<mqttsn::PubAck>(rig.sent_to(ble(1)));
  REQUIRE(ack != std::nullopt);
  CHECK(ack->msg_id == 10);
  CHECK(ack->return_code == ReturnCode::Accepted);
  CHECK(rig.broker.count("subscribe s1 cmd/#") == 2);  // the broker forgot: subscribed again
}

TEST_CASE("the broker unreachable at CONNECT: CONNACK congestion, no session kept") {
  Rig rig;
  rig.broker.reachable = false;
  rig.receive(ble(1), connect_msg("s1", true, 60));
  auto ack = find<mqttsn::ConnAck>(rig.sent_to(ble(1)));
  REQUIRE(ack != std::nullopt);
  CHECK(ack->return_code == ReturnCode::RejectedCongestion);
  CHECK(rig.runtime->session_count() == 0);
}

TEST_CASE("a reload renumbering a predefined id: a connected sensor gets the new id") {
  Rig rig({false, {{1, "cmd/x"}}});
  rig.connect(ble(1), "s1");
  rig.receive(ble(1), subscribe_msg("cmd/x", QoS::AtMostOnce, 1));
  static_cast<void>(rig.sent_to(ble(1)));
  auto downlink = [&] {
    rig.broker.client("s1")->deliver("cmd/x", "go");
    rig.drain();
    return rig.sent_to(ble(1));
  };

  auto sent = downlink();
  auto p = find<mqttsn::Publish>(sent);
  REQUIRE(p != std::nullopt);
  CHECK(p->flags.topic_id_type == TopicIdType::Predefined);
  CHECK(p->topic_id == 1);

  // What SIGHUP does (gateway/service/reload.cpp apply_predefined): the set is replaced whole.
  rig.predefined->replace(
      gw::PredefinedTopicSet(std::map<std::uint16_t, std::string>{{5, "cmd/x"}}));
  sent = downlink();
  p = find<mqttsn::Publish>(sent);
  REQUIRE(p != std::nullopt);
  CHECK(p->flags.topic_id_type == TopicIdType::Predefined);
  CHECK(p->topic_id == 5);
  // Uplink: the new id resolves, the old one no longer does.
  rig.receive(ble(1), publish_msg(TopicIdType::Predefined, 5, QoS::AtLeastOnce, 2, "up"));
  REQUIRE(!rig.broker.published.empty());
  CHECK(rig.broker.published.back().topic == "cmd/x");
  rig.receive(ble(1), publish_msg(TopicIdType::Predefined, 1, QoS::AtLeastOnce, 3, "up"));
  sent = rig.sent_to(ble(1));
  auto acks = find<mqttsn::PubAck>(sent);
  REQUIRE(acks != std::nullopt);
  CHECK(acks->return_code == ReturnCode::Accepted);  // msg 2
  const auto* rejected = std::get_if<mqttsn::PubAck>(&sent.back());
  REQUIRE(rejected != nullptr);
  CHECK(rejected->msg_id == 3);
  CHECK(rejected->return_code == ReturnCode::RejectedInvalidTopicId);

  // No longer predefined: a normal id, REGISTERed first unless the client knows it already.
  rig.predefined->replace(gw::PredefinedTopicSet{});
  sent = downlink();
  if (auto reg = find<mqttsn::Register>(sent)) {
    CHECK(reg->topic_name == "cmd/x");
    rig.receive(ble(1), mqttsn::RegAck{reg->topic_id, reg->msg_id, ReturnCode::Accepted});
    sent = rig.sent_to(ble(1));
  }
  p = find<mqttsn::Publish>(sent);
  REQUIRE(p != std::nullopt);
  CHECK(p->flags.topic_id_type == TopicIdType::Normal);
  CHECK(text(p->data) == "go");
}

TEST_CASE(
    "a sensor's upstream back on a new Paho client: its PUBLISH in flight is not acknowledged") {
  Rig rig;
  rig.connect(ble(1), "s1");
  auto* up = rig.broker.client("s1");
  REQUIRE(up != nullptr);
  rig.broker.hold_acks = true;
  rig.receive(ble(1), publish_msg(TopicIdType::Short, kShortAb, QoS::AtLeastOnce, 5, "21.5"));
  CHECK(find<mqttsn::PubAck>(rig.sent_to(ble(1))) == std::nullopt);
  up->lose();
  rig.drain();
  rig.broker.hold_acks = false;
  up->back_on_new_client(false);
  rig.drain();
  CHECK(find<mqttsn::PubAck>(rig.sent_to(ble(1))) == std::nullopt);
  auto dup = publish_msg(TopicIdType::Short, kShortAb, QoS::AtLeastOnce, 5, "21.5");
  dup.flags.dup = true;
  rig.receive(ble(1), dup);
  CHECK(rig.broker.published.size() == 2);
  auto ack = find<mqttsn::PubAck>(rig.sent_to(ble(1)));
  REQUIRE(ack != std::nullopt);
  CHECK(ack->msg_id == 5);
  CHECK(ack->return_code == ReturnCode::Accepted);
}

}  // namespace rt
