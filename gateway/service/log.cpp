#include "gateway/service/log.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <memory>
#include <string>

namespace gw {
namespace {

// sd-daemon(3) priority prefix for a spdlog level: "<3>" error ... "<7>" debug.
class JournalPriority final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    char p = '6';
    switch (msg.level) {
      case spdlog::level::trace:
      case spdlog::level::debug:
        p = '7';
        break;
      case spdlog::level::info:
        p = '6';
        break;
      case spdlog::level::warn:
        p = '4';
        break;
      case spdlog::level::err:
        p = '3';
        break;
      case spdlog::level::critical:
        p = '2';
        break;
      default:
        break;
    }
    const char text[3] = {'<', p, '>'};
    dest.append(text, text + 3);
  }
  std::unique_ptr<spdlog::custom_flag_formatter> clone() const override {
    return std::make_unique<JournalPriority>();
  }
};

}  // namespace

bool parse_log_format(std::string_view text, LogFormat& out) noexcept {
  if (text == "auto")
    out = LogFormat::Auto;
  else if (text == "text")
    out = LogFormat::Text;
  else if (text == "journal")
    out = LogFormat::Journal;
  else
    return false;
  return true;
}

bool init_logging(std::string_view level, LogFormat format) {
  const auto lvl = spdlog::level::from_str(std::string(level));
  // from_str answers "off" for anything it does not know.
  if (lvl == spdlog::level::off && level != "off") return false;
  if (format == LogFormat::Auto)
    format = std::getenv("JOURNAL_STREAM") != nullptr ? LogFormat::Journal : LogFormat::Text;
  auto logger = spdlog::stderr_logger_mt("mqttsn-gateway");
  if (format == LogFormat::Journal) {
    auto f = std::make_unique<spdlog::pattern_formatter>();
    f->add_flag<JournalPriority>('*').set_pattern("%*%v");
    logger->set_formatter(std::move(f));
  } else {
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %-5l %v");
  }
  logger->set_level(lvl);
  // Every line at once: tests and the journal read it while we run.
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
  return true;
}

}  // namespace gw
