// Broker refusals reach the sensor (README "Broker refusals"): MQTT 5 reason codes in PUBACK,
// PUBREC and SUBACK, MQTT 3.1.1's SUBACK 0x80, and brokers that drop the connection instead.
#include "gateway/core/broker_refusal.hpp"
#include "helpers.hpp"

using namespace st;
namespace ev = gw::ev;

TEST_CASE("refusal table: reason code to MQTT-SN return code") {
  CHECK_FALSE(gw::refusal_return_code(0x00));  // success / no answer: not a refusal
  CHECK_FALSE(gw::refusal_return_code(0x10));  // no matching subscribers: delivered
  CHECK_FALSE(gw::refusal_return_code(0x7f));
  CHECK(gw::refusal_return_code(0x80) == ReturnCode::RejectedNotSupported);
  CHECK(gw::refusal_return_code(0x83) == ReturnCode::RejectedNotSupported);
  CHECK(gw::refusal_return_code(0x87) == ReturnCode::RejectedNotSupported);
  CHECK(gw::refusal_return_code(0x8f) == ReturnCode::RejectedNotSupported);
  CHECK(gw::refusal_return_code(0x90) == ReturnCode::RejectedInvalidTopicId);
  CHECK(gw::refusal_return_code(0x97) == ReturnCode::RejectedCongestion);
  CHECK(gw::refusal_return_code(0x96) == ReturnCode::RejectedCongestion);
  CHECK(gw::refusal_return_code(0x91) == ReturnCode::RejectedCongestion);
  CHECK(gw::refusal_return_code(0x89) == ReturnCode::RejectedCongestion);
  CHECK(gw::refusal_return_code(0x99) == ReturnCode::RejectedNotSupported);
  CHECK(gw::refusal_return_code(0xa2) == ReturnCode::RejectedNotSupported);
  CHECK_FALSE(gw::refusal_return_code(0x100));
  CHECK(gw::subscribe_refusal_return_code(0) == ReturnCode::RejectedCongestion);
  CHECK(gw::subscribe_refusal_return_code(0x80) == ReturnCode::RejectedNotSupported);
}

TEST_CASE("MQTT 5 PUBACK 0x87 (not authorized): PUBACK rejected, the retry goes upstream afresh") {
  Sensor s;
  s.connect_plain();
  s.packet(mqttsn::Register{0, 1, "other/t"});
  EXPECT_ACTIONS(s.packet(publish(TopicIdType::Normal, 1, QoS::AtLeastOnce, 7, "x")),
                 publish_up(1, "other/t", "x", 1));
  auto a = s.upstream(ev::UpstreamPublishFailed{1, 0x87});
  EXPECT_ACTIONS(a, send(mqttsn::PubAck{1, 7, ReturnCode::RejectedNotSupported}));
  CHECK(has_log(a, "0x87", gw::LogLevel::Warn));
  EXPECT_ACTIONS(s.upstream(ev::UpstreamDelivered{1}));  // answered once only
}

TEST_CASE("MQTT 5 PUBACK 0x97 (quota exceeded): congestion; 0x90: invalid topic id") {
  Sensor s;
  s.connect_plain();
  s.packet(mqttsn::Register{0, 1, "t"});
  s.packet(publish(TopicIdType::Normal, 1, QoS::AtLeastOnce, 1, "x"));
  EXPECT_ACTIONS(s.upstream(ev::UpstreamPublishFailed{1, 0x97}),
                 send(mqttsn::PubAck{1, 1, ReturnCode::RejectedCongestion}));
  s.packet(publish(TopicIdType::Normal, 1, QoS::AtLeastOnce, 2, "x"));
  EXPECT_ACTIONS(s.upstream(ev::UpstreamPublishFailed{2, 0x90}),
                 send(mqttsn::PubAck{1, 2, ReturnCode::RejectedInvalidTopicId}));
}

