// SUBSCRIBE / UNSUBSCRIBE (§6.9) by name, wildcard filter, short name and predefined id.
#include "helpers.hpp"

using namespace st;
namespace ev = gw::ev;

TEST_CASE("SUBSCRIBE to a plain name: SUBACK with its registered id and the granted QoS") {
  Sensor s;
  s.connect_plain();
  s.packet(mqttsn::Register{0, 1, "x/y"});  // id 1
  EXPECT_ACTIONS(s.packet(subscribe("a/b", QoS::ExactlyOnce, 3)), subscribe_up(1, "a/b", 2));
  EXPECT_ACTIONS(s.upstream(ev::UpstreamSubscribed{1, true, 1}),
                 send(suback(QoS::AtLeastOnce, 2, 3)));
  // The client knows the id from the SUBACK: publishing on it needs no REGISTER.
  EXPECT_ACTIONS(s.packet(publish(TopicIdType::Normal, 2, QoS::AtMostOnce, 0, "v")),
                 publish_up(0, "a/b", "v", 0));
  // A name subscribed again keeps its id.
  EXPECT_ACTIONS(s.packet(subscribe("x/y", QoS::AtMostOnce, 4)), subscribe_up(2, "x/y", 0));
  EXPECT_ACTIONS(s.upstream(ev::UpstreamSubscribed{2, true, 0}),
                 send(suback(QoS::AtMostOnce, 1, 4)));
}

TEST_CASE("SUBSCRIBE to a wildcard filter: SUBACK with topic id 0") {
  Sensor s;
  s.connect_plain();
  EXPECT_ACTIONS(s.packet(subscribe("sensors/+/temp", QoS::AtLeastOnce, 1)),
                 subscribe_up(1, "sensors/+/temp", 1));
  EXPECT_ACTIONS(s.upstream(ev::UpstreamSubscribed{1, true, 1}),
                 send(suback(QoS::AtLeastOnce, 0, 1)));
  CHECK(s.session.topics().size() == 0);
}

TEST_CASE("SUBSCRIBE to a short name and to a predefined id") {
  Sensor s;
  s.connect_plain();
  EXPECT_ACTIONS(s.packet(subscribe_id(TopicIdType::Short, 0x6162, QoS::AtMostOnce, 1)),
                 subscribe_up(1, "ab", 0));
  EXPECT_ACTIONS(s.upstream(ev::UpstreamSubscribed{1, true, 0}),
                 send(suback(QoS::AtMostOnce, 0x6162, 1)));
  EXPECT_ACTIONS(s.packet(subscribe_id(TopicIdType::Predefined, 7, QoS::AtLeastOnce, 2)),
                 subscribe_up(2, "cmd/seven", 1));
  EXPECT_ACTIONS(s.upstream(ev::UpstreamSubscribed{2, true, 1}),
                 send(suback(QoS::AtLeastOnce, 7, 2)));
}

TEST_CASE("SUBSCRIBE refused: unknown predefined id 0x02, invalid filter 0x03, broker no 0x01") {
  Sensor s;
  s.connect_plain();
  EXPECT_ACTIONS(s.packet(subscribe_id(TopicIdType::Predefined, 42, QoS::AtMostOnce, 1)),
                 send(suback(QoS::AtMostOnce, 0, 1, ReturnCode::RejectedInvalidTopicId)));
  EXPECT_ACTIONS(s.packet(subscribe("a/#/b", QoS::AtMostOnce, 2)),
                 send(suback(QoS::AtMostOnce, 0, 2, ReturnCode::RejectedNotSupported)));
  EXPECT_ACTIONS(s.packet(subscribe("a+", QoS::AtMostOnce, 3)),
                 send(suback(QoS::AtMostOnce, 0, 3, ReturnCode::RejectedNotSupported)));
  EXPECT_ACTIONS(s.packet(subscribe("ok/+", QoS::MinusOne, 4)),
                 send(suback(QoS::AtMostOnce, 0, 4, ReturnCode::RejectedNotSupported)));
  EXPECT_ACTIONS(s.packet(subscribe("denied", QoS::AtMostOnce, 5)), subscribe_up(1, "denied", 0));
  EXPECT_ACTIONS(s.upstream(ev::UpstreamSubscribed{1, false, 0}),
                 send(suback(QoS::AtMostOnce, 0, 5, ReturnCode::RejectedCongestion)));
  CHECK(s.session.subscription_count() == 0);
}

TEST_CASE("SUBSCRIBE repeated before the broker answered is subscribed once") {
  Sensor s;
  s.connect_plain();
  s.packet(subscribe("a/+", QoS::AtMostOnce, 1));
  EXPECT_ACTIONS(s.packet(subscribe("a/+", QoS::AtMostOnce, 1)));
  EXPECT_ACTIONS(s.upstream(ev::UpstreamSubscribed{1, true, 0}),
                 send(suback(QoS::AtMostOnce, 0, 1)));
}

TEST_CASE("UNSUBSCRIBE: UnsubscribeUpstream, UNSUBACK when the broker answered; delivery stops") {
  Sensor s;
  s.connect_plain();
  s.subscribed("a/b", QoS::AtMostOnce, 1, 1, 1);
  mqttsn::Unsubscribe u;
  u.msg_id = 2;
  u.topic_name = "a/b";
  EXPECT_ACTIONS(s.packet(u), unsubscribe_up(2, "a/b"));
  EXPECT_ACTIONS(s.upstream(ev::UpstreamUnsubscribed{2}), send(mqttsn::UnsubAck{2}));
  CHECK(s.session.subscription_count() == 0);

  mqttsn::Unsubscribe p;
  p.flags.topic_id_type = TopicIdType::Predefined;
  p.msg_id = 3;
  p.topic_id = 7;
  EXPECT_ACTIONS(s.packet(p), unsubscribe_up(3, "cmd/seven"));
  p.topic_id = 99;  // unknown: nothing to undo
  p.msg_id = 4;
  EXPECT_ACTIONS(s.packet(p), send(mqttsn::UnsubAck{4}));
}
