// Broker-to-client (§6.10): topic ids, REGISTER before PUBLISH, one message in flight,
// QoS 1/2 flows, retransmission with DUP, retries exhausted -> lost.
#include "helpers.hpp"

using namespace st;
using gw::SessionState;
namespace ev = gw::ev;

namespace {
mqttsn::Register reg(std::uint16_t topic_id, std::uint16_t msg_id, std::string name) {
  return mqttsn::Register{topic_id, msg_id, std::move(name)};
}
mqttsn::RegAck regack(std::uint16_t topic_id, std::uint16_t msg_id,
                      ReturnCode rc = ReturnCode::Accepted) {
  return mqttsn::RegAck{topic_id, msg_id, rc};
}
mqttsn::PubAck puback(std::uint16_t topic_id, std::uint16_t msg_id,
                      ReturnCode rc = ReturnCode::Accepted) {
  return mqttsn::PubAck{topic_id, msg_id, rc};
}
}  // namespace

TEST_CASE("a message on a plain subscribed name uses the SUBACK's id, no REGISTER") {
  Sensor s;
  s.connect_plain();
  s.subscribed("a/b", QoS::AtMostOnce, 1, 1, 1);
  EXPECT_ACTIONS(s.upstream(message("a/b", "v", 0)),
                 send(down(TopicIdType::Normal, 1, QoS::AtMostOnce, 0, "v")));
}

TEST_CASE("wildcard match: REGISTER first, the QoS 0 message that triggered it is kept") {
  Sensor s;
  s.connect_plain();
  s.subscribed("sensors/#", QoS::AtMostOnce, 1, 1, 0);
  EXPECT_ACTIONS(s.upstream(message("sensors/t1", "21", 0)), send(reg(1, 1, "sensors/t1")));
  CHECK(s.session.in_flight());
  // More messages meanwhile wait behind the REGISTER, in order.
  EXPECT_ACTIONS(s.upstream(message("sensors/t1", "22", 0)));
  EXPECT_ACTIONS(s.packet(regack(1, 1)),
                 send(down(TopicIdType::Normal, 1, QoS::AtMostOnce, 0, "21")),
                 send(down(TopicIdType::Normal, 1, QoS::AtMostOnce, 0, "22")));
  // Known now: no second REGISTER.
  EXPECT_ACTIONS(s.upstream(message("sensors/t1", "23", 0)),
                 send(down(TopicIdType::Normal, 1, QoS::AtMostOnce, 0, "23")));
  // A second topic gets the next id.
  EXPECT_ACTIONS(s.upstream(message("sensors/t2", "x", 0)), send(reg(2, 2, "sensors/t2")));
}

TEST_CASE("rejected REGACK: that topic is not sent to this client, others still are") {
  Sensor s;
  s.connect_plain();
  s.subscribed("#", QoS::AtMostOnce, 1, 1, 0);
  EXPECT_ACTIONS(s.upstream(message("a", "1", 0)), send(reg(1, 1, "a")));
  s.upstream(message("b", "2", 0));
  s.upstream(message("a", "3", 0));
  auto acts = s.packet(regack(0, 1, ReturnCode::RejectedNotSupported));
  EXPECT_ACTIONS(acts, send(reg(2, 2, "b")));
  CHECK(has_log(acts, "refused topic 'a'"));
  EXPECT_ACTIONS(s.packet(regack(2, 2)),
                 send(down(TopicIdType::Normal, 2, QoS::AtMostOnce, 0, "2")));
  EXPECT_ACTIONS(s.upstream(message("a", "4", 0)));
  // Subscribing again is a new wish to receive.
  s.subscribed("a", QoS::AtMostOnce, 2, 2, 1);
  EXPECT_ACTIONS(s.upstream(message("a", "5", 0)),
                 send(down(TopicIdType::Normal, 1, QoS::AtMostOnce, 0, "5")));
}

