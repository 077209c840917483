// Helper for the scapy cross-check and the fuzz seed corpus.
//   codec_tool encode-all        one JSON object per line: {"name","hex","fields"} for every golden
//                                vector, hex being OUR encoding of the message
//   codec_tool decode HEX        {"fields": ...} of our decoding, or {"error": "..."}
//   codec_tool write-corpus DIR  writes every golden vector's bytes as a file in DIR
// Field names follow scapy.contrib.mqttsn so the Python side compares them one to one;
// byte strings are hex.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <type_traits>
#include <variant>

#include "golden.hpp"
#include "mqttsn/codec.hpp"
#include "mqttsn/print.hpp"

namespace {

using namespace mqttsn;

std::string hex(const auto& bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s;
  for (auto c : bytes) {
    const auto b = static_cast<std::uint8_t>(c);
    s += digits[b >> 4];
    s += digits[b & 0x0F];
  }
  return s;
}

class Json {
 public:
  Json& num(const char* k, long v) {
    key(k);
    s_ += std::to_string(v);
    return *this;
  }
  Json& str(const char* k, const std::string& v) {
    key(k);
    s_ += '"' + v + '"';
    return *this;
  }
  Json& raw(const char* k, const std::string& v) {
    key(k);
    s_ += v;
    return *this;
  }
  Json& flags(const Flags& f) {
    const auto o = encode_flags(f);
    return num("dup", (o >> 7) & 1)
        .num("qos", (o >> 5) & 3)
        .num("retain", (o >> 4) & 1)
        .num("will", (o >> 3) & 1)
        .num("cleansess", (o >> 2) & 1)
        .num("tid_type", o & 3);
  }
  std::string done() { return s_ + '}'; }

 private:
  void key(const char* k) {
    s_ += s_.size() > 1 ? ",\"" : "\"";
    s_ += k;
    s_ += "\":";
  }
  std::string s_ = "{";
};

std::string fields(const Message& msg) {
  Json j;
  j.num("type", static_cast<long>(type_of(msg)));
  std::visit(
      [&j](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, Advertise>) {
          j.num("gw_id", m.gw_id).num("duration", m.duration);
        } else if constexpr (std::is_same_v<T, SearchGw>) {
          j.num("radius", m.radius);
        } else if constexpr (std::is_same_v<T, GwInfo>) {
          j.num("gw_id", m.gw_id).str("gw_addr", hex(m.gw_add));
        } else if constexpr (std::is_same_v<T, Connect>) {
          j.flags(m.flags)
              .num("prot_id", m.protocol_id)
              .num("duration", m.duration)
              .str("client_id", hex(m.client_id));
        } else if constexpr (std::is_same_v<T, ConnAck> || std::is_same_v<T, WillTopicResp> ||
                             std::is_same_v<T, WillMsgResp>) {
          j.num("return_code", static_cast<long>(m.return_code));
        } else if constexpr (std::is_same_v<T, WillTopic> || std::is_same_v<T, WillTopicUpd>) {
          if (!m.will_topic.empty()) j.flags(m.flags).str("will_topic", hex(m.will_topic));
        } else if constexpr (std::is_same_v<T, WillMsg> || std::is_same_v<T, WillMsgUpd>) {
          j.str("will_msg", hex(m.will_msg));
        } else if constexpr (std::is_same_v<T, Register>) {
          j.num("tid", m.topic_id).num("mid", m.msg_id).str("topic_name", hex(m.topic_name));
        } else if constexpr (std::is_same_v<T, RegAck> || std::is_same_v<T, PubAck>) {
          j.num("tid", m.topic_id)
              .num("mid", m.msg_id)
              .num("return_code", static_cast<long>(m.return_code));
        } else if constexpr (std::is_same_v<T, Publish>) {
          j.flags(m.flags).num("tid", m.topic_id).num("mid", m.msg_id).str("data", hex(m.data));
        } else if constexpr (std::is_same_v<T, PubComp> || std::is_same_v<T, PubRec> ||
                             std::is_same_v<T, PubRel> || std::is_same_v<T, UnsubAck>) {
          j.num("mid", m.msg_id);
        } else if constexpr (std::is_same_v<T, Subscribe> || std::is_same_v<T, Unsubscribe>) {
          j.flags(m.flags).num("mid", m.msg_id);
          switch (m.flags.topic_id_type) {
            case TopicIdType::Normal:
              j.str("topic_name", hex(m.topic_name));
              break;
            case TopicIdType::Predefined:
              j.num("tid", m.topic_id);
              break;
            case TopicIdType::Short:
              j.str("short_topic", hex(Bytes{static_cast<std::uint8_t>(m.topic_id >> 8),
                                             static_cast<std::uint8_t>(m.topic_id & 0xFF)}));
              break;
          }
        } else if constexpr (std::is_same_v<T, SubAck>) {
          j.flags(m.flags)
              .num("tid", m.topic_id)
              .num("mid", m.msg_id)
              .num("return_code", static_cast<long>(m.return_code));
        } else if constexpr (std::is_same_v<T, PingReq>) {
          j.str("client_id", hex(m.client_id));
        } else if constexpr (std::is_same_v<T, Disconnect>) {
          if (m.duration) j.num("duration", *m.duration);
        } else if constexpr (std::is_same_v<T, Encapsulated>) {
          j.num("resvd", m.ctrl >> 2)
              .num("radius", m.ctrl & 3)
              .str("w_node_id", hex(m.wireless_node_id));
          const auto inner = decode(m.message);
          if (const auto* im = std::get_if<Message>(&inner)) j.raw("inner", fields(*im));
        }
      },
      msg);
  return j.done();
}

bool parse_hex(const std::string& s, Bytes& out) {
  if (s.size() % 2 != 0) return false;
  for (std::size_t i = 0; i < s.size(); i += 2) {
    unsigned v = 0;
    if (std::sscanf(s.c_str() + i, "%2x", &v) != 1) return false;
    out.push_back(static_cast<std::uint8_t>(v));
  }
  return true;
}

int usage() {
  std::cerr << "usage: codec_tool encode-all | decode HEX | write-corpus DIR\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  const std::string cmd = argv[1];
  if (cmd == "encode-all") {
    for (const auto& v : golden::vectors()) {
      if (!v.encode_matches) continue;
      std::cout << "{\"name\":\"" << v.name << "\",\"hex\":\"" << hex(encode(v.msg))
                << "\",\"fields\":" << fields(v.msg) << "}\n";
    }
    return 0;
  }
  if (cmd == "decode" && argc == 3) {
    Bytes b;
    if (!parse_hex(argv[2], b)) return usage();
    const auto r = decode(b);
    if (const auto* m = std::get_if<Message>(&r))
      std::cout << "{\"fields\":" << fields(*m) << "}\n";
    else
      std::cout << "{\"error\":\"" << to_string(std::get<DecodeFailure>(r)) << "\"}\n";
    return 0;
  }
  if (cmd == "write-corpus" && argc == 3) {
    for (const auto& v : golden::vectors()) {
      std::ofstream f(std::string(argv[2]) + "/" + std::string(v.name), std::ios::binary);
      f.write(reinterpret_cast<const char*>(v.bytes.data()),
              static_cast<std::streamsize>(v.bytes.size()));
      if (!f) return 1;
    }
    return 0;
  }
  return usage();
}
