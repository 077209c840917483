// Every malformed case on its own, each with its specific DecodeError (+ type and spec field).
#include "golden.hpp"
#include "test_util.hpp"

using namespace mqttsn;
using codec_test::fail;
using codec_test::failure_of;
using codec_test::show;

namespace {
int g_cases = 0;  // malformed datagrams checked, reported at the end

void expect(const Bytes& b, const DecodeFailure& want) {
  ++g_cases;
  CAPTURE(show(b));
  CHECK(failure_of(b) == want);
}

MsgType type_at(const Bytes& b) {
  return static_cast<MsgType>(b[b[0] == 0x01 ? 3 : 1]);
}
}  // namespace

TEST_CASE("empty datagram") {
  expect({}, fail(DecodeError::Empty));
}

TEST_CASE("header defects") {
  expect({0x02}, fail(DecodeError::TruncatedHeader, {}, "MsgType"));
  expect({0xFF}, fail(DecodeError::TruncatedHeader, {}, "MsgType"));
  expect({0x01}, fail(DecodeError::TruncatedHeader, {}, "Length"));
  expect({0x01, 0x00}, fail(DecodeError::TruncatedHeader, {}, "Length"));
  expect({0x01, 0x00, 0x04}, fail(DecodeError::TruncatedHeader, {}, "MsgType"));
  // Length values too small for the header they need.
  expect({0x00}, fail(DecodeError::BadLength, {}, "Length"));
  expect({0x00, 0x17}, fail(DecodeError::BadLength, {}, "Length"));
  expect({0x01, 0x00, 0x00, 0x17}, fail(DecodeError::BadLength, {}, "Length"));
  expect({0x01, 0x00, 0x02, 0x17}, fail(DecodeError::BadLength, {}, "Length"));
  expect({0x01, 0x00, 0x03, 0x17}, fail(DecodeError::BadLength, {}, "Length"));
}

TEST_CASE("reserved MsgType values: 0x03, 0x11, 0x19, 0x1E-0xFD, 0xFF") {
  std::vector<unsigned> reserved{0x03, 0x11, 0x19, 0xFF};
  for (unsigned t = 0x1E; t <= 0xFD; ++t) reserved.push_back(t);
  CHECK(reserved.size() == 228);
  for (unsigned t : reserved) {
    const auto o = static_cast<std::uint8_t>(t);
    expect({0x02, o}, fail(DecodeError::ReservedType, {}, "MsgType"));
    expect({0x05, o, 0x00, 0x00, 0x00}, fail(DecodeError::ReservedType, {}, "MsgType"));
    expect({0x01, 0x00, 0x04, o}, fail(DecodeError::ReservedType, {}, "MsgType"));
  }
}

TEST_CASE("every truncation point of every golden vector (Length left as sent)") {
  for (const auto& v : golden::vectors()) {
    CAPTURE(v.name);
    const bool long_form = v.bytes[0] == 0x01;
    const auto type = type_at(v.bytes);
    const bool encapsulated = type == MsgType::ENCAPSULATED;
    for (std::size_t k = 0; k < v.bytes.size(); ++k) {
      CAPTURE(k);
      const Bytes prefix(v.bytes.begin(), v.bytes.begin() + static_cast<std::ptrdiff_t>(k));
      if (k == 0) {
        expect(prefix, fail(DecodeError::Empty));
      } else if (long_form && k < 3) {
        expect(prefix, fail(DecodeError::TruncatedHeader, {}, "Length"));
      } else if (k < (long_form ? 4u : 2u)) {
        expect(prefix, fail(DecodeError::TruncatedHeader, {}, "MsgType"));
      } else if (encapsulated && k >= v.bytes[0]) {
        // Header complete: the inner frame is cut; its own error is reported inside.
        const Bytes inner(prefix.begin() + v.bytes[0], prefix.end());
        DecodeFailure want = fail(DecodeError::BadInnerMessage, type, "MQTT-SN message");
        want.inner = failure_of(inner).error;
        expect(prefix, want);
      } else {
        expect(prefix, fail(DecodeError::LengthMismatch, type, "Length"));
      }
    }
  }
}

