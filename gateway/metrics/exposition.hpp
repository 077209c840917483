// Prometheus text exposition format 0.0.4: one # HELP / # TYPE block per family, then its samples.
// Pure text building; names and label keys are the caller's constants, label values are escaped.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace gw::metrics {

enum class Type : std::uint8_t { Counter, Gauge };

class Exposition {
 public:
  using Label = std::pair<std::string_view, std::string_view>;

  // Starts a family; the samples that follow belong to it (and use its name).
  void family(std::string_view name, Type type, std::string_view help);
  void sample(std::uint64_t value, std::initializer_list<Label> labels = {});
  void sample(double value, std::initializer_list<Label> labels = {});

  const std::string& text() const noexcept { return text_; }

 private:
  void labels(std::initializer_list<Label> labels);

  std::string text_;
  std::string name_;
};

inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace gw::metrics
