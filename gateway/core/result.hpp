// The one error convention of the start/create/open/write paths: a value or an error text that
// says what failed and why, for the caller to prefix with where it happened (docs/design.md,
// "Errors"). std::expected is C++23; g++ 12 has none, so this is the small part of it the gateway
// needs.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace gw {

struct Error {
  std::string text;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT
  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  T& value() & { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const std::string& error() const { return std::get<1>(v_).text; }

 private:
  std::variant<T, Error> v_;
};

// For operations that return nothing: ok, or an error text.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error.text)), failed_(true) {}  // NOLINT
  bool ok() const noexcept { return !failed_; }
  explicit operator bool() const noexcept { return ok(); }
  const std::string& error() const noexcept { return error_; }

 private:
  std::string error_;
  bool failed_ = false;
};

}  // namespace gw
