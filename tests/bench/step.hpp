// One measured step: offer messages at a fixed rate for a while, then let the pipeline drain.
#pragma once

#include <cstdint>
#include <functional>

namespace bench {

struct StepSpec {
  double rate = 0;      // offered msg/s
  double seconds = 0;   // sending period
  int drain_ms = 2000;  // longest wait for stragglers after it
  int quiet_ms = 500;   // ...but stop once nothing moved for this long
};

struct StepTimes {
  std::uint64_t offered = 0;  // messages due in the period
  std::uint64_t sent = 0;     // of which actually sent (a full QoS 1 window skips some, and so
                              // does a sender that fell behind)
  std::int64_t start_ns = 0;
  std::int64_t end_ns = 0;  // after draining
};

// send(seq): try to send message number seq (seq counts sent messages); false: skipped.
// service(wait_ms): receive what is there, waiting at most wait_ms.
// progress(): a counter that moves while messages are still arriving (delivered + acked).
// settled(sent): everything sent is accounted for.
StepTimes run_step(const StepSpec& spec, const std::function<bool(std::uint32_t)>& send,
                   const std::function<void(int)>& service,
                   const std::function<std::uint64_t()>& progress,
                   const std::function<bool(std::uint64_t)>& settled);

}  // namespace bench
