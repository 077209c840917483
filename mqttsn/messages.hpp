// MQTT-SN v1.2 messages as plain values (spec §5).
// Each struct owns its bytes, compares with ==, and prints (see print.hpp).
// Field names follow the spec tables.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace mqttsn {

using Bytes = std::vector<std::uint8_t>;

// §5.2.1 MsgType values.
enum class MsgType : std::uint8_t {
  ADVERTISE = 0x00,
  SEARCHGW = 0x01,
  GWINFO = 0x02,
  CONNECT = 0x04,
  CONNACK = 0x05,
  WILLTOPICREQ = 0x06,
  WILLTOPIC = 0x07,
  WILLMSGREQ = 0x08,
  WILLMSG = 0x09,
  REGISTER = 0x0A,
  REGACK = 0x0B,
  PUBLISH = 0x0C,
  PUBACK = 0x0D,
  PUBCOMP = 0x0E,
  PUBREC = 0x0F,
  PUBREL = 0x10,
  SUBSCRIBE = 0x12,
  SUBACK = 0x13,
  UNSUBSCRIBE = 0x14,
  UNSUBACK = 0x15,
  PINGREQ = 0x16,
  PINGRESP = 0x17,
  DISCONNECT = 0x18,
  WILLTOPICUPD = 0x1A,
  WILLTOPICRESP = 0x1B,
  WILLMSGUPD = 0x1C,
  WILLMSGRESP = 0x1D,
  ENCAPSULATED = 0xFE,
};

// §5.3.10 ReturnCode values.
enum class ReturnCode : std::uint8_t {
  Accepted = 0x00,
  RejectedCongestion = 0x01,
  RejectedInvalidTopicId = 0x02,
  RejectedNotSupported = 0x03,
};

// §5.3.4 Flags, bits 1-0. 0b11 is reserved and never decoded into this enum.
enum class TopicIdType : std::uint8_t {
  Normal = 0b00,
  Predefined = 0b01,
  Short = 0b10,
};

// §5.3.4 Flags, bits 6-5. QoS -1 is 0b11 on the wire.
enum class QoS : std::int8_t {
  AtMostOnce = 0,
  AtLeastOnce = 1,
  ExactlyOnce = 2,
  MinusOne = -1,
};

// §5.3.4: the Flags octet. Messages that carry it keep all bits, so a decoded
// message re-encodes to the same octet; fields a message type does not use stay false/0.
struct Flags {
  bool dup = false;                                 // bit 7
  QoS qos = QoS::AtMostOnce;                        // bits 6-5
  bool retain = false;                              // bit 4
  bool will = false;                                // bit 3
  bool clean_session = false;                       // bit 2
  TopicIdType topic_id_type = TopicIdType::Normal;  // bits 1-0
  friend bool operator==(const Flags&, const Flags&) = default;
};

// §5.4.1
struct Advertise {
  std::uint8_t gw_id = 0;
  std::uint16_t duration = 0;  // seconds until the next ADVERTISE
  friend bool operator==(const Advertise&, const Advertise&) = default;
};

// §5.4.2
struct SearchGw {
  std::uint8_t radius = 0;
  friend bool operator==(const SearchGw&, const SearchGw&) = default;
};

// §5.4.3: GwAdd is present only when a client answers on behalf of a gateway.
struct GwInfo {
  std::uint8_t gw_id = 0;
  Bytes gw_add;
  friend bool operator==(const GwInfo&, const GwInfo&) = default;
};

// §5.4.4
struct Connect {
  Flags flags;  // Will, CleanSession
  std::uint8_t protocol_id = 0x01;
  std::uint16_t duration = 0;  // keep-alive, seconds
  std::string client_id;       // 1-23 characters
  friend bool operator==(const Connect&, const Connect&) = default;
};

// §5.4.5
struct ConnAck {
  ReturnCode return_code = ReturnCode::Accepted;
  friend bool operator==(const ConnAck&, const ConnAck&) = default;
};

// §5.4.6
struct WillTopicReq {
  friend bool operator==(const WillTopicReq&, const WillTopicReq&) = default;
};

// §5.4.7: an empty will_topic encodes as the 2-octet "empty WILLTOPIC" (delete the will).
struct WillTopic {
  Flags flags;  // QoS, Retain
  std::string will_topic;
  friend bool operator==(const WillTopic&, const WillTopic&) = default;
};

// §5.4.8
struct WillMsgReq {
  friend bool operator==(const WillMsgReq&, const WillMsgReq&) = default;
};

// §5.4.9
struct WillMsg {
  Bytes will_msg;
  friend bool operator==(const WillMsg&, const WillMsg&) = default;
};

// §5.4.10
struct Register {
  std::uint16_t topic_id = 0;
  std::uint16_t msg_id = 0;
  std::string topic_name;
  friend bool operator==(const Register&, const Register&) = default;
};