TEST_CASE("every truncation point of every golden vector (Length adjusted to the cut)") {
  // Cutting inside or before each field of the spec table gives that field's error.
  for (const auto& v : golden::vectors()) {
    if (v.bytes[0] == 0x01 || type_at(v.bytes) == MsgType::ENCAPSULATED) continue;
    CAPTURE(v.name);
    const auto type = type_at(v.bytes);
    std::size_t offset = 2;  // first octet after MsgType
    for (const auto& field : v.layout) {
      const std::size_t end = field.size == 0 ? v.bytes.size() : offset + field.size;
      // Cut at the start of the field, then inside a fixed field.
      for (std::size_t cut = offset; cut < end && cut < v.bytes.size(); ++cut) {
        if (field.size == 0 && cut > offset) break;  // a shorter variable field still decodes
        CAPTURE(field.name);
        CAPTURE(cut);
        Bytes b{static_cast<std::uint8_t>(cut)};  // Length adjusted to the cut
        b.insert(b.end(), v.bytes.begin() + 1, v.bytes.begin() + static_cast<std::ptrdiff_t>(cut));
        std::optional<DecodeError> want =
            cut == offset ? field.when_cut_before : DecodeError::Truncated;
        if (want) {
          expect(b, fail(*want, type, field.name));
        } else {
          const auto r = decode(b);
          CHECK_MESSAGE(std::holds_alternative<Message>(r), show(b) << " -> " << r);
        }
      }
      offset = end;
    }
    CHECK(offset == v.bytes.size());  // the layout accounts for every octet
  }
}

TEST_CASE("Length field too large and too small for the datagram") {
  for (const auto& v : golden::vectors()) {
    CAPTURE(v.name);
    const auto type = type_at(v.bytes);
    if (type == MsgType::ENCAPSULATED) continue;  // its Length does not cover the datagram
    Bytes big = v.bytes;
    Bytes small = v.bytes;
    if (v.bytes[0] == 0x01) {
      big[2] = static_cast<std::uint8_t>(big[2] + 1);
      small[2] = static_cast<std::uint8_t>(small[2] - 1);
    } else {
      big[0] = static_cast<std::uint8_t>(big[0] + 1);
      small[0] = static_cast<std::uint8_t>(small[0] - 1);
    }
    expect(big, fail(DecodeError::LengthMismatch, type, "Length"));
    if (v.bytes[0] == 0x02) {  // Length 1 would be the 3-octet marker
      expect(small, fail(DecodeError::TruncatedHeader, {}, "Length"));
    } else if (v.bytes[0] == 0x01 && v.bytes[2] == 0x04) {
      expect(small, fail(DecodeError::BadLength, {}, "Length"));
    } else {
      expect(small, fail(DecodeError::LengthMismatch, type, "Length"));
    }
    // The datagram carries one octet more than the Length says.
    Bytes extra = v.bytes;
    extra.push_back(0x00);
    expect(extra, fail(DecodeError::LengthMismatch, type, "Length"));
  }
}

TEST_CASE("fixed-size messages with an extra octet (Length agreeing) give TrailingBytes") {
  for (const auto& v : golden::vectors()) {
    if (v.bytes[0] == 0x01) continue;
    const auto type = type_at(v.bytes);
    const bool variable =
        type == MsgType::ENCAPSULATED || (!v.layout.empty() && v.layout.back().size == 0) ||
        // Optional trailing fields: these grow into another valid form.
        type == MsgType::GWINFO || type == MsgType::WILLMSG || type == MsgType::WILLMSGUPD ||
        type == MsgType::PINGREQ || type == MsgType::WILLTOPIC || type == MsgType::WILLTOPICUPD ||
        type == MsgType::PUBLISH || type == MsgType::DISCONNECT;
    if (variable) continue;
    CAPTURE(v.name);
    Bytes b = v.bytes;
    b.push_back(0x00);
    b[0] = static_cast<std::uint8_t>(b.size());
    expect(b, fail(DecodeError::TrailingBytes, type));
  }
}

