#include "gateway/metrics/exposition.hpp"

#include <cmath>
#include <cstdio>

namespace gw::metrics {
namespace {

// HELP text escapes \ and newline; label values also ".
void escaped(std::string& out, std::string_view s, bool quote) {
  for (const char ch : s) {
    if (ch == '\\')
      out += "\\\\";
    else if (ch == '\n')
      out += "\\n";
    else if (quote && ch == '"')
      out += "\\\"";
    else
      out += ch;
  }
}

}  // namespace

void Exposition::family(std::string_view name, Type type, std::string_view help) {
  name_ = name;
  text_ += "# HELP ";
  text_ += name;
  text_ += ' ';
  escaped(text_, help, false);
  text_ += "\n# TYPE ";
  text_ += name;
  text_ += type == Type::Counter ? " counter\n" : " gauge\n";
}

void Exposition::labels(std::initializer_list<Label> labels) {
  text_ += name_;
  if (labels.size() == 0) return;
  char sep = '{';
  for (const auto& [key, value] : labels) {
    text_ += sep;
    text_ += key;
    text_ += "=\"";
    escaped(text_, value, true);
    text_ += '"';
    sep = ',';
  }
  text_ += '}';
}

void Exposition::sample(std::uint64_t value, std::initializer_list<Label> labels_) {
  labels(labels_);
  text_ += ' ';
  text_ += std::to_string(value);
  text_ += '\n';
}

void Exposition::sample(double value, std::initializer_list<Label> labels_) {
  labels(labels_);
  char buf[32];
  if (std::isnan(value))
    std::snprintf(buf, sizeof buf, " NaN\n");
  else if (std::isinf(value))
    std::snprintf(buf, sizeof buf, value > 0 ? " +Inf\n" : " -Inf\n");
  else
    std::snprintf(buf, sizeof buf, " %.17g\n", value);
  text_ += buf;
}

}  // namespace gw::metrics
