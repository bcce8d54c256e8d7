#pragma once
// error_of(f): the rdmablk::Error that f() throws, for checks on its code()
// and what(); fails the test when f() returns instead.
#include <gtest/gtest.h>

#include <system_error>

#include "rdmablk/client.hpp"

namespace rdmablk::test_util {

template <class F>
Error error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no rdmablk::Error thrown";
  return Error(std::errc::io_error, "none");
}

}  // namespace rdmablk::test_util
