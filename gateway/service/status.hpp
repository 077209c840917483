// MQTT-native status: retained JSON under a topic prefix, through the gateway's own client.
//   <prefix>/status            every interval: online, sensors by state and transport, counters
//   <prefix>/sensors/<ClientId> per sensor: state, transport, address, last_seen (ISO-8601 UTC) and
//                               last_seen_s (seconds ago), BLE: rssi, mtu; emptied when it is gone
#pragma once

#include <uv.h>

#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <string>

#include "gateway/runtime/runtime.hpp"

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

  // Radio figures of the BLE links by sensor address ("ble:C0:FF:EE:00:00:01"), read once a tick.
  struct LinkInfo {
    int rssi = 0;
    unsigned mtu = 0;     // 0: no GATT link at the moment
    std::string adapter;  // the adapter holding (or making) its link, "" if none
  };
  using LinkInfoFn = std::function<std::map<std::string, LinkInfo>()>;
  void set_link_info(LinkInfoFn fn) { link_info_ = std::move(fn); }
  // A JSON value added to <prefix>/status as "ble" (per-adapter links, refusals, releases).
  void set_ble_summary(std::function<std::string()> fn) { ble_summary_ = std::move(fn); }
  // More members for the status JSON (`, "name": {...}`), e.g. the DTLS counters.
  void set_extra(std::function<std::string()> fn) { extra_ = std::move(fn); }

 private:
  void tick();

  uv_timer_t timer_{};
  Runtime& runtime_;
  std::string prefix_;
  std::chrono::seconds interval_;
  std::chrono::steady_clock::time_point started_;
  std::set<std::string> published_;  // ClientIds with a retained sensor topic
  bool closed_ = false;
  LinkInfoFn link_info_;
  std::function<std::string()> ble_summary_;
  std::function<std::string()> extra_;
};

}  // namespace gw
