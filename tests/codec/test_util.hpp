// Shared helpers for the codec doctest suite: readable failure output and decode shortcuts.
#pragma once

#include <doctest/doctest.h>

#include <cstdio>
#include <string>
#include <variant>

#include "mqttsn/codec.hpp"
#include "mqttsn/print.hpp"

namespace doctest {
template <>
struct StringMaker<mqttsn::Bytes> {
  static String convert(const mqttsn::Bytes& b) {
    std::string s = "[";
    char buf[4];
    for (std::size_t i = 0; i < b.size(); ++i) {
      std::snprintf(buf, sizeof buf, "%02X", b[i]);
      if (i != 0) s += ' ';
      s += buf;
    }
    s += "]";
    return String(s.c_str());
  }
};
}  // namespace doctest

namespace codec_test {

inline std::string show(const mqttsn::Bytes& b) {
  return doctest::StringMaker<mqttsn::Bytes>::convert(b).c_str();
}

// The failure of decoding `b`, or a default DecodeFailure{Empty} marked as unexpected success.
inline mqttsn::DecodeFailure failure_of(const mqttsn::Bytes& b) {
  const auto r = mqttsn::decode(b);
  if (const auto* f = std::get_if<mqttsn::DecodeFailure>(&r)) return *f;
  FAIL_CHECK("decoded unexpectedly: " << show(b) << " -> " << r);
  return {};
}

inline mqttsn::DecodeFailure fail(mqttsn::DecodeError e, std::optional<mqttsn::MsgType> t = {},
                                  std::string_view field = {}) {
  mqttsn::DecodeFailure f;
  f.error = e;
  f.type = t;
  f.field = field;
  return f;
}

}  // namespace codec_test
