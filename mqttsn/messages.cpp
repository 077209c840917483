#include "mqttsn/messages.hpp"

namespace mqttsn {
namespace {

// One overload per message struct; the compiler rejects a Message alternative without one.
constexpr MsgType type_for(const Advertise&) noexcept {
  return MsgType::ADVERTISE;
}
constexpr MsgType type_for(const SearchGw&) noexcept {
  return MsgType::SEARCHGW;
}
constexpr MsgType type_for(const GwInfo&) noexcept {
  return MsgType::GWINFO;
}
constexpr MsgType type_for(const Connect&) noexcept {
  return MsgType::CONNECT;
}
constexpr MsgType type_for(const ConnAck&) noexcept {
  return MsgType::CONNACK;
}
constexpr MsgType type_for(const WillTopicReq&) noexcept {
  return MsgType::WILLTOPICREQ;
}
constexpr MsgType type_for(const WillTopic&) noexcept {
  return MsgType::WILLTOPIC;
}
constexpr MsgType type_for(const WillMsgReq&) noexcept {
  return MsgType::WILLMSGREQ;
}
constexpr MsgType type_for(const WillMsg&) noexcept {
  return MsgType::WILLMSG;
}
constexpr MsgType type_for(const Register&) noexcept {
  return MsgType::REGISTER;
}
constexpr MsgType type_for(const RegAck&) noexcept {
  return MsgType::REGACK;
}
constexpr MsgType type_for(const Publish&) noexcept {
  return MsgType::PUBLISH;
}
constexpr MsgType type_for(const PubAck&) noexcept {
  return MsgType::PUBACK;
}
constexpr MsgType type_for(const PubComp&) noexcept {
  return MsgType::PUBCOMP;
}
constexpr MsgType type_for(const PubRec&) noexcept {
  return MsgType::PUBREC;
}
constexpr MsgType type_for(const PubRel&) noexcept {
  return MsgType::PUBREL;
}
constexpr MsgType type_for(const Subscribe&) noexcept {
  return MsgType::SUBSCRIBE;
}
constexpr MsgType type_for(const SubAck&) noexcept {
  return MsgType::SUBACK;
}
constexpr MsgType type_for(const Unsubscribe&) noexcept {
  return MsgType::UNSUBSCRIBE;
}
constexpr MsgType type_for(const UnsubAck&) noexcept {
  return MsgType::UNSUBACK;
}
constexpr MsgType type_for(const PingReq&) noexcept {
  return MsgType::PINGREQ;
}
constexpr MsgType type_for(const PingResp&) noexcept {
  return MsgType::PINGRESP;
}
constexpr MsgType type_for(const Disconnect&) noexcept {
  return MsgType::DISCONNECT;
}
constexpr MsgType type_for(const WillTopicUpd&) noexcept {
  return MsgType::WILLTOPICUPD;
}
constexpr MsgType type_for(const WillTopicResp&) noexcept {
  return MsgType::WILLTOPICRESP;
}
constexpr MsgType type_for(const WillMsgUpd&) noexcept {
  return MsgType::WILLMSGUPD;
}
constexpr MsgType type_for(const WillMsgResp&) noexcept {
  return MsgType::WILLMSGRESP;
}
constexpr MsgType type_for(const Encapsulated&) noexcept {
  return MsgType::ENCAPSULATED;
}

}  // namespace

MsgType type_of(const Message& m) noexcept {
  return std::visit([](const auto& v) noexcept { return type_for(v); }, m);
}

}  // namespace mqttsn
