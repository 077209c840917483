// §6.2 connection setup, §6.3 clean session and will, from the gateway's side.
#include "helpers.hpp"

using namespace st;
using gw::SessionState;
namespace ev = gw::ev;

TEST_CASE("CONNECT without will: ConnectUpstream, then CONNACK when the broker accepted") {
  Sensor s;
  CHECK(s.session.state() == SessionState::Connecting);
  EXPECT_ACTIONS(s.packet(connect("sensor1", 30, true)), connect_up("sensor1", true, 30));
  CHECK(s.session.state() == SessionState::Connecting);
  CHECK(s.session.client_id() == "sensor1");
  EXPECT_ACTIONS(s.upstream(ev::UpstreamConnected{false}),
                 send(mqttsn::ConnAck{ReturnCode::Accepted}));
  CHECK(s.session.state() == SessionState::Active);
  CHECK(s.session.keep_alive_s() == 30);
}

TEST_CASE("CONNECT with CleanSession=false is passed upstream") {
  Sensor s;
  EXPECT_ACTIONS(s.packet(connect("s1", 10, false)), connect_up("s1", false, 10));
}

TEST_CASE("CONNECT with a ProtocolId other than 0x01 is refused with 'not supported'") {
  Sensor s;
  auto c = connect("s1");
  c.protocol_id = 0x02;
  EXPECT_ACTIONS(s.packet(c), send(mqttsn::ConnAck{ReturnCode::RejectedNotSupported}),
                 end_session(false));
  CHECK(s.session.state() == SessionState::Disconnected);
}

TEST_CASE("broker unreachable: CONNACK congestion and the session ends") {
  Sensor s;
  s.packet(connect("s1"));
  EXPECT_ACTIONS(s.upstream(ev::UpstreamConnectFailed{"connection refused"}),
                 send(mqttsn::ConnAck{ReturnCode::RejectedCongestion}), end_session(false));
  CHECK(s.session.state() == SessionState::Disconnected);
}

TEST_CASE("a CONNECT repeated while the upstream connect is under way is not connected twice") {
  Sensor s;
  s.packet(connect("s1"));
  EXPECT_ACTIONS(s.packet(connect("s1")));
  EXPECT_ACTIONS(s.upstream(ev::UpstreamConnected{false}), send(mqttsn::ConnAck{}));
}

TEST_CASE("will flow: WILLTOPICREQ, WILLTOPIC, WILLMSGREQ, WILLMSG, then the will goes upstream") {
  Sensor s;
  EXPECT_ACTIONS(s.packet(connect("s1", 60, true, true)), send(mqttsn::WillTopicReq{}));
  EXPECT_ACTIONS(s.packet(will_topic("status/s1", QoS::AtLeastOnce, true)),
                 send(mqttsn::WillMsgReq{}));
  EXPECT_ACTIONS(s.packet(mqttsn::WillMsg{bytes("gone")}),
                 connect_up("s1", true, 60, will("status/s1", "gone", 1, true)));
  EXPECT_ACTIONS(s.upstream(ev::UpstreamConnected{false}), send(mqttsn::ConnAck{}));
  REQUIRE(s.session.will().has_value());
  CHECK(*s.session.will() == will("status/s1", "gone", 1, true));
}

TEST_CASE("will flow: an empty WILLTOPIC means no will, and no WILLMSGREQ") {
  Sensor s;
  s.packet(connect("s1", 60, true, true));
  EXPECT_ACTIONS(s.packet(will_topic("")), connect_up("s1", true, 60));
  CHECK_FALSE(s.session.will().has_value());
}

TEST_CASE("will flow: an invalid will topic is refused") {
  Sensor s;
  s.packet(connect("s1", 60, true, true));
  EXPECT_ACTIONS(s.packet(will_topic("a/#")),
                 send(mqttsn::ConnAck{ReturnCode::RejectedNotSupported}), end_session(false));
}

