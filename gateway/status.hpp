// MQTT-native status: retained JSON under a topic prefix, through the gateway's own client.
//   <prefix>/status            every interval: online, sensors by state and transport, counters
//   <prefix>/sensors/<ClientId> per sensor: state, transport, address; emptied when it is gone
#pragma once

#include <uv.h>

#include <chrono>
#include <set>
#include <string>

#include "gateway/runtime.hpp"

namespace gw {

class StatusPublisher {
 public:
  StatusPublisher(uv_loop_t* loop, Runtime& runtime, std::string prefix,
                  std::chrono::seconds interval);
  StatusPublisher(const StatusPublisher&) = delete;
  StatusPublisher& operator=(const StatusPublisher&) = delete;

  void start();
  // Clean stop: retained {"online": false}, per-sensor topics emptied, timer closed.
  void stop();

  std::string status_json() const;

 private:
  void tick();

  uv_timer_t timer_{};
  Runtime& runtime_;
  std::string prefix_;
  std::chrono::seconds interval_;
  std::chrono::steady_clock::time_point started_;
  std::set<std::string> published_;  // ClientIds with a retained sensor topic
  bool closed_ = false;
};

}  // namespace gw
