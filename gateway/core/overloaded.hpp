// Overloaded{lambdas...}: one visitor for std::visit built from one lambda per alternative.
#pragma once

namespace gw {

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

}  // namespace gw