// §5.4.11
struct RegAck {
  std::uint16_t topic_id = 0;
  std::uint16_t msg_id = 0;
  ReturnCode return_code = ReturnCode::Accepted;
  friend bool operator==(const RegAck&, const RegAck&) = default;
};

// §5.4.12: for TopicIdType Short, topic_id holds the two characters (first in the high octet).
struct Publish {
  Flags flags;  // DUP, QoS, Retain, TopicIdType
  std::uint16_t topic_id = 0;
  std::uint16_t msg_id = 0;
  Bytes data;
  friend bool operator==(const Publish&, const Publish&) = default;
};

// §5.4.13
struct PubAck {
  std::uint16_t topic_id = 0;
  std::uint16_t msg_id = 0;
  ReturnCode return_code = ReturnCode::Accepted;
  friend bool operator==(const PubAck&, const PubAck&) = default;
};

// §5.4.14
struct PubRec {
  std::uint16_t msg_id = 0;
  friend bool operator==(const PubRec&, const PubRec&) = default;
};
struct PubRel {
  std::uint16_t msg_id = 0;
  friend bool operator==(const PubRel&, const PubRel&) = default;
};
struct PubComp {
  std::uint16_t msg_id = 0;
  friend bool operator==(const PubComp&, const PubComp&) = default;
};

// §5.4.15: TopicIdType Normal carries topic_name; Predefined and Short carry topic_id
// (Short: the two characters, first in the high octet). The unused field stays empty/0.
struct Subscribe {
  Flags flags;  // DUP, QoS, TopicIdType
  std::uint16_t msg_id = 0;
  std::string topic_name;
  std::uint16_t topic_id = 0;
  friend bool operator==(const Subscribe&, const Subscribe&) = default;
};

// §5.4.16
struct SubAck {
  Flags flags;  // QoS
  std::uint16_t topic_id = 0;
  std::uint16_t msg_id = 0;
  ReturnCode return_code = ReturnCode::Accepted;
  friend bool operator==(const SubAck&, const SubAck&) = default;
};

// §5.4.17: same topic fields as Subscribe.
struct Unsubscribe {
  Flags flags;  // TopicIdType
  std::uint16_t msg_id = 0;
  std::string topic_name;
  std::uint16_t topic_id = 0;
  friend bool operator==(const Unsubscribe&, const Unsubscribe&) = default;
};

// §5.4.18
struct UnsubAck {
  std::uint16_t msg_id = 0;
  friend bool operator==(const UnsubAck&, const UnsubAck&) = default;
};

// §5.4.19: ClientId only from a sleeping client waking up; empty means absent.
struct PingReq {
  std::string client_id;
  friend bool operator==(const PingReq&, const PingReq&) = default;
};

// §5.4.20
struct PingResp {
  friend bool operator==(const PingResp&, const PingResp&) = default;
};

// §5.4.21: a Duration means "going to sleep for that many seconds".
struct Disconnect {
  std::optional<std::uint16_t> duration;
  friend bool operator==(const Disconnect&, const Disconnect&) = default;
};

// §5.4.22: an empty will_topic encodes as the 2-octet form (delete the will).
struct WillTopicUpd {
  Flags flags;  // QoS, Retain
  std::string will_topic;
  friend bool operator==(const WillTopicUpd&, const WillTopicUpd&) = default;
};

// §5.4.23
struct WillMsgUpd {
  Bytes will_msg;
  friend bool operator==(const WillMsgUpd&, const WillMsgUpd&) = default;
};

// §5.4.24
struct WillTopicResp {
  ReturnCode return_code = ReturnCode::Accepted;
  friend bool operator==(const WillTopicResp&, const WillTopicResp&) = default;
};
struct WillMsgResp {
  ReturnCode return_code = ReturnCode::Accepted;
  friend bool operator==(const WillMsgResp&, const WillMsgResp&) = default;
};

// §5.5: ctrl carries the broadcast radius (bits 1-0); message is the encapsulated
// MQTT-SN frame, kept as bytes (decode checks that it is itself a valid, non-encapsulated message).
struct Encapsulated {
  std::uint8_t ctrl = 0;
  Bytes wireless_node_id;
  Bytes message;
  friend bool operator==(const Encapsulated&, const Encapsulated&) = default;
};

using Message =
    std::variant<Advertise, SearchGw, GwInfo, Connect, ConnAck, WillTopicReq, WillTopic, WillMsgReq,
                 WillMsg, Register, RegAck, Publish, PubAck, PubComp, PubRec, PubRel, Subscribe,
                 SubAck, Unsubscribe, UnsubAck, PingReq, PingResp, Disconnect, WillTopicUpd,
                 WillTopicResp, WillMsgUpd, WillMsgResp, Encapsulated>;

// The MsgType of a message value.
MsgType type_of(const Message& m) noexcept;

}  // namespace mqttsn