TEST_CASE("predefined names go with their predefined id, 2-character names as short topics") {
  Sensor s;
  s.connect_plain();
  s.subscribed("#", QoS::AtMostOnce, 1, 1, 0);
  EXPECT_ACTIONS(s.upstream(message("cmd/seven", "p", 0)),
                 send(down(TopicIdType::Predefined, 7, QoS::AtMostOnce, 0, "p")));
  EXPECT_ACTIONS(s.upstream(message("ab", "s", 0)),
                 send(down(TopicIdType::Short, 0x6162, QoS::AtMostOnce, 0, "s")));
}

TEST_CASE("QoS is the lower of subscription and message; retained flag passed through") {
  Sensor s;
  s.connect_plain();
  s.subscribed("low", QoS::AtMostOnce, 1, 1, 1);
  s.subscribed("high", QoS::ExactlyOnce, 2, 2, 2);
  EXPECT_ACTIONS(s.upstream(message("low", "a", 2, true)),
                 send(down(TopicIdType::Normal, 1, QoS::AtMostOnce, 0, "a", false, true)));
  EXPECT_ACTIONS(s.upstream(message("high", "b", 1)),
                 send(down(TopicIdType::Normal, 2, QoS::AtLeastOnce, 1, "b")));
}

TEST_CASE("one QoS 1/2 message in flight; the rest queue in order behind it") {
  Sensor s;
  s.connect_plain();
  s.subscribed("t", QoS::ExactlyOnce, 1, 1, 1);
  EXPECT_ACTIONS(s.upstream(message("t", "m1", 1)),
                 send(down(TopicIdType::Normal, 1, QoS::AtLeastOnce, 1, "m1")));
  EXPECT_ACTIONS(s.upstream(message("t", "m2", 0)));
  EXPECT_ACTIONS(s.upstream(message("t", "m3", 2)));
  EXPECT_ACTIONS(s.upstream(message("t", "m4", 0)));
  CHECK(s.session.buffered() == 3);
  EXPECT_ACTIONS(s.packet(puback(1, 99)));  // not the one in flight
  EXPECT_ACTIONS(s.packet(puback(1, 1)),
                 send(down(TopicIdType::Normal, 1, QoS::AtMostOnce, 0, "m2")),
                 send(down(TopicIdType::Normal, 1, QoS::ExactlyOnce, 2, "m3")));
  EXPECT_ACTIONS(s.packet(mqttsn::PubRec{2}), send(mqttsn::PubRel{2}));
  EXPECT_ACTIONS(s.packet(mqttsn::PubRec{2}), send(mqttsn::PubRel{2}));  // PUBREL lost: again
  EXPECT_ACTIONS(s.packet(mqttsn::PubComp{2}),
                 send(down(TopicIdType::Normal, 1, QoS::AtMostOnce, 0, "m4")));
  CHECK_FALSE(s.session.in_flight());
  CHECK(s.session.buffered() == 0);
}

TEST_CASE("a PUBACK 'invalid topic id' makes the gateway REGISTER the name again") {
  Sensor s;
  s.connect_plain();
  s.subscribed("t", QoS::AtLeastOnce, 1, 1, 1);
  s.upstream(message("t", "m1", 1));
  auto acts = s.packet(puback(1, 1, ReturnCode::RejectedInvalidTopicId));
  EXPECT_ACTIONS(acts);
  CHECK(has_log(acts, "rejected"));
  EXPECT_ACTIONS(s.upstream(message("t", "m2", 1)), send(reg(1, 2, "t")));
}