TEST_CASE("MQTT 5 PUBREC refusal of a QoS 2 PUBLISH: PUBACK rejected, no PUBREC; retry forwarded") {
  Sensor s;
  s.connect_plain();
  s.packet(mqttsn::Register{0, 1, "t"});
  EXPECT_ACTIONS(s.packet(publish(TopicIdType::Normal, 1, QoS::ExactlyOnce, 9, "x")),
                 publish_up(1, "t", "x", 2));
  EXPECT_ACTIONS(s.upstream(ev::UpstreamPublishFailed{1, 0x87}),
                 send(mqttsn::PubAck{1, 9, ReturnCode::RejectedNotSupported}));
  // The QoS 2 state is gone: a new PUBLISH with that id is a new message.
  EXPECT_ACTIONS(s.packet(publish(TopicIdType::Normal, 1, QoS::ExactlyOnce, 9, "x")),
                 publish_up(2, "t", "x", 2));
}

TEST_CASE("no reason code (no answer): not acknowledged, as before") {
  Sensor s;
  s.connect_plain();
  s.packet(mqttsn::Register{0, 1, "t"});
  s.packet(publish(TopicIdType::Normal, 1, QoS::AtLeastOnce, 5, "x"));
  EXPECT_ACTIONS(s.upstream(ev::UpstreamPublishFailed{1, 0}));
}

TEST_CASE("Paho's queue toward the broker full: PUBACK congestion, counted, the retry goes up") {
  Sensor s;
  s.connect_plain();
  s.packet(mqttsn::Register{0, 1, "t"});
  s.packet(publish(TopicIdType::Normal, 1, QoS::AtLeastOnce, 5, "x"));
  gw::ev::UpstreamPublishFailed full;
  full.token = 1;
  full.queue_full = true;
  EXPECT_ACTIONS(s.upstream(full), send(mqttsn::PubAck{1, 5, ReturnCode::RejectedCongestion}));
  EXPECT_ACTIONS(s.packet(publish(TopicIdType::Normal, 1, QoS::AtLeastOnce, 5, "x")),
                 publish_up(2, "t", "x", 1));
}

TEST_CASE("SUBACK refusals: 3.1.1 0x80 and 5's 0x87 -> rejected (not supported); 0x97 congestion") {
  Sensor s;
  s.connect_plain();
  s.packet(subscribe("a", QoS::AtMostOnce, 1));
  EXPECT_ACTIONS(s.upstream(ev::UpstreamSubscribed{1, false, 0, 0x80}),
                 send(suback(QoS::AtMostOnce, 0, 1, ReturnCode::RejectedNotSupported)));
  s.packet(subscribe("b/#", QoS::AtMostOnce, 2));
  EXPECT_ACTIONS(s.upstream(ev::UpstreamSubscribed{2, false, 0, 0x87}),
                 send(suback(QoS::AtMostOnce, 0, 2, ReturnCode::RejectedNotSupported)));
  s.packet(subscribe("c", QoS::AtMostOnce, 3));
  EXPECT_ACTIONS(s.upstream(ev::UpstreamSubscribed{3, false, 0, 0x97}),
                 send(suback(QoS::AtMostOnce, 0, 3, ReturnCode::RejectedCongestion)));
  CHECK(s.session.subscription_count() == 0);
}

