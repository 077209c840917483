// Golden byte vectors, typed from the spec tables (§5.4, §5.5), annotated octet by octet.
// Shared by the doctest suite, codec_tool (scapy cross-check) and the fuzz corpus writer.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mqttsn/codec.hpp"
#include "mqttsn/messages.hpp"

namespace golden {

using mqttsn::Bytes;
using mqttsn::DecodeError;
using mqttsn::Flags;
using mqttsn::Message;
using mqttsn::QoS;
using mqttsn::ReturnCode;
using mqttsn::TopicIdType;

// How a field of the variable part behaves when the frame is cut inside or before it
// (the Length octet adjusted to the cut size).
struct Field {
  std::string_view name;
  std::size_t size;  // octets; 0 = variable, runs to the end
  // What a cut at the start of this field gives: Truncated for fixed fields, the specific
  // error for required variable fields, or nothing (decodes) for optional variable ones.
  std::optional<DecodeError> when_cut_before;
};

struct Vector {
  std::string_view name;
  Bytes bytes;
  Message msg;
  bool encode_matches = true;  // false: decode-only (e.g. 3-octet Length on a short frame)
  std::vector<Field> layout;   // fields after MsgType, in order (short Length form only)
};

inline Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}
inline Bytes str(std::string_view s) {
  return Bytes(s.begin(), s.end());
}
inline Bytes filled(std::size_t n) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(i & 0xFF);
  return b;
}

inline Flags flags(bool dup, QoS q, bool retain, bool will, bool clean, TopicIdType t) {
  Flags f;
  f.dup = dup;
  f.qos = q;
  f.retain = retain;
  f.will = will;
  f.clean_session = clean;
  f.topic_id_type = t;
  return f;
}

constexpr auto T = DecodeError::Truncated;
const Field kFlags{"Flags", 1, T};
const Field kMsgId{"MsgId", 2, T};
const Field kTopicId{"TopicId", 2, T};
const Field kReturnCode{"ReturnCode", 1, T};
const Field kDuration{"Duration", 2, T};

