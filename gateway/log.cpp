#include "gateway/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <string>

namespace gw {

bool init_logging(std::string_view level) {
  const auto lvl = spdlog::level::from_str(std::string(level));
  // from_str answers "off" for anything it does not know.
  if (lvl == spdlog::level::off && level != "off") return false;
  auto logger = spdlog::stderr_logger_mt("mqttsn-gateway");
  logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %-5l %v");
  logger->set_level(lvl);
  // Every line at once: tests and the journal read it while we run.
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
  return true;
}

}  // namespace gw
