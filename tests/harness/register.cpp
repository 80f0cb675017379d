#include "tests/harness/register.h"

#include <catch2/catch.hpp>
#include <deque>
#include <string>

#include "tests/harness/op_cases.h"

namespace testing {

namespace {
class OpInvoker : public Catch::ITestInvoker {
 public:
  OpInvoker(std::string op, Driver driver) : op_(std::move(op)), driver_(driver) {}
  void invoke() const override {
    auto cases = op_case_registry().at(op_)();
    REQUIRE(!cases.empty());
    for (const auto& c : cases) {
      switch (driver_) {
        case Driver::gradcheck: run_gradcheck(op_, c); break;
        case Driver::parity: run_parity(op_, c); break;
        case Driver::f32: run_f32_vs_f64(op_, c); break;
      }
    }
  }

 private:
  std::string op_;
  Driver driver_;
};
}  // namespace

void register_op_tests(Driver driver) {
  static std::deque<std::string> names;  // Catch keeps StringRefs to these
  const char* tag = driver == Driver::gradcheck ? "[gradcheck]" : driver == Driver::f32 ? "[f32]" : "[parity][gpu]";
  const char* prefix = driver == Driver::gradcheck ? "gradcheck: " : driver == Driver::f32 ? "f32: " : "parity: ";
  for (const auto& kv : op_case_registry()) {
    names.push_back(prefix + kv.first);
    Catch::AutoReg(new OpInvoker(kv.first, driver), CATCH_INTERNAL_LINEINFO, Catch::StringRef(),
                   Catch::NameAndTags{names.back(), tag});
  }
}

}  // namespace testing