inline std::vector<Vector> vectors() {
  using namespace mqttsn;
  std::vector<Vector> v;

  // Table 6 ADVERTISE: Length 5 | MsgType 0x00 | GwId 0x01 | Duration 0x0384 (900 s)
  v.push_back({"advertise",
               {0x05, 0x00, 0x01, 0x03, 0x84},
               Advertise{1, 900},
               true,
               {{"GwId", 1, T}, kDuration}});
  // Table 7 SEARCHGW: Length 3 | MsgType 0x01 | Radius 0x00 (all nodes)
  v.push_back({"searchgw", {0x03, 0x01, 0x00}, SearchGw{0}, true, {{"Radius", 1, T}}});
  // Table 8 GWINFO from a gateway: Length 3 | MsgType 0x02 | GwId 0x07
  v.push_back({"gwinfo", {0x03, 0x02, 0x07}, GwInfo{7, {}}, true, {{"GwId", 1, T}}});
  // Table 8 GWINFO from a client: Length 7 | MsgType 0x02 | GwId 0x07 | GwAdd C0 A8 01 02
  v.push_back({"gwinfo_gwadd",
               {0x07, 0x02, 0x07, 0xC0, 0xA8, 0x01, 0x02},
               GwInfo{7, {0xC0, 0xA8, 0x01, 0x02}},
               true,
               {{"GwId", 1, T}, {"GwAdd", 0, std::nullopt}}});
  // Table 9 CONNECT: Length 13 | MsgType 0x04 | Flags 0x0C (Will, CleanSession) |
  //   ProtocolId 0x01 | Duration 0x003C (60 s) | ClientId "sensor1"
  v.push_back(
      {"connect",
       cat({{0x0D, 0x04, 0x0C, 0x01, 0x00, 0x3C}, str("sensor1")}),
       Connect{flags(false, QoS::AtMostOnce, false, true, true, TopicIdType::Normal), 0x01, 60,
               "sensor1"},
       true,
       {kFlags, {"ProtocolId", 1, T}, kDuration, {"ClientId", 0, DecodeError::EmptyClientId}}});
  // Table 10 CONNACK: Length 3 | MsgType 0x05 | ReturnCode 0x00 (accepted)
  v.push_back({"connack", {0x03, 0x05, 0x00}, ConnAck{ReturnCode::Accepted}, true, {kReturnCode}});
  // Table 10 CONNACK: ReturnCode 0x01 (rejected: congestion)
  v.push_back({"connack_congestion",
               {0x03, 0x05, 0x01},
               ConnAck{ReturnCode::RejectedCongestion},
               true,
               {kReturnCode}});
  // Table 11 WILLTOPICREQ: Length 2 | MsgType 0x06
  v.push_back({"willtopicreq", {0x02, 0x06}, WillTopicReq{}, true, {}});
  // Table 12 WILLTOPIC: Length 9 | MsgType 0x07 | Flags 0x30 (QoS 1, Retain) | WillTopic "will/t"
  v.push_back(
      {"willtopic",
       cat({{0x09, 0x07, 0x30}, str("will/t")}),
       WillTopic{flags(false, QoS::AtLeastOnce, true, false, false, TopicIdType::Normal), "will/t"},
       true,
       // Cut before Flags: the valid empty form; cut before WillTopic: EmptyTopic.
       {{"Flags", 1, std::nullopt}, {"WillTopic", 0, DecodeError::EmptyTopic}}});
  // §5.4.7 empty WILLTOPIC: Length 2 | MsgType 0x07 (no Flags, no WillTopic: delete the will)
  v.push_back({"willtopic_empty", {0x02, 0x07}, WillTopic{}, true, {}});
  // Table 11 WILLMSGREQ: Length 2 | MsgType 0x08
  v.push_back({"willmsgreq", {0x02, 0x08}, WillMsgReq{}, true, {}});
  // Table 13 WILLMSG: Length 5 | MsgType 0x09 | WillMsg "bye"
  v.push_back({"willmsg",
               cat({{0x05, 0x09}, str("bye")}),
               WillMsg{str("bye")},
               true,
               {{"WillMsg", 0, std::nullopt}}});
  // Table 14 REGISTER: Length 9 | MsgType 0x0A | TopicId 0x0001 | MsgId 0x0002 | TopicName "a/b"
  v.push_back({"register",
               cat({{0x09, 0x0A, 0x00, 0x01, 0x00, 0x02}, str("a/b")}),
               Register{1, 2, "a/b"},
               true,
               {kTopicId, kMsgId, {"TopicName", 0, DecodeError::EmptyTopic}}});
  // Table 15 REGACK: Length 7 | MsgType 0x0B | TopicId 0x0001 | MsgId 0x0002 | ReturnCode 0x00
  v.push_back({"regack",
               {0x07, 0x0B, 0x00, 0x01, 0x00, 0x02, 0x00},
               RegAck{1, 2, ReturnCode::Accepted},
               true,
               {kTopicId, kMsgId, kReturnCode}});
  // Table 16 PUBLISH: Length 9 | MsgType 0x0C | Flags 0x20 (QoS 1, normal) | TopicId 0x0001 |
  //   MsgId 0x0007 | Data "hi"
  v.push_back({"publish_qos1",
               cat({{0x09, 0x0C, 0x20, 0x00, 0x01, 0x00, 0x07}, str("hi")}),
               Publish{flags(false, QoS::AtLeastOnce, false, false, false, TopicIdType::Normal), 1,
                       7, str("hi")},
               true,
               {kFlags, kTopicId, kMsgId, {"Data", 0, std::nullopt}}});
  // PUBLISH QoS -1 to a short topic: Length 8 | MsgType 0x0C | Flags 0x62 (QoS 0b11, short) |
  //   TopicId 'a' 'b' | MsgId 0x0000 | Data 0x01
  v.push_back(
      {"publish_qosm1_short",
       {0x08, 0x0C, 0x62, 0x61, 0x62, 0x00, 0x00, 0x01},
       Publish{
           flags(false, QoS::MinusOne, false, false, false, TopicIdType::Short), 0x6162, 0, {0x01}},
       true,
       {kFlags, kTopicId, kMsgId, {"Data", 0, std::nullopt}}});
  // PUBLISH: Length 7 | MsgType 0x0C | Flags 0xD1 (DUP, QoS 2, Retain, predefined) |
  //   TopicId 0x0005 | MsgId 0x1234 | Data empty
  v.push_back({"publish_dup_qos2_retain_predef",
               {0x07, 0x0C, 0xD1, 0x00, 0x05, 0x12, 0x34},
               Publish{flags(true, QoS::ExactlyOnce, true, false, false, TopicIdType::Predefined),
                       5,
                       0x1234,
                       {}},
               true,
               {kFlags, kTopicId, kMsgId}});
  // §5.2.1 3-octet Length: 0x01 | 0x0135 (309 = 4 header + 5 fixed + 300 Data) | MsgType 0x0C |
  //   Flags 0x00 | TopicId 0x0001 | MsgId 0x0000 | Data 300 octets 00 01 02 ...
  v.push_back({"publish_long",
               cat({{0x01, 0x01, 0x35, 0x0C, 0x00, 0x00, 0x01, 0x00, 0x00}, filled(300)}),
               Publish{Flags{}, 1, 0, filled(300)},
               true,
               {}});
  // Table 17 PUBACK: Length 7 | MsgType 0x0D | TopicId 0x0001 | MsgId 0x0007 |
  //   ReturnCode 0x02 (rejected: invalid topic id)
  v.push_back({"puback",
               {0x07, 0x0D, 0x00, 0x01, 0x00, 0x07, 0x02},
               PubAck{1, 7, ReturnCode::RejectedInvalidTopicId},
               true,
               {kTopicId, kMsgId, kReturnCode}});
  // Table 18 PUBCOMP / PUBREC / PUBREL: Length 4 | MsgType | MsgId 0x0007
  v.push_back({"pubcomp", {0x04, 0x0E, 0x00, 0x07}, PubComp{7}, true, {kMsgId}});
  v.push_back({"pubrec", {0x04, 0x0F, 0x00, 0x07}, PubRec{7}, true, {kMsgId}});
  v.push_back({"pubrel", {0x04, 0x10, 0x00, 0x07}, PubRel{7}, true, {kMsgId}});
  // Table 19 SUBSCRIBE, topic name: Length 8 | MsgType 0x12 | Flags 0x20 (QoS 1, normal) |
  //   MsgId 0x0008 | TopicName "a/+"
  v.push_back({"subscribe_name",
               cat({{0x08, 0x12, 0x20, 0x00, 0x08}, str("a/+")}),
               Subscribe{flags(false, QoS::AtLeastOnce, false, false, false, TopicIdType::Normal),
                         8, "a/+", 0},
               true,
               {kFlags, kMsgId, {"TopicName", 0, DecodeError::EmptyTopic}}});
  // SUBSCRIBE, predefined id: Length 7 | MsgType 0x12 | Flags 0x01 | MsgId 0x0009 | TopicId 0x0005
  v.push_back(
      {"subscribe_predef",
       {0x07, 0x12, 0x01, 0x00, 0x09, 0x00, 0x05},
       Subscribe{flags(false, QoS::AtMostOnce, false, false, false, TopicIdType::Predefined), 9, "",
                 5},
       true,
       {kFlags, kMsgId, kTopicId}});
  // SUBSCRIBE, short name: Length 7 | MsgType 0x12 | Flags 0xC2 (DUP, QoS 2, short) |
  //   MsgId 0x000A | TopicId 'a' 'b'
  v.push_back({"subscribe_short",
               {0x07, 0x12, 0xC2, 0x00, 0x0A, 0x61, 0x62},
               Subscribe{flags(true, QoS::ExactlyOnce, false, false, false, TopicIdType::Short), 10,
                         "", 0x6162},
               true,
               {kFlags, kMsgId, kTopicId}});
  // Table 20 SUBACK: Length 8 | MsgType 0x13 | Flags 0x20 (granted QoS 1) | TopicId 0x0005 |
  //   MsgId 0x0008 | ReturnCode 0x00
  v.push_back({"suback",
               {0x08, 0x13, 0x20, 0x00, 0x05, 0x00, 0x08, 0x00},
               SubAck{flags(false, QoS::AtLeastOnce, false, false, false, TopicIdType::Normal), 5,
                      8, ReturnCode::Accepted},
               true,
               {kFlags, kTopicId, kMsgId, kReturnCode}});
  // Table 19 UNSUBSCRIBE, topic name: Length 8 | MsgType 0x14 | Flags 0x00 | MsgId 0x000B |
  //   TopicName "a/b"
  v.push_back({"unsubscribe_name",
               cat({{0x08, 0x14, 0x00, 0x00, 0x0B}, str("a/b")}),
               Unsubscribe{Flags{}, 11, "a/b", 0},
               true,
               {kFlags, kMsgId, {"TopicName", 0, DecodeError::EmptyTopic}}});
  // UNSUBSCRIBE, predefined: Length 7 | MsgType 0x14 | Flags 0x01 | MsgId 0x000C | TopicId 0x0005
  v.push_back(
      {"unsubscribe_predef",
       {0x07, 0x14, 0x01, 0x00, 0x0C, 0x00, 0x05},
       Unsubscribe{flags(false, QoS::AtMostOnce, false, false, false, TopicIdType::Predefined), 12,
                   "", 5},
       true,
       {kFlags, kMsgId, kTopicId}});
  // UNSUBSCRIBE, short: Length 7 | MsgType 0x14 | Flags 0x02 | MsgId 0x000D | TopicId 'a' 'b'
  v.push_back({"unsubscribe_short",
               {0x07, 0x14, 0x02, 0x00, 0x0D, 0x61, 0x62},
               Unsubscribe{flags(false, QoS::AtMostOnce, false, false, false, TopicIdType::Short),
                           13, "", 0x6162},
               true,
               {kFlags, kMsgId, kTopicId}});
  // Table 21 UNSUBACK: Length 4 | MsgType 0x15 | MsgId 0x000B
  v.push_back({"unsuback", {0x04, 0x15, 0x00, 0x0B}, UnsubAck{11}, true, {kMsgId}});
  // Table 22 PINGREQ without ClientId: Length 2 | MsgType 0x16
  v.push_back({"pingreq", {0x02, 0x16}, PingReq{}, true, {}});
  // PINGREQ from a waking sleeper: Length 9 | MsgType 0x16 | ClientId "sensor1"
  v.push_back({"pingreq_clientid",
               cat({{0x09, 0x16}, str("sensor1")}),
               PingReq{"sensor1"},
               true,
               {{"ClientId", 0, std::nullopt}}});
  // Table 23 PINGRESP: Length 2 | MsgType 0x17
  v.push_back({"pingresp", {0x02, 0x17}, PingResp{}, true, {}});
  // Table 24 DISCONNECT without Duration: Length 2 | MsgType 0x18
  v.push_back({"disconnect", {0x02, 0x18}, Disconnect{}, true, {}});
  // DISCONNECT going to sleep: Length 4 | MsgType 0x18 | Duration 0x0E10 (3600 s)
  v.push_back({"disconnect_sleep",
               {0x04, 0x18, 0x0E, 0x10},
               Disconnect{3600},
               true,
               {{"Duration", 2, std::nullopt}}});  // cut at 0: plain DISCONNECT; at 1: Truncated
  // Table 25 WILLTOPICUPD: Length 9 | MsgType 0x1A | Flags 0x50 (QoS 2, Retain) | WillTopic
  // "will/t"
  v.push_back({"willtopicupd",
               cat({{0x09, 0x1A, 0x50}, str("will/t")}),
               WillTopicUpd{flags(false, QoS::ExactlyOnce, true, false, false, TopicIdType::Normal),
                            "will/t"},
               true,
               {{"Flags", 1, std::nullopt}, {"WillTopic", 0, DecodeError::EmptyTopic}}});
  // §5.4.22 empty WILLTOPICUPD: Length 2 | MsgType 0x1A
  v.push_back({"willtopicupd_empty", {0x02, 0x1A}, WillTopicUpd{}, true, {}});
  // Table 27 WILLTOPICRESP: Length 3 | MsgType 0x1B | ReturnCode 0x00
  v.push_back({"willtopicresp",
               {0x03, 0x1B, 0x00},
               WillTopicResp{ReturnCode::Accepted},
               true,
               {kReturnCode}});
  // Table 26 WILLMSGUPD: Length 5 | MsgType 0x1C | WillMsg "bye"
  v.push_back({"willmsgupd",
               cat({{0x05, 0x1C}, str("bye")}),
               WillMsgUpd{str("bye")},
               true,
               {{"WillMsg", 0, std::nullopt}}});
  // Table 27 WILLMSGRESP: Length 3 | MsgType 0x1D | ReturnCode 0x03 (rejected: not supported)
  v.push_back({"willmsgresp",
               {0x03, 0x1D, 0x03},
               WillMsgResp{ReturnCode::RejectedNotSupported},
               true,
               {kReturnCode}});
  // Table 28 ENCAPSULATED: Length 5 (up to the end of Wireless Node Id) | MsgType 0xFE |
  //   Ctrl 0x01 (radius 1) | Wireless Node Id 12 34 | MQTT-SN message: PUBREC MsgId 7 (04 0F 00 07)
  v.push_back({"encapsulated",
               {0x05, 0xFE, 0x01, 0x12, 0x34, 0x04, 0x0F, 0x00, 0x07},
               Encapsulated{0x01, {0x12, 0x34}, {0x04, 0x0F, 0x00, 0x07}},
               true,
               {}});
  // ENCAPSULATED CONNECT from a client behind a forwarder: Length 4 | MsgType 0xFE | Ctrl 0x00 |
  //   Wireless Node Id 0xAB | MQTT-SN message: CONNECT (Length 8, Flags 0x04, ProtocolId 1,
  //   Duration 10, ClientId "cl")
  v.push_back({"encapsulated_connect",
               {0x04, 0xFE, 0x00, 0xAB, 0x08, 0x04, 0x04, 0x01, 0x00, 0x0A, 0x63, 0x6C},
               Encapsulated{0x00, {0xAB}, {0x08, 0x04, 0x04, 0x01, 0x00, 0x0A, 0x63, 0x6C}},
               true,
               {}});

  // Decode-only: short frames sent with the 3-octet Length form (§5.2.1 allows it).
  // 0x01 | Length 0x0004 | MsgType 0x17 PINGRESP
  v.push_back({"pingresp_long_form", {0x01, 0x00, 0x04, 0x17}, PingResp{}, false, {}});
  // 0x01 | Length 0x000B | MsgType 0x0C | Flags 0x20 | TopicId 0x0001 | MsgId 0x0007 | Data "hi"
  v.push_back({"publish_long_form_small",
               cat({{0x01, 0x00, 0x0B, 0x0C, 0x20, 0x00, 0x01, 0x00, 0x07}, str("hi")}),
               Publish{flags(false, QoS::AtLeastOnce, false, false, false, TopicIdType::Normal), 1,
                       7, str("hi")},
               false,
               {}});
  return v;
}

}  // namespace golden
