// One-line readable forms: NAME{field=value ...}. Payloads print as hex plus printable ASCII.
#include "mqttsn/print.hpp"

#include <string>
#include <type_traits>

namespace mqttsn {
namespace {

constexpr std::size_t kMaxShownOctets = 32;  // longer payloads are cut, with their size shown

void append_uint(std::string& s, unsigned v) {
  s += std::to_string(v);
}

void append_hex_octet(std::string& s, std::uint8_t b) {
  constexpr char digits[] = "0123456789ABCDEF";
  s += digits[b >> 4];
  s += digits[b & 0x0F];
}

// data=48 69 "Hi"(2); cut payloads end with "..." in both parts.
template <class Range>
void append_payload(std::string& s, std::string_view name, const Range& bytes) {
  s += name;
  s += '=';
  const std::size_t n = bytes.size();
  const std::size_t shown = n < kMaxShownOctets ? n : kMaxShownOctets;
  std::string ascii;
  for (std::size_t i = 0; i < shown; ++i) {
    const auto b = static_cast<std::uint8_t>(bytes[i]);
    if (i != 0) s += ' ';
    append_hex_octet(s, b);
    ascii += (b >= 0x20 && b < 0x7F) ? static_cast<char>(b) : '.';
  }
  if (shown < n) {
    s += " ...";
    ascii += "...";
  }
  if (n != 0) s += ' ';
  s += '"';
  s += ascii;
  s += "\"(";
  append_uint(s, static_cast<unsigned>(n));
  s += ')';
}

// Strings from the wire are not trusted to be printable either.
void append_text(std::string& s, std::string_view name, std::string_view text) {
  s += name;
  s += "=\"";
  std::size_t i = 0;
  for (; i < text.size() && i < kMaxShownOctets * 2; ++i) {
    const auto b = static_cast<std::uint8_t>(text[i]);
    if (b >= 0x20 && b < 0x7F && b != '"' && b != '\\') {
      s += static_cast<char>(b);
    } else {
      s += "\\x";
      append_hex_octet(s, b);
    }
  }
  if (i < text.size()) s += "...";
  s += '"';
}

class Line {
 public:
  explicit Line(MsgType t) {
    s_ += to_string(t);
    s_ += '{';
  }
  Line& num(std::string_view name, unsigned v) {
    sep();
    s_ += name;
    s_ += '=';
    append_uint(s_, v);
    return *this;
  }
  Line& hex16(std::string_view name, std::uint16_t v) {
    sep();
    s_ += name;
    s_ += "=0x";
    append_hex_octet(s_, static_cast<std::uint8_t>(v >> 8));
    append_hex_octet(s_, static_cast<std::uint8_t>(v & 0xFF));
    return *this;
  }
  Line& word(std::string_view name, std::string_view v) {
    sep();
    s_ += name;
    s_ += '=';
    s_ += v;
    return *this;
  }
  Line& flags(const Flags& f) {
    sep();
    s_ += to_string(f);
    return *this;
  }
  Line& text(std::string_view name, std::string_view v) {
    sep();
    append_text(s_, name, v);
    return *this;
  }
  template <class Range>
  Line& payload(std::string_view name, const Range& r) {
    sep();
    append_payload(s_, name, r);
    return *this;
  }
  std::string str() { return s_ + '}'; }