TEST_CASE("DISCONNECT Duration: 0 or 2 octets only") {
  expect({0x03, 0x18, 0x00}, fail(DecodeError::Truncated, MsgType::DISCONNECT, "Duration"));
  expect({0x05, 0x18, 0x00, 0x01, 0x02}, fail(DecodeError::TrailingBytes, MsgType::DISCONNECT));
}

TEST_CASE("reserved TopicIdType 0b11 in every message that carries Flags") {
  // PUBLISH, SUBSCRIBE, UNSUBSCRIBE: where TopicIdType is meaningful.
  expect({0x08, 0x0C, 0x23, 0x00, 0x01, 0x00, 0x07, 0x41},
         fail(DecodeError::ReservedTopicIdType, MsgType::PUBLISH, "Flags"));
  expect({0x07, 0x12, 0x03, 0x00, 0x09, 0x00, 0x05},
         fail(DecodeError::ReservedTopicIdType, MsgType::SUBSCRIBE, "Flags"));
  expect({0x07, 0x14, 0x03, 0x00, 0x09, 0x00, 0x05},
         fail(DecodeError::ReservedTopicIdType, MsgType::UNSUBSCRIBE, "Flags"));
  // CONNECT, WILLTOPIC(UPD), SUBACK do not use TopicIdType, but 0b11 is reserved everywhere
  // and Flags cannot hold it (see codec.hpp).
  expect({0x07, 0x04, 0x07, 0x01, 0x00, 0x0A, 0x63},
         fail(DecodeError::ReservedTopicIdType, MsgType::CONNECT, "Flags"));
  expect({0x04, 0x07, 0x33, 0x74},
         fail(DecodeError::ReservedTopicIdType, MsgType::WILLTOPIC, "Flags"));
  expect({0x04, 0x1A, 0x03, 0x74},
         fail(DecodeError::ReservedTopicIdType, MsgType::WILLTOPICUPD, "Flags"));
  expect({0x08, 0x13, 0x23, 0x00, 0x05, 0x00, 0x08, 0x00},
         fail(DecodeError::ReservedTopicIdType, MsgType::SUBACK, "Flags"));
}

TEST_CASE("empty topics and client ids") {
  expect({0x06, 0x0A, 0x00, 0x01, 0x00, 0x02},
         fail(DecodeError::EmptyTopic, MsgType::REGISTER, "TopicName"));
  expect({0x05, 0x12, 0x20, 0x00, 0x08},
         fail(DecodeError::EmptyTopic, MsgType::SUBSCRIBE, "TopicName"));
  expect({0x05, 0x14, 0x00, 0x00, 0x08},
         fail(DecodeError::EmptyTopic, MsgType::UNSUBSCRIBE, "TopicName"));
  expect({0x03, 0x07, 0x30}, fail(DecodeError::EmptyTopic, MsgType::WILLTOPIC, "WillTopic"));
  expect({0x03, 0x1A, 0x30}, fail(DecodeError::EmptyTopic, MsgType::WILLTOPICUPD, "WillTopic"));
  expect({0x06, 0x04, 0x04, 0x01, 0x00, 0x0A},
         fail(DecodeError::EmptyClientId, MsgType::CONNECT, "ClientId"));
}

TEST_CASE("SUBSCRIBE / UNSUBSCRIBE with predefined or short ids carry exactly 2 octets") {
  for (std::uint8_t t : {std::uint8_t{0x12}, std::uint8_t{0x14}}) {
    for (std::uint8_t tid : {std::uint8_t{0x01}, std::uint8_t{0x02}}) {
      const auto type = static_cast<MsgType>(t);
      expect({0x06, t, tid, 0x00, 0x09, 0x61}, fail(DecodeError::Truncated, type, "TopicId"));
      expect({0x05, t, tid, 0x00, 0x09}, fail(DecodeError::Truncated, type, "TopicId"));
      expect({0x08, t, tid, 0x00, 0x09, 0x61, 0x62, 0x63}, fail(DecodeError::TrailingBytes, type));
    }
  }
}