TEST_CASE("retransmission: PUBLISH with DUP after Tretry, Nretry times, then lost with will") {
  Sensor s;                                // Tretry 10 s, Nretry 3
  s.packet(connect("s1", 0, true, true));  // no keep-alive: only retries can lose it
  s.packet(will_topic("dead/s1", QoS::AtLeastOnce));
  s.packet(mqttsn::WillMsg{bytes("rip")});
  s.upstream(ev::UpstreamConnected{false});
  s.subscribed("t", QoS::AtLeastOnce, 1, 1, 1);
  EXPECT_ACTIONS(s.upstream(message("t", "m", 1)),
                 send(down(TopicIdType::Normal, 1, QoS::AtLeastOnce, 1, "m")));
  EXPECT_ACTIONS(s.after(9999ms));
  EXPECT_ACTIONS(s.after(1ms), send(down(TopicIdType::Normal, 1, QoS::AtLeastOnce, 1, "m", true)));
  EXPECT_ACTIONS(s.after(10s), send(down(TopicIdType::Normal, 1, QoS::AtLeastOnce, 1, "m", true)));
  EXPECT_ACTIONS(s.after(10s), send(down(TopicIdType::Normal, 1, QoS::AtLeastOnce, 1, "m", true)));
  auto acts = s.after(10s);
  EXPECT_ACTIONS(acts, publish_up(2, "dead/s1", "rip", 1), disconnect_up(), end_session(true));
  CHECK(has_log(acts, "after 3 retransmissions"));
  CHECK(s.session.state() == SessionState::Lost);
  CHECK_FALSE(s.session.next_deadline().has_value());
}

TEST_CASE("retransmission: an answer stops it") {
  Sensor s;
  s.connect_plain("s1", 0);
  s.subscribed("t", QoS::AtLeastOnce, 1, 1, 1);
  s.upstream(message("t", "m", 1));
  EXPECT_ACTIONS(s.after(10s), send(down(TopicIdType::Normal, 1, QoS::AtLeastOnce, 1, "m", true)));
  EXPECT_ACTIONS(s.packet(puback(1, 1)));
  CHECK_FALSE(s.session.next_deadline().has_value());
  EXPECT_ACTIONS(s.after(100s));
}

TEST_CASE("retransmission: REGISTER and PUBREL are retransmitted too") {
  Sensor s;
  s.connect_plain("s1", 0);
  s.subscribed("#", QoS::ExactlyOnce, 1, 1, 0);
  EXPECT_ACTIONS(s.upstream(message("x/y", "m", 2)), send(reg(1, 1, "x/y")));
  EXPECT_ACTIONS(s.after(10s), send(reg(1, 1, "x/y")));
  EXPECT_ACTIONS(s.packet(regack(1, 1)),
                 send(down(TopicIdType::Normal, 1, QoS::ExactlyOnce, 2, "m")));
  EXPECT_ACTIONS(s.packet(mqttsn::PubRec{2}), send(mqttsn::PubRel{2}));
  EXPECT_ACTIONS(s.after(10s), send(mqttsn::PubRel{2}));
  EXPECT_ACTIONS(s.after(10s), send(mqttsn::PubRel{2}));
  EXPECT_ACTIONS(s.after(10s), send(mqttsn::PubRel{2}));
  EXPECT_ACTIONS(s.after(10s), disconnect_up(), end_session(true));  // no will configured
}

TEST_CASE("message ids are 16-bit and skip 0") {
  Sensor s;
  s.connect_plain("s1", 0);
  s.subscribed("t", QoS::AtLeastOnce, 1, 1, 1);
  for (std::uint32_t i = 1; i <= 0xFFFF; ++i) {
    s.upstream(message("t", "m", 1));
    s.packet(puback(1, static_cast<std::uint16_t>(i)));
  }
  // 65535 ids used (1..0xFFFF); the next one wraps to 1, not 0.
  EXPECT_ACTIONS(s.upstream(message("t", "m", 1)),
                 send(down(TopicIdType::Normal, 1, QoS::AtLeastOnce, 1, "m")));
}

TEST_CASE("no topic id exhaustion at small numbers: hundreds of wildcard topics") {
  Sensor s;
  s.connect_plain("s1", 0);
  s.subscribed("#", QoS::AtMostOnce, 1, 1, 0);
  for (std::uint16_t i = 1; i <= 600; ++i) {
    const std::string topic = "t/" + std::to_string(i);
    EXPECT_ACTIONS(s.upstream(message(topic, "x", 0)), send(reg(i, i, topic)));
    s.packet(regack(i, i));
  }
  CHECK(s.session.topics().size() == 600);
}
