// ClientId checks at CONNECT and their escaping into a topic level (gateway/core/client_id.hpp).
#include <doctest/doctest.h>

#include <string>

#include "gateway/core/client_id.hpp"

using gw::client_id_problem;
using gw::escape_topic_level;

TEST_CASE("client ids: plain, MAC-based and non-ASCII ids are accepted") {
  CHECK(client_id_problem("sensor-01", 64) == nullptr);
  CHECK(client_id_problem("b8:27:eb:12:34:56-temperature-probe", 64) == nullptr);
  CHECK(client_id_problem("K\xC3\xBC"
                          "che",
                          64) == nullptr);                      // "Küche"
  CHECK(client_id_problem("\xF0\x9F\x8C\xA1", 64) == nullptr);  // U+1F321, 4 octets
  CHECK(client_id_problem("evil/#", 64) == nullptr);            // valid: escaped later
  CHECK(client_id_problem(std::string(64, 'a'), 64) == nullptr);
}

TEST_CASE("client ids: too long, NUL, control characters and invalid UTF-8 are refused") {
  CHECK(std::string(client_id_problem(std::string(65, 'a'), 64)) == "ClientId too long");
  CHECK(std::string(client_id_problem(std::string("a\0b", 3), 64)) == "ClientId contains NUL");
  CHECK(client_id_problem("a\nb", 64) != nullptr);
  CHECK(client_id_problem("a\x7f", 64) != nullptr);
  CHECK(client_id_problem("a\xC2\x85", 64) != nullptr);  // U+0085, C1 control
  CHECK(std::string(client_id_problem("\xff", 64)) == "ClientId is not valid UTF-8");
  CHECK(client_id_problem("\xC0\xAF", 64) != nullptr);          // overlong '/'
  CHECK(client_id_problem("\xED\xA0\x80", 64) != nullptr);      // surrogate
  CHECK(client_id_problem("\xE2\x82", 64) != nullptr);          // truncated
  CHECK(client_id_problem("\xF4\x90\x80\x80", 64) != nullptr);  // above U+10FFFF
}

TEST_CASE("client ids: escaped into one topic level") {
  CHECK(escape_topic_level("sensor-01") == "sensor-01");
  CHECK(escape_topic_level("evil/#") == "evil%2F%23");
  CHECK(escape_topic_level("+") == "%2B");
  CHECK(escape_topic_level("$SYS/x") == "%24SYS%2Fx");
  CHECK(escape_topic_level("a$b") == "a$b");  // only a leading '$' makes a $-topic
  CHECK(escape_topic_level("100%") == "100%25");
  CHECK(escape_topic_level(std::string("a\0b\x7f", 4)) == "a%00b%7F");
  CHECK(escape_topic_level("K\xC3\xBC"
                           "che") ==
        "K\xC3\xBC"
        "che");
  // Injective: the escaped form of an id never equals another id's escaped form.
  CHECK(escape_topic_level("a/b") != escape_topic_level("a%2Fb"));
}

#include "gateway/core/unknown_sender.hpp"

TEST_CASE("unknown senders: requests get DISCONNECT, answers and DISCONNECT get nothing") {
  using mqttsn::MsgType;
  for (auto t : {MsgType::PUBLISH, MsgType::REGISTER, MsgType::SUBSCRIBE, MsgType::UNSUBSCRIBE,
                 MsgType::PINGREQ, MsgType::PUBREL, MsgType::WILLTOPICUPD, MsgType::WILLMSGUPD})
    CHECK(gw::answer_unknown_sender(t));
  for (auto t : {MsgType::DISCONNECT, MsgType::CONNACK, MsgType::REGACK, MsgType::PUBACK,
                 MsgType::PUBREC, MsgType::PUBCOMP, MsgType::SUBACK, MsgType::UNSUBACK,
                 MsgType::PINGRESP, MsgType::WILLTOPICREQ, MsgType::WILLMSGREQ,
                 MsgType::WILLTOPICRESP, MsgType::WILLMSGRESP, MsgType::ADVERTISE, MsgType::GWINFO})
    CHECK_FALSE(gw::answer_unknown_sender(t));
}
