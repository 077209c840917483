// SessionSnapshot: what survives a gateway restart. A session rebuilt from a snapshot behaves as
// the original did, and the revision moves exactly when the snapshot may have changed.
#include "helpers.hpp"

using namespace st;
using gw::SessionState;
namespace ev = gw::ev;

namespace {

mqttsn::PubAck puback(std::uint16_t topic_id, std::uint16_t msg_id) {
  return mqttsn::PubAck{topic_id, msg_id, ReturnCode::Accepted};
}

// A fresh session rebuilt from `snap` an hour after the original's time.
struct Restored {
  explicit Restored(const gw::SessionSnapshot& snap, gw::TimePoint at) : s() {
    s.now = at + 1h;
    actions = s.session.restore(snap, s.now);
  }
  Sensor s;
  Actions actions;
};

}  // namespace

TEST_CASE("snapshot -> restore: registrations, subscriptions, will and ids are the same") {
  Sensor s;
  s.packet(connect("s1", 30, false, true));
  s.packet(will_topic("dead/s1", QoS::AtLeastOnce, true));
  s.packet(mqttsn::WillMsg{bytes("rip")});
  s.upstream(ev::UpstreamConnected{false});
  s.packet(mqttsn::Register{0, 1, "up/temp"});
  s.subscribed("down/cmd", QoS::AtLeastOnce, 2, 1, 2);
  s.subscribed("down/#", QoS::ExactlyOnce, 3, 2, 0);
  const gw::SessionSnapshot snap = s.session.snapshot();
  CHECK(snap.state == SessionState::Active);
  CHECK(snap.client_id == "s1");
  CHECK_FALSE(snap.clean_session);
  CHECK(snap.keep_alive_s == 30);
  CHECK(snap.will == will("dead/s1", "rip", 1, true));
  CHECK(snap.topics ==
        std::vector<gw::TopicRegistration>{{1, "up/temp", true}, {2, "down/cmd", true}});
  CHECK(snap.subscriptions == std::vector<gw::Subscription>{{"down/#", 2}, {"down/cmd", 1}});

  Restored r(snap, s.now);
  // The upstream session is opened as a CONNECT would, with the sensor's CleanSession and will.
  EXPECT_ACTIONS(r.actions, connect_up("s1", false, 30, will("dead/s1", "rip", 1, true)));
  CHECK(has_log(r.actions, "restored active"));
  CHECK(r.s.session.state() == SessionState::Active);
  CHECK(r.s.session.snapshot() == snap);
  // The broker kept the session (CleanSession=false): nothing to subscribe again.
  EXPECT_ACTIONS(r.s.upstream(ev::UpstreamConnected{true}));
}

TEST_CASE("restored active session: a PUBLISH on a registered topic id is understood") {
  Sensor s;
  s.connect_plain("s1", 60, true);
  s.packet(mqttsn::Register{0, 1, "up/temp"});
  s.subscribed("down/cmd", QoS::AtLeastOnce, 2, 1, 2);
  Restored r(s.session.snapshot(), s.now);
  EXPECT_ACTIONS(r.actions, connect_up("s1", true, 60));
  // A clean upstream session has no subscriptions: they are made again.
  EXPECT_ACTIONS(r.s.upstream(ev::UpstreamConnected{false}), subscribe_up(1, "down/cmd", 1));
  EXPECT_ACTIONS(r.s.packet(publish(TopicIdType::Normal, 1, QoS::AtLeastOnce, 9, "21.5")),
                 publish_up(2, "up/temp", "21.5", 1));
  EXPECT_ACTIONS(r.s.upstream(ev::UpstreamDelivered{2}), send(puback(1, 9)));
  // A broker message on the subscribed topic goes out under the id the sensor was told.
  EXPECT_ACTIONS(r.s.upstream(message("down/cmd", "on", 1)),
                 send(down(TopicIdType::Normal, 2, QoS::AtLeastOnce, 1, "on")));
  EXPECT_ACTIONS(r.s.packet(puback(2, 1)));
  // Keep-alive supervision restarts from the last packet: 1.5 x 60 s.
  EXPECT_ACTIONS(r.s.after(89s));
  CHECK(r.s.session.state() == SessionState::Active);
  EXPECT_ACTIONS(r.s.after(1s), disconnect_up(), end_session(true));
}

TEST_CASE("restored sleeping session: PINGREQ gets the buffer in order, then PINGRESP") {
  Sensor s;
  s.connect_plain("s1");
  s.subscribed("t", QoS::AtLeastOnce, 1, 1, 1);
  s.packet(sleep_for(60));
  s.upstream(message("t", "m1", 1));
  s.upstream(message("t", "m2", 2));  // QoS min(1, 2) = 1
  s.upstream(message("t", "q0", 0));  // QoS 0 is not kept
  s.upstream(message("t", "m3", 1));
  const auto snap = s.session.snapshot();
  CHECK(snap.state == SessionState::Asleep);
  CHECK(snap.sleep_s == std::optional<std::uint16_t>(60));
  REQUIRE(snap.buffered.size() == 3);
  CHECK(snap.buffered[0].payload == bytes("m1"));
  CHECK(snap.buffered[2].payload == bytes("m3"));

  Restored r(snap, s.now);
  EXPECT_ACTIONS(r.actions, connect_up("s1", true, 60));
  CHECK(r.s.session.state() == SessionState::Asleep);
  CHECK(r.s.session.buffered() == 3);
  EXPECT_ACTIONS(r.s.upstream(ev::UpstreamConnected{false}), subscribe_up(1, "t", 1));
  // The sleep timer restarts from the restore: 60 s + 10 % before the sensor is lost.
  EXPECT_ACTIONS(r.s.after(65s));
  CHECK(r.s.session.state() == SessionState::Asleep);
  EXPECT_ACTIONS(r.s.packet(mqttsn::PingReq{"s1"}),
                 send(down(TopicIdType::Normal, 1, QoS::AtLeastOnce, 1, "m1")));
  EXPECT_ACTIONS(r.s.packet(puback(1, 1)),
                 send(down(TopicIdType::Normal, 1, QoS::AtLeastOnce, 2, "m2")));
  EXPECT_ACTIONS(r.s.packet(puback(1, 2)),
                 send(down(TopicIdType::Normal, 1, QoS::AtLeastOnce, 3, "m3")));
  EXPECT_ACTIONS(r.s.packet(puback(1, 3)), send(mqttsn::PingResp{}));
  CHECK(r.s.session.state() == SessionState::Asleep);
}

