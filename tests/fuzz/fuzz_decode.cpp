// libFuzzer target. Properties: decode never crashes (ASan/UBSan watch it), and any datagram that
// decodes re-encodes to a frame that decodes to the same message:
// decode(encode(decode(x))) == decode(x).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <variant>

#include "mqttsn/codec.hpp"
#include "mqttsn/print.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto first = mqttsn::decode(std::span<const std::uint8_t>(data, size));
  // Printing must be safe for anything that decodes or fails.
  const auto* msg = std::get_if<mqttsn::Message>(&first);
  if (msg == nullptr) {
    (void)mqttsn::to_string(std::get<mqttsn::DecodeFailure>(first));
    return 0;
  }
  (void)mqttsn::to_string(*msg);
  const mqttsn::Bytes again = mqttsn::encode(*msg);
  if (again.empty()) std::abort();  // a decoded message always fits a frame
  const auto second = mqttsn::decode(again);
  const auto* msg2 = std::get_if<mqttsn::Message>(&second);
  if (msg2 == nullptr || !(*msg2 == *msg)) std::abort();
  return 0;
}