TEST_CASE("a broker that drops the connection on each resend: the sensor gets PUBACK rejected") {
  Sensor s;
  s.connect_plain();
  s.packet(mqttsn::Register{0, 1, "other/t"});
  s.packet(publish(TopicIdType::Normal, 1, QoS::AtLeastOnce, 4, "x"));
  s.packet(publish(TopicIdType::Normal, 1, QoS::AtMostOnce, 0, "q0"));
  // One loss (a broker restart, say): keep waiting, Paho resends after reconnecting.
  EXPECT_ACTIONS(s.upstream(ev::UpstreamLost{"gone"}));
  EXPECT_ACTIONS(s.upstream(ev::UpstreamConnected{true}));
  // Dropped again with the same message in flight: refused.
  auto a = s.upstream(ev::UpstreamLost{"gone again"});
  EXPECT_ACTIONS(a, send(mqttsn::PubAck{1, 4, ReturnCode::RejectedNotSupported}));
  CHECK(has_log(a, "dropped the connection", gw::LogLevel::Warn));
  // A message delivered in between is not affected.
  s.upstream(ev::UpstreamConnected{true});
  s.packet(publish(TopicIdType::Normal, 1, QoS::AtLeastOnce, 5, "y"));
  EXPECT_ACTIONS(s.upstream(ev::UpstreamLost{"once"}));
  EXPECT_ACTIONS(s.upstream(ev::UpstreamDelivered{2}),
                 send(mqttsn::PubAck{1, 5, ReturnCode::Accepted}));
}

TEST_CASE("broker session taken over (MQTT 5 DISCONNECT 0x8E): ends here, no will, parked") {
  Sensor s;
  CHECK(s.packet(connect("s1", 60, false)).size() == 1);  // ConnectUpstream
  s.upstream(ev::UpstreamConnected{false});
  auto a = s.upstream(ev::UpstreamLost{"taken over", true});
  EXPECT_ACTIONS(a, send(mqttsn::Disconnect{}), disconnect_up(), end_session(false));
  CHECK(has_log(a, "taken over", gw::LogLevel::Info));
  CHECK(s.session.state() == gw::SessionState::Disconnected);
}

TEST_CASE("MQTT 3.1.1 broker dropping the connection on a PUBLISH: the retry failing too -> 0x03") {
  Sensor s;
  s.connect_plain();
  s.packet(mqttsn::Register{0, 1, "other/t"});
  EXPECT_ACTIONS(s.packet(publish(TopicIdType::Normal, 1, QoS::AtLeastOnce, 4, "x")),
                 publish_up(1, "other/t", "x", 1));
  // Paho fails the in-flight message as the broker closes the connection.
  EXPECT_ACTIONS(s.upstream(ev::UpstreamPublishFailed{1, 0}));
  s.upstream(ev::UpstreamLost{"dropped"});
  s.upstream(ev::UpstreamConnected{false});
  EXPECT_ACTIONS(s.packet(publish(TopicIdType::Normal, 1, QoS::AtLeastOnce, 4, "x", true)),
                 publish_up(2, "other/t", "x", 1));
  auto a = s.upstream(ev::UpstreamPublishFailed{2, 0});
  EXPECT_ACTIONS(a, send(mqttsn::PubAck{1, 4, ReturnCode::RejectedNotSupported}));
  CHECK(has_log(a, "refused by the broker?", gw::LogLevel::Warn));
}

TEST_CASE("broker outage: retries sent while the connection is down are not counted as refusals") {
  Sensor s;
  s.connect_plain();
  s.packet(mqttsn::Register{0, 1, "t"});
  s.packet(publish(TopicIdType::Normal, 1, QoS::AtLeastOnce, 4, "x"));
  EXPECT_ACTIONS(s.upstream(ev::UpstreamPublishFailed{1, 0}));  // in flight as the broker died
  s.upstream(ev::UpstreamLost{"broker down"});
  for (int i = 0; i < 3; ++i)  // answered congestion at once while the connection is down
    EXPECT_ACTIONS(s.packet(publish(TopicIdType::Normal, 1, QoS::AtLeastOnce, 4, "x", true)),
                   send(mqttsn::PubAck{1, 4, ReturnCode::RejectedCongestion}));
  s.upstream(ev::UpstreamConnected{false});
  EXPECT_ACTIONS(s.packet(publish(TopicIdType::Normal, 1, QoS::AtLeastOnce, 4, "x", true)),
                 publish_up(2, "t", "x", 1));
  EXPECT_ACTIONS(s.upstream(ev::UpstreamDelivered{2}),
                 send(mqttsn::PubAck{1, 4, ReturnCode::Accepted}));
}