 private:
  void sep() {
    if (s_.back() != '{') s_ += ' ';
  }
  std::string s_;
};

std::string describe(const Message& msg) {
  return std::visit(
      [&msg](const auto& m) -> std::string {
        using T = std::decay_t<decltype(m)>;
        Line l(type_of(msg));
        if constexpr (std::is_same_v<T, Advertise>) {
          l.num("gw_id", m.gw_id).num("duration", m.duration);
        } else if constexpr (std::is_same_v<T, SearchGw>) {
          l.num("radius", m.radius);
        } else if constexpr (std::is_same_v<T, GwInfo>) {
          l.num("gw_id", m.gw_id).payload("gw_add", m.gw_add);
        } else if constexpr (std::is_same_v<T, Connect>) {
          l.flags(m.flags)
              .num("protocol_id", m.protocol_id)
              .num("duration", m.duration)
              .text("client_id", m.client_id);
        } else if constexpr (std::is_same_v<T, ConnAck> || std::is_same_v<T, WillTopicResp> ||
                             std::is_same_v<T, WillMsgResp>) {
          l.word("rc", to_string(m.return_code));
        } else if constexpr (std::is_same_v<T, WillTopic> || std::is_same_v<T, WillTopicUpd>) {
          if (m.will_topic.empty())
            l.word("will_topic", "(empty: delete will)");
          else
            l.flags(m.flags).text("will_topic", m.will_topic);
        } else if constexpr (std::is_same_v<T, WillMsg> || std::is_same_v<T, WillMsgUpd>) {
          l.payload("will_msg", m.will_msg);
        } else if constexpr (std::is_same_v<T, Register>) {
          l.num("topic_id", m.topic_id).num("msg_id", m.msg_id).text("topic_name", m.topic_name);
        } else if constexpr (std::is_same_v<T, RegAck> || std::is_same_v<T, PubAck>) {
          l.num("topic_id", m.topic_id)
              .num("msg_id", m.msg_id)
              .word("rc", to_string(m.return_code));
        } else if constexpr (std::is_same_v<T, Publish>) {
          l.flags(m.flags).num("topic_id", m.topic_id).num("msg_id", m.msg_id);
          if (m.flags.topic_id_type == TopicIdType::Short) {
            const char name[] = {static_cast<char>(m.topic_id >> 8),
                                 static_cast<char>(m.topic_id & 0xFF)};
            l.text("short_topic", std::string_view(name, 2));
          }
          l.payload("data", m.data);
        } else if constexpr (std::is_same_v<T, PubComp> || std::is_same_v<T, PubRec> ||
                             std::is_same_v<T, PubRel> || std::is_same_v<T, UnsubAck>) {
          l.num("msg_id", m.msg_id);
        } else if constexpr (std::is_same_v<T, Subscribe> || std::is_same_v<T, Unsubscribe>) {
          l.flags(m.flags).num("msg_id", m.msg_id);
          if (m.flags.topic_id_type == TopicIdType::Normal)
            l.text("topic_name", m.topic_name);
          else
            l.num("topic_id", m.topic_id);
        } else if constexpr (std::is_same_v<T, SubAck>) {
          l.flags(m.flags)
              .num("topic_id", m.topic_id)
              .num("msg_id", m.msg_id)
              .word("rc", to_string(m.return_code));
        } else if constexpr (std::is_same_v<T, PingReq>) {
          if (!m.client_id.empty()) l.text("client_id", m.client_id);
        } else if constexpr (std::is_same_v<T, Disconnect>) {
          if (m.duration) l.num("duration", *m.duration);
        } else if constexpr (std::is_same_v<T, Encapsulated>) {
          l.num("radius", m.ctrl & 0x03u);
          if ((m.ctrl & ~0x03u) != 0) l.num("ctrl", m.ctrl);
          l.payload("node_id", m.wireless_node_id);
          const auto inner = decode(m.message);
          if (const auto* im = std::get_if<Message>(&inner))
            l.word("message", describe(*im));
          else
            l.payload("message", m.message);
        }
        return l.str();
      },
      msg);
}

}  // namespace

std::string_view to_string(MsgType t) noexcept {
  switch (t) {
    case MsgType::ADVERTISE:
      return "ADVERTISE";
    case MsgType::SEARCHGW:
      return "SEARCHGW";
    case MsgType::GWINFO:
      return "GWINFO";
    case MsgType::CONNECT:
      return "CONNECT";
    case MsgType::CONNACK:
      return "CONNACK";
    case MsgType::WILLTOPICREQ:
      return "WILLTOPICREQ";
    case MsgType::WILLTOPIC:
      return "WILLTOPIC";
    case MsgType::WILLMSGREQ:
      return "WILLMSGREQ";
    case MsgType::WILLMSG:
      return "WILLMSG";
    case MsgType::REGISTER:
      return "REGISTER";
    case MsgType::REGACK:
      return "REGACK";
    case MsgType::PUBLISH:
      return "PUBLISH";
    case MsgType::PUBACK:
      return "PUBACK";
    case MsgType::PUBCOMP:
      return "PUBCOMP";
    case MsgType::PUBREC:
      return "PUBREC";
    case MsgType::PUBREL:
      return "PUBREL";
    case MsgType::SUBSCRIBE:
      return "SUBSCRIBE";
    case MsgType::SUBACK:
      return "SUBACK";
    case MsgType::UNSUBSCRIBE:
      return "UNSUBSCRIBE";
    case MsgType::UNSUBACK:
      return "UNSUBACK";
    case MsgType::PINGREQ:
      return "PINGREQ";
    case MsgType::PINGRESP:
      return "PINGRESP";
    case MsgType::DISCONNECT:
      return "DISCONNECT";
    case MsgType::WILLTOPICUPD:
      return "WILLTOPICUPD";
    case MsgType::WILLTOPICRESP:
      return "WILLTOPICRESP";
    case MsgType::WILLMSGUPD:
      return "WILLMSGUPD";
    case MsgType::WILLMSGRESP:
      return "WILLMSGRESP";
    case MsgType::ENCAPSULATED:
      return "ENCAPSULATED";
  }
  return "MsgType(?)";
}

std::string_view to_string(ReturnCode rc) noexcept {
  switch (rc) {
    case ReturnCode::Accepted:
      return "accepted";
    case ReturnCode::RejectedCongestion:
      return "rejected:congestion";
    case ReturnCode::RejectedInvalidTopicId:
      return "rejected:invalid_topic_id";
    case ReturnCode::RejectedNotSupported:
      return "rejected:not_supported";
  }
  return "rc(reserved)";
}

std::string_view to_string(TopicIdType t) noexcept {
  switch (t) {
    case TopicIdType::Normal:
      return "normal";
    case TopicIdType::Predefined:
      return "predefined";
    case TopicIdType::Short:
      return "short";
  }
  return "reserved";
}

std::string_view to_string(QoS q) noexcept {
  switch (q) {
    case QoS::AtMostOnce:
      return "0";
    case QoS::AtLeastOnce:
      return "1";
    case QoS::ExactlyOnce:
      return "2";
    case QoS::MinusOne:
      return "-1";
  }
  return "?";
}

std::string_view to_string(DecodeError e) noexcept {
  switch (e) {
    case DecodeError::Empty:
      return "empty datagram";
    case DecodeError::TruncatedHeader:
      return "truncated header";
    case DecodeError::BadLength:
      return "bad Length";
    case DecodeError::LengthMismatch:
      return "Length disagrees with datagram size";
    case DecodeError::ReservedType:
      return "reserved MsgType";
    case DecodeError::Truncated:
      return "truncated field";
    case DecodeError::TrailingBytes:
      return "trailing bytes";
    case DecodeError::ReservedTopicIdType:
      return "reserved TopicIdType";
    case DecodeError::EmptyTopic:
      return "empty topic";
    case DecodeError::EmptyClientId:
      return "empty ClientId";
    case DecodeError::BadReturnCode:
      return "reserved ReturnCode";
    case DecodeError::NestedEncapsulation:
      return "nested encapsulation";
    case DecodeError::BadInnerMessage:
      return "bad encapsulated message";
  }
  return "unknown error";
}

std::string to_string(const Flags& f) {
  std::string s = "dup=";
  s += f.dup ? '1' : '0';
  s += " qos=";
  s += to_string(f.qos);
  s += " retain=";
  s += f.retain ? '1' : '0';
  s += " will=";
  s += f.will ? '1' : '0';
  s += " clean=";
  s += f.clean_session ? '1' : '0';
  s += " tid_type=";
  s += to_string(f.topic_id_type);
  return s;
}

std::string to_string(const Message& m) {
  return describe(m);
}

std::string to_string(const DecodeFailure& f) {
  std::string s = "DecodeFailure{";
  s += to_string(f.error);
  if (f.type) {
    s += " type=";
    s += to_string(*f.type);
  }
  if (!f.field.empty()) {
    s += " field=";
    s += f.field;
  }
  if (f.inner) {
    s += " inner=(";
    s += to_string(*f.inner);
    s += ')';
  }
  s += '}';
  return s;
}

std::ostream& operator<<(std::ostream& os, MsgType t) {
  return os << to_string(t);
}
std::ostream& operator<<(std::ostream& os, ReturnCode rc) {
  return os << to_string(rc);
}
std::ostream& operator<<(std::ostream& os, const Message& m) {
  return os << to_string(m);
}
std::ostream& operator<<(std::ostream& os, const DecodeFailure& f) {
  return os << to_string(f);
}
std::ostream& operator<<(std::ostream& os, const DecodeResult& r) {
  if (const auto* m = std::get_if<Message>(&r)) return os << *m;
  return os << std::get<DecodeFailure>(r);
}

std::string printable(std::string_view s, std::size_t max) {
  static constexpr char digits[] = "0123456789abcdef";
  const std::string_view shown = s.substr(0, max);
  std::string out;
  out.reserve(shown.size() + 16);
  for (char ch : shown) {
    const auto c = static_cast<unsigned char>(ch);
    switch (ch) {
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\\':
        out += "\\\\";
        break;
      default:
        if (c >= 0x20 && c < 0x7F) {
          out += ch;
        } else {
          out += "\\x";
          out += digits[c >> 4];
          out += digits[c & 0xF];
        }
    }
  }
  if (shown.size() < s.size()) out += "...(" + std::to_string(s.size()) + " octets)";
  return out;
}

}  // namespace mqttsn