TEST_CASE("snapshot of an awake session: the message in flight is kept as a duplicate") {
  Sensor s;
  s.connect_plain("s1");
  s.subscribed("t", QoS::AtLeastOnce, 1, 1, 1);
  s.packet(sleep_for(60));
  s.upstream(message("t", "m1", 1));
  s.upstream(message("t", "m2", 1));
  s.packet(mqttsn::PingReq{"s1"});  // m1 in flight
  const auto snap = s.session.snapshot();
  CHECK(snap.state == SessionState::Asleep);
  REQUIRE(snap.buffered.size() == 2);
  CHECK(snap.buffered[0].msg_id == 1);
  CHECK(snap.buffered[0].dup);

  Restored r(snap, s.now);
  EXPECT_ACTIONS(r.s.packet(mqttsn::PingReq{"s1"}),
                 send(down(TopicIdType::Normal, 1, QoS::AtLeastOnce, 1, "m1", true)));
  EXPECT_ACTIONS(r.s.packet(puback(1, 1)),
                 send(down(TopicIdType::Normal, 1, QoS::AtLeastOnce, 2, "m2")));
}

TEST_CASE("a restored QoS 2 exchange waiting for PUBCOMP resends its PUBREL") {
  Sensor s;
  s.connect_plain("s1");
  s.subscribed("t", QoS::ExactlyOnce, 1, 1, 1);
  s.upstream(message("t", "m1", 2));
  s.packet(mqttsn::PubRec{1});
  const auto snap = s.session.snapshot();
  CHECK(snap.pubrel_msg_id == std::optional<std::uint16_t>(1));
  CHECK(snap.buffered.empty());

  Restored r(snap, s.now);
  r.s.upstream(ev::UpstreamConnected{true});
  // Any traffic that lets the session deliver finishes the exchange first.
  EXPECT_ACTIONS(r.s.upstream(message("t", "m2", 2)), send(mqttsn::PubRel{1}));
  EXPECT_ACTIONS(r.s.packet(mqttsn::PubComp{1}),
                 send(down(TopicIdType::Normal, 1, QoS::ExactlyOnce, 2, "m2")));
}

TEST_CASE("a parked (disconnected, CleanSession=false) session resumes with its CONNECT") {
  Sensor s;
  s.connect_plain("s1", 60, false);
  s.packet(mqttsn::Register{0, 1, "up/temp"});
  s.packet(mqttsn::Disconnect{});
  REQUIRE(s.session.state() == SessionState::Disconnected);
  const auto snap = s.session.snapshot();
  CHECK(snap.state == SessionState::Disconnected);

  Restored r(snap, s.now);
  EXPECT_ACTIONS(r.actions);  // no upstream session until the sensor comes back
  CHECK(r.s.session.state() == SessionState::Disconnected);
  EXPECT_ACTIONS(r.s.packet(connect("s1", 60, false)), connect_up("s1", false, 60));
  r.s.upstream(ev::UpstreamConnected{true});
  // The id survives; the sensor is told the name again before the gateway uses it (§6.3).
  EXPECT_ACTIONS(r.s.packet(publish(TopicIdType::Normal, 1, QoS::AtLeastOnce, 5, "x")),
                 publish_up(1, "up/temp", "x", 1));
}

TEST_CASE("revision: moves for what a snapshot holds, not for uplink PUBLISH") {
  Sensor s;
  s.connect_plain("s1");
  auto rev = s.session.revision();
  const auto moved = [&] {
    const bool m = s.session.revision() != rev;
    rev = s.session.revision();
    return m;
  };
  s.packet(mqttsn::Register{0, 1, "up/temp"});
  CHECK(moved());
  s.packet(publish(TopicIdType::Normal, 1, QoS::AtMostOnce, 0, "q0"));
  CHECK_FALSE(moved());
  s.packet(publish(TopicIdType::Normal, 1, QoS::AtLeastOnce, 7, "q1"));
  s.upstream(ev::UpstreamDelivered{1});
  CHECK_FALSE(moved());
  s.packet(mqttsn::PingReq{});
  CHECK_FALSE(moved());
  s.packet(subscribe("t", QoS::AtLeastOnce, 2));
  CHECK(moved());
  s.upstream(ev::UpstreamSubscribed{2, true, 1});
  CHECK(moved());
  s.upstream(message("t", "zero", 0));  // sent at once, nothing kept
  CHECK_FALSE(moved());
  s.upstream(message("t", "one", 1));  // in flight: kept until acknowledged
  CHECK(moved());
  s.packet(puback(2, 1));
  CHECK(moved());
  s.packet(sleep_for(60));
  CHECK(moved());
  s.packet(mqttsn::PingReq{"s1"});  // nothing buffered: asleep again at once, nothing kept moved
  CHECK_FALSE(moved());
  s.upstream(message("t", "later", 1));  // buffered while asleep
  CHECK(moved());
}