TEST_CASE("reserved ReturnCode values 0x04-0xFF") {
  for (unsigned rc : {0x04u, 0x80u, 0xFFu}) {
    const auto o = static_cast<std::uint8_t>(rc);
    expect({0x03, 0x05, o}, fail(DecodeError::BadReturnCode, MsgType::CONNACK, "ReturnCode"));
    expect({0x03, 0x1B, o}, fail(DecodeError::BadReturnCode, MsgType::WILLTOPICRESP, "ReturnCode"));
    expect({0x03, 0x1D, o}, fail(DecodeError::BadReturnCode, MsgType::WILLMSGRESP, "ReturnCode"));
    expect({0x07, 0x0B, 0x00, 0x01, 0x00, 0x02, o},
           fail(DecodeError::BadReturnCode, MsgType::REGACK, "ReturnCode"));
    expect({0x07, 0x0D, 0x00, 0x01, 0x00, 0x02, o},
           fail(DecodeError::BadReturnCode, MsgType::PUBACK, "ReturnCode"));
    expect({0x08, 0x13, 0x20, 0x00, 0x05, 0x00, 0x08, o},
           fail(DecodeError::BadReturnCode, MsgType::SUBACK, "ReturnCode"));
  }
}

TEST_CASE("encapsulation defects") {
  constexpr auto E = MsgType::ENCAPSULATED;
  auto bad_inner = [](DecodeError e) {
    auto f = fail(DecodeError::BadInnerMessage, MsgType::ENCAPSULATED, "MQTT-SN message");
    f.inner = e;
    return f;
  };
  // Length covers more than the datagram.
  expect({0x06, 0xFE, 0x01, 0x12, 0x34}, fail(DecodeError::LengthMismatch, E, "Length"));
  // No Ctrl octet.
  expect({0x02, 0xFE, 0x02, 0x17}, fail(DecodeError::Truncated, E, "Ctrl"));
  // No inner message at all.
  expect({0x05, 0xFE, 0x01, 0x12, 0x34}, bad_inner(DecodeError::Empty));
  // Inner message cut short (its Length says 4, 3 octets present).
  expect({0x05, 0xFE, 0x01, 0x12, 0x34, 0x04, 0x0F, 0x00}, bad_inner(DecodeError::LengthMismatch));
  // Inner message with an extra octet.
  expect({0x05, 0xFE, 0x01, 0x12, 0x34, 0x04, 0x0F, 0x00, 0x07, 0x00},
         bad_inner(DecodeError::LengthMismatch));
  // Inner message of a reserved type, and with a bad field.
  expect({0x03, 0xFE, 0x00, 0x02, 0x03}, bad_inner(DecodeError::ReservedType));
  expect({0x03, 0xFE, 0x00, 0x03, 0x05, 0x09}, bad_inner(DecodeError::BadReturnCode));
  expect({0x03, 0xFE, 0x00, 0x01}, bad_inner(DecodeError::TruncatedHeader));
  // Nested encapsulation.
  expect({0x03, 0xFE, 0x00, 0x03, 0xFE, 0x00, 0x02, 0x17},
         fail(DecodeError::NestedEncapsulation, E, "MQTT-SN message"));
  // A deep chain of encapsulations is rejected at the first level, without recursion.
  Bytes chain;
  for (int i = 0; i < 20000; ++i) chain.insert(chain.end(), {0x03, 0xFE, 0x00});
  chain.insert(chain.end(), {0x02, 0x17});
  expect(chain, fail(DecodeError::NestedEncapsulation, E, "MQTT-SN message"));
  // A forwarder may use an empty Wireless Node Id: that decodes.
  const Bytes empty_node{0x03, 0xFE, 0x00, 0x02, 0x17};
  CHECK(std::get<Message>(decode(empty_node)) == Message{Encapsulated{0x00, {}, {0x02, 0x17}}});
}

TEST_CASE("report malformed case count") {
  MESSAGE("malformed datagrams checked: " << g_cases);
  CHECK(g_cases > 0);
}
