// Topic helpers: validation, wildcard matching (MQTT 3.1.1 §4.7), short topics (MQTT-SN §3).
#include <doctest/doctest.h>

#include <string>

#include "mqttsn/topic.hpp"

using namespace mqttsn;

TEST_CASE("topic names") {
  CHECK(valid_topic_name("a"));
  CHECK(valid_topic_name("a/b/c"));
  CHECK(valid_topic_name("/"));
  CHECK(valid_topic_name("$SYS/broker"));
  CHECK(valid_topic_name("a//b"));
  CHECK_FALSE(valid_topic_name(""));
  CHECK_FALSE(valid_topic_name("a/+"));
  CHECK_FALSE(valid_topic_name("a/#"));
  CHECK_FALSE(valid_topic_name("a+b"));
  CHECK_FALSE(valid_topic_name(std::string("a\0b", 3)));
  CHECK(valid_topic_name(std::string(65535, 'x')));
  CHECK_FALSE(valid_topic_name(std::string(65536, 'x')));
}

TEST_CASE("topic filters") {
  for (const char* ok : {"a", "#", "+", "a/#", "a/+", "+/+", "+/b/#", "/+", "a//+", "$SYS/#", "+/"})
    CHECK_MESSAGE(valid_topic_filter(ok), ok);
  for (const char* bad : {"", "a#", "a/#/b", "#/a", "a+", "+a", "a/b+", "##", "a/++"})
    CHECK_FALSE_MESSAGE(valid_topic_filter(bad), bad);
  CHECK_FALSE(valid_topic_filter(std::string("a\0", 2)));
}

TEST_CASE("wildcard matching table") {
  struct Row {
    const char* filter;
    const char* name;
    bool match;
  };
  const Row rows[] = {
      {"a/b", "a/b", true},
      {"a/b", "a/c", false},
      {"a/b", "a/b/c", false},
      {"a/b/c", "a/b", false},
      {"+", "a", true},
      {"+", "a/b", false},
      {"+", "/", false},
      {"+/+", "/", true},
      {"+/+", "/finance", true},
      {"/+", "/finance", true},
      {"+", "/finance", false},
      {"a/+", "a/b", true},
      {"a/+", "a", false},
      {"a/+", "a/", true},
      {"a/+/c", "a/b/c", true},
      {"a/+/c", "a/b/d", false},
      {"#", "a", true},
      {"#", "a/b/c", true},
      {"#", "/", true},
      {"a/#", "a", true},  // '#' also matches the parent level
      {"a/#", "a/b", true},
      {"a/#", "a/b/c", true},
      {"a/#", "ab", false},
      {"a/#", "b/a", false},
      {"a/b/#", "a", false},
      {"+/#", "a", true},
      {"+/b/#", "a/b", true},
      {"+/b/#", "a/c", false},
      // '$' topics are not matched by a leading wildcard.
      {"#", "$SYS/broker", false},
      {"+/broker", "$SYS/broker", false},
      {"+", "$SYS", false},
      {"$SYS/#", "$SYS/broker", true},
      {"$SYS/+", "$SYS/broker", true},
      {"a/$x", "a/$x", true},
      {"a/+", "a/$x", true},  // only a leading '$' is special
      // Invalid inputs never match.
      {"a/#/b", "a/x/b", false},
      {"a", "", false},
      {"a+", "a+", false},
  };
  for (const auto& r : rows) {
    CAPTURE(r.filter);
    CAPTURE(r.name);
    CHECK(topic_matches(r.filter, r.name) == r.match);
  }
}

TEST_CASE("short topics") {
  CHECK(is_short_topic("ab"));
  CHECK(is_short_topic("/a"));
  CHECK_FALSE(is_short_topic("a"));
  CHECK_FALSE(is_short_topic("abc"));
  CHECK_FALSE(is_short_topic("a+"));  // a wildcard is never a short topic name
  CHECK(short_topic_id("ab") == 0x6162);
  CHECK(short_topic_id("\xff\x01") == 0xFF01);
  CHECK(short_topic_name(0x6162) == "ab");
  CHECK(short_topic_name(0xFF01) == std::string("\xff\x01"));
  CHECK(short_topic_name(0x0000) == std::string("\0\0", 2));
  for (unsigned id : {0x0000u, 0x1234u, 0xFFFFu})
    CHECK(short_topic_id(short_topic_name(static_cast<std::uint16_t>(id))) == id);
}

TEST_CASE("has_wildcard") {
  CHECK(has_wildcard("a/+"));
  CHECK(has_wildcard("#"));
  CHECK_FALSE(has_wildcard("a/b"));
  CHECK_FALSE(has_wildcard(""));
}