TEST_CASE("will flow: messages out of order are ignored and logged") {
  Sensor s;
  auto a = s.packet(mqttsn::WillMsg{bytes("x")});
  EXPECT_ACTIONS(a);
  CHECK(has_log(a, "WILLMSG without WILLMSGREQ"));
  s.packet(connect("s1", 60, true, true));
  a = s.packet(mqttsn::WillMsg{bytes("x")});  // WILLTOPIC expected first
  EXPECT_ACTIONS(a);
  CHECK(has_log(a, "WILLMSG without WILLMSGREQ"));
  EXPECT_ACTIONS(s.packet(will_topic("w")), send(mqttsn::WillMsgReq{}));
  a = s.packet(will_topic("w"));  // second WILLTOPIC: we are waiting for WILLMSG
  EXPECT_ACTIONS(a);
  CHECK(has_log(a, "WILLTOPIC without WILLTOPICREQ"));
}

TEST_CASE("will flow abandoned by the client: the half-open session ends") {
  Sensor s;  // retry 10 s x (3 + 1)
  s.packet(connect("s1", 60, true, true));
  EXPECT_ACTIONS(s.after(39s));
  EXPECT_ACTIONS(s.after(1s), end_session(true));
}

TEST_CASE("packets before CONNACK are logged and ignored") {
  Sensor s;
  s.packet(connect("s1"));
  auto a = s.packet(publish(TopicIdType::Short, 0x6162, QoS::AtLeastOnce, 1, "x"));
  EXPECT_ACTIONS(a);
  CHECK(has_log(a, "PUBLISH while connecting"));
  a = s.packet(mqttsn::PingReq{});
  EXPECT_ACTIONS(a);
}

TEST_CASE("packets with no meaning at the gateway are ignored, never crash") {
  Sensor s;
  s.connect_plain();
  for (const mqttsn::Message& m :
       {mqttsn::Message{mqttsn::ConnAck{}}, mqttsn::Message{mqttsn::WillTopicReq{}},
        mqttsn::Message{mqttsn::SubAck{}}, mqttsn::Message{mqttsn::Advertise{}},
        mqttsn::Message{mqttsn::GwInfo{}}, mqttsn::Message{mqttsn::UnsubAck{}},
        mqttsn::Message{mqttsn::PingResp{}}, mqttsn::Message{mqttsn::WillTopicResp{}},
        mqttsn::Message{mqttsn::RegAck{1, 1, ReturnCode::Accepted}},
        mqttsn::Message{mqttsn::PubAck{1, 1, ReturnCode::Accepted}},
        mqttsn::Message{mqttsn::PubRec{1}}, mqttsn::Message{mqttsn::PubComp{1}}}) {
    CAPTURE(m);
    EXPECT_ACTIONS(s.packet(m));
  }
  CHECK(s.session.state() == SessionState::Active);
}

TEST_CASE("CONNECT again while the upstream stays up: CONNACK without reconnecting upstream") {
  Sensor s;
  s.connect_plain("s1", 60, false);
  EXPECT_ACTIONS(s.packet(connect("s1", 30, false)), send(mqttsn::ConnAck{}));
  CHECK(s.session.state() == SessionState::Active);
  CHECK(s.session.keep_alive_s() == 30);
}

TEST_CASE("CONNECT again with a different will: ReconnectUpstream, CONNACK when reconnected") {
  Sensor s;
  s.connect_plain("s1", 60, false);
  s.packet(connect("s1", 60, false, true));
  s.packet(will_topic("w/s1"));
  EXPECT_ACTIONS(s.packet(mqttsn::WillMsg{bytes("bye")}), reconnect_up(will("w/s1", "bye")));
  CHECK(s.session.state() == SessionState::Connecting);
  EXPECT_ACTIONS(s.upstream(ev::UpstreamConnected{true}), send(mqttsn::ConnAck{}));
  CHECK(s.session.state() == SessionState::Active);
}

