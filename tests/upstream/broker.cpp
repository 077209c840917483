#include "broker.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>

#include "tests/bench/processes.hpp"

namespace upstream_test {

Broker::Broker() : dir_(bench::make_temp_dir()) {
  if (dir_.empty()) return;
  port_ = bench::free_port(SOCK_STREAM);
  const std::string conf = dir_ + "/mosquitto.conf";
  bench::write_file(conf, "listener " + std::to_string(port_) +
                              " 127.0.0.1\nallow_anonymous true\npersistence false\n" +
                              (geteuid() == 0 ? "user root\n" : ""));
  pid_ = bench::spawn({MOSQUITTO_PATH, "-c", conf}, dir_ + "/mosquitto.log");
  if (pid_ > 0 && !bench::wait_tcp(port_, std::chrono::seconds(5))) {
    bench::stop(pid_, std::chrono::milliseconds(500));
    pid_ = -1;
  }
}

Broker::~Broker() {
  if (pid_ > 0) bench::stop(pid_, std::chrono::milliseconds(2000));
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

}  // namespace upstream_test
