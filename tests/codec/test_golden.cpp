// Golden vectors (golden.hpp): encode → exact bytes, decode → exact message, for every type.
#include <set>

#include "golden.hpp"
#include "test_util.hpp"

using namespace mqttsn;
using codec_test::show;

TEST_CASE("golden vectors: decode gives the message, encode gives the bytes") {
  for (const auto& v : golden::vectors()) {
    CAPTURE(v.name);
    const auto r = decode(v.bytes);
    REQUIRE_MESSAGE(std::holds_alternative<Message>(r), show(v.bytes) << " -> " << r);
    CHECK(std::get<Message>(r) == v.msg);
    CHECK(type_of(v.msg) == static_cast<MsgType>(v.bytes[v.bytes[0] == 0x01 ? 3 : 1]));
    if (v.encode_matches) {
      CHECK(encode(v.msg) == v.bytes);
      Bytes buf{0xAA};  // encode_into appends
      REQUIRE(encode_into(v.msg, buf));
      CHECK(Bytes(buf.begin() + 1, buf.end()) == v.bytes);
    } else {
      // Decode-only vectors (3-octet Length on a short frame) re-encode in the short form.
      const auto again = encode(v.msg);
      CHECK(again.size() + 2 == v.bytes.size());
      CHECK(std::get<Message>(decode(again)) == v.msg);
    }
  }
}

TEST_CASE("golden vectors cover every message type of §5.2.2 Table 3") {
  std::set<MsgType> seen;
  for (const auto& v : golden::vectors()) seen.insert(type_of(v.msg));
  CHECK(seen.size() == std::variant_size_v<Message>);  // 28 types incl. ENCAPSULATED
}

TEST_CASE("Length form: 1 octet up to 255, 0x01 + 2 octets above") {
  Publish p;
  p.topic_id = 1;
  p.data.assign(248, 0x55);  // 2 header + 5 fixed + 248 = 255
  auto b = encode(p);
  REQUIRE(b.size() == 255);
  CHECK(b[0] == 0xFF);
  CHECK(b[1] == 0x0C);

  p.data.assign(249, 0x55);  // 256 octets in short form is impossible: 4 + 5 + 249 = 258
  b = encode(p);
  REQUIRE(b.size() == 258);
  CHECK(b[0] == 0x01);
  CHECK(b[1] == 0x01);
  CHECK(b[2] == 0x02);
  CHECK(b[3] == 0x0C);
  CHECK(std::get<Message>(decode(b)) == Message{p});

  p.data.assign(65535 - 9, 0x55);  // the largest frame: 65535
  b = encode(p);
  REQUIRE(b.size() == 65535);
  CHECK(b[1] == 0xFF);
  CHECK(b[2] == 0xFF);
  CHECK(std::get<Message>(decode(b)) == Message{p});
}

TEST_CASE("frames above 65535 octets are not encodable") {
  Publish p;
  p.data.assign(65535 - 8, 0x55);  // 65536 octets
  CHECK(encode(p).empty());
  Bytes out{1, 2, 3};
  CHECK_FALSE(encode_into(p, out));
  CHECK(out == Bytes{1, 2, 3});
}

TEST_CASE("encapsulation with a long Wireless Node Id uses the 3-octet Length") {
  Encapsulated e;
  e.ctrl = 0x02;
  e.wireless_node_id.assign(300, 0x7E);
  e.message = {0x02, 0x17};  // PINGRESP
  const auto b = encode(e);
  REQUIRE(b.size() == 4 + 1 + 300 + 2);
  CHECK(b[0] == 0x01);
  CHECK(((b[1] << 8) | b[2]) == 305);  // up to the end of the Wireless Node Id
  CHECK(b[3] == 0xFE);
  CHECK(std::get<Message>(decode(b)) == Message{e});
}

TEST_CASE("WILLTOPIC with an empty topic encodes as the 2-octet form, flags dropped") {
  WillTopic w;
  w.flags.qos = QoS::ExactlyOnce;
  CHECK(encode(w) == Bytes{0x02, 0x07});
  WillTopicUpd u;
  u.flags.retain = true;
  CHECK(encode(u) == Bytes{0x02, 0x1A});
}

TEST_CASE("Flags octet: every value round-trips except TopicIdType 0b11") {
  for (unsigned o = 0; o < 256; ++o) {
    CAPTURE(o);
    const auto f = decode_flags(static_cast<std::uint8_t>(o));
    if ((o & 0x03) == 0x03) {
      CHECK_FALSE(f.has_value());
      continue;
    }
    REQUIRE(f.has_value());
    CHECK(encode_flags(*f) == o);
  }
  const auto f = decode_flags(0xFE);  // DUP, QoS -1, Retain, Will, CleanSession, short
  REQUIRE(f);
  CHECK(f->dup);
  CHECK(f->qos == QoS::MinusOne);
  CHECK(f->retain);
  CHECK(f->will);
  CHECK(f->clean_session);
  CHECK(f->topic_id_type == TopicIdType::Short);
}

TEST_CASE("flag bits a message type does not use are kept") {
  // PUBLISH with Will and CleanSession set (not used in PUBLISH): 0x2C = QoS 1 | Will | Clean.
  const Bytes b{0x08, 0x0C, 0x2C, 0x00, 0x01, 0x00, 0x07, 0x41};
  const auto m = std::get<Publish>(std::get<Message>(decode(b)));
  CHECK(m.flags.will);
  CHECK(m.flags.clean_session);
  CHECK(encode(m) == b);
}

TEST_CASE("frame_length reads both Length forms") {
  CHECK_FALSE(frame_length(Bytes{}).has_value());
  CHECK_FALSE(frame_length(Bytes{0x00}).has_value());
  CHECK(frame_length(Bytes{0x02}) == 2u);
  CHECK(frame_length(Bytes{0xFF, 0x0C}) == 255u);
  CHECK_FALSE(frame_length(Bytes{0x01}).has_value());
  CHECK_FALSE(frame_length(Bytes{0x01, 0x01}).has_value());
  CHECK(frame_length(Bytes{0x01, 0x01, 0x35}) == 309u);
  CHECK(frame_length(Bytes{0x01, 0x00, 0x04, 0x17}) == 4u);
  CHECK_FALSE(frame_length(Bytes{0x01, 0x00, 0x03}).has_value());
  // Encapsulation: only the header up to the Wireless Node Id.
  CHECK(frame_length(Bytes{0x05, 0xFE, 0x01, 0x12, 0x34, 0x04, 0x0F, 0x00, 0x07}) == 5u);
}
