// A real mosquitto on a free loopback port for one test (tests/bench/processes.hpp starts it).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace upstream_test {

class Broker {
 public:
  Broker();
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;
  bool up() const noexcept { return pid_ > 0; }
  std::string uri() const { return "tcp://127.0.0.1:" + std::to_string(port_); }

 private:
  std::string dir_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace upstream_test