TEST_CASE("CleanSession=false, Will=false keeps the stored will; CleanSession=true deletes it") {
  Sensor s;
  s.packet(connect("s1", 60, false, true));
  s.packet(will_topic("w"));
  s.packet(mqttsn::WillMsg{bytes("x")});
  s.upstream(ev::UpstreamConnected{false});
  EXPECT_ACTIONS(s.packet(connect("s1", 60, false, false)), send(mqttsn::ConnAck{}));
  CHECK(s.session.will().has_value());
  EXPECT_ACTIONS(s.packet(connect("s1", 60, true, false)), reconnect_up(std::nullopt));
  CHECK_FALSE(s.session.will().has_value());
}

TEST_CASE("CleanSession=true on reconnect drops subscriptions upstream and registrations") {
  Sensor s;
  s.connect_plain("s1", 60, false);
  s.subscribed("a/b", QoS::AtLeastOnce, 1, 1, 1);
  s.subscribed("c/+", QoS::AtMostOnce, 2, 2, 0);
  CHECK(s.session.topics().size() == 1);
  EXPECT_ACTIONS(s.packet(connect("s1", 60, true)), unsubscribe_up(3, "a/b"),
                 unsubscribe_up(4, "c/+"), send(mqttsn::ConnAck{}));
  CHECK(s.session.subscription_count() == 0);
  CHECK(s.session.topics().size() == 0);
  // The old topic id means nothing now.
  EXPECT_ACTIONS(s.packet(publish(TopicIdType::Normal, 1, QoS::AtLeastOnce, 9, "x")),
                 send(mqttsn::PubAck{1, 9, ReturnCode::RejectedInvalidTopicId}));
}

TEST_CASE("upstream reconnect without a broker session: subscriptions are sent again") {
  Sensor s;
  s.connect_plain();
  s.subscribed("a/b", QoS::AtLeastOnce, 1, 1, 1);
  s.subscribed("c/#", QoS::ExactlyOnce, 2, 2, 0);
  auto a = s.upstream(ev::UpstreamLost{"broker went away"});
  EXPECT_ACTIONS(a);
  CHECK(has_log(a, "broker went away"));
  CHECK_FALSE(s.session.upstream_connected());
  EXPECT_ACTIONS(s.upstream(ev::UpstreamConnected{false}), subscribe_up(3, "a/b", 1),
                 subscribe_up(4, "c/#", 2));
  CHECK(s.session.upstream_connected());
  // Their answers concern no client exchange.
  EXPECT_ACTIONS(s.upstream(ev::UpstreamSubscribed{3, true, 1}));
  // With a broker session present, nothing to do.
  s.upstream(ev::UpstreamLost{"again"});
  EXPECT_ACTIONS(s.upstream(ev::UpstreamConnected{true}));
}

TEST_CASE("upstream not connected within connect_timeout: CONNACK congestion, session ends") {
  auto cfg = Sensor::default_config();
  cfg.connect_timeout = 4000ms;
  Sensor s(cfg);
  s.packet(connect("s1"));
  REQUIRE(s.session.awaiting_upstream());
  // A repeated CONNECT does not push the deadline back.
  s.after(3000ms);
  EXPECT_ACTIONS(s.packet(connect("s1")));
  EXPECT_ACTIONS(s.after(999ms));
  EXPECT_ACTIONS(s.after(1ms), send(mqttsn::ConnAck{ReturnCode::RejectedCongestion}),
                 end_session(false));
  CHECK(s.session.state() == SessionState::Disconnected);
  CHECK_FALSE(s.session.awaiting_upstream());
  // A late connect completion changes nothing: no CONNACK after the 0x01.
  EXPECT_ACTIONS(s.upstream(ev::UpstreamConnected{false}));
}

TEST_CASE("connect_timeout does not apply once connected, nor when it is 0") {
  auto cfg = Sensor::default_config();
  cfg.connect_timeout = 4000ms;
  Sensor s(cfg);
  s.connect_plain("s1", 0);
  EXPECT_ACTIONS(s.after(10000ms));
  CHECK(s.session.state() == SessionState::Active);
  Sensor t;  // default: 0
  t.packet(connect("s2"));
  EXPECT_ACTIONS(t.after(60000ms));
  CHECK(t.session.awaiting_upstream());
}
