// Printing: every message type and every error has a readable one-line form.
#include <set>
#include <sstream>

#include "golden.hpp"
#include "test_util.hpp"

using namespace mqttsn;

TEST_CASE("every golden message prints on one line, starting with its type name") {
  std::set<std::string> seen;
  for (const auto& v : golden::vectors()) {
    const auto s = to_string(v.msg);
    CAPTURE(s);
    CHECK(s.find('\n') == std::string::npos);
    CHECK(s.rfind(std::string(to_string(type_of(v.msg))) + "{", 0) == 0);
    CHECK(s.back() == '}');
    std::ostringstream os;
    os << v.msg;
    CHECK(os.str() == s);
    seen.insert(s);
  }
  // The two decode-only vectors print like pingresp and publish_qos1.
  CHECK(seen.size() == golden::vectors().size() - 2);
}

TEST_CASE("sample forms") {
  Publish p;
  p.flags.qos = QoS::AtLeastOnce;
  p.topic_id = 1;
  p.msg_id = 7;
  p.data = {0x48, 0x69, 0x00};
  CHECK(to_string(Message{p}) ==
        "PUBLISH{dup=0 qos=1 retain=0 will=0 clean=0 tid_type=normal topic_id=1 msg_id=7 "
        "data=48 69 00 \"Hi.\"(3)}");
  CHECK(to_string(Message{Disconnect{3600}}) == "DISCONNECT{duration=3600}");
  CHECK(to_string(Message{Disconnect{}}) == "DISCONNECT{}");
  CHECK(to_string(Message{ConnAck{ReturnCode::RejectedCongestion}}) ==
        "CONNACK{rc=rejected:congestion}");
  CHECK(to_string(Message{Register{0, 2, "a\"b\n"}}) ==
        "REGISTER{topic_id=0 msg_id=2 topic_name=\"a\\x22b\\x0A\"}");
  CHECK(to_string(Message{Encapsulated{1, {0xAB}, {0x02, 0x17}}}) ==
        "ENCAPSULATED{radius=1 node_id=AB \".\"(1) message=PINGRESP{}}");
}

TEST_CASE("long payloads are cut") {
  WillMsg w;
  w.will_msg.assign(1000, 0x41);
  const auto s = to_string(Message{w});
  CHECK(s.size() < 250);
  CHECK(s.find("...") != std::string::npos);
  CHECK(s.find("(1000)") != std::string::npos);
}

TEST_CASE("errors print with type, field and inner error") {
  DecodeFailure f;
  f.error = DecodeError::BadInnerMessage;
  f.type = MsgType::ENCAPSULATED;
  f.field = "MQTT-SN message";
  f.inner = DecodeError::LengthMismatch;
  CHECK(to_string(f) ==
        "DecodeFailure{bad encapsulated message type=ENCAPSULATED field=MQTT-SN message "
        "inner=(Length disagrees with datagram size)}");
  std::set<std::string_view> names;
  for (int e = 0; e <= static_cast<int>(DecodeError::BadInnerMessage); ++e)
    names.insert(to_string(static_cast<DecodeError>(e)));
  CHECK(names.size() == 13);
  std::ostringstream os;
  os << decode(Bytes{0x02, 0x03});
  CHECK(os.str() == "DecodeFailure{reserved MsgType field=MsgType}");
}
