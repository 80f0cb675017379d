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
      if (driver_ == Driver::gradcheck) run_gradcheck(op_, c);
      else run_parity(op_, c);
    }
  }

 private:
  std::string op_;
  Driver driver_;
};
}  // namespace

void register_op_tests(Driver driver) {
  static std::deque<std::string> names;  // Catch keeps StringRefs to these
  const char* tag = driver == Driver::gradcheck ? "[gradcheck]" : "[parity][gpu]";
  for (const auto& kv : op_case_registry()) {
    names.push_back((driver == Driver::gradcheck ? "gradcheck: " : "parity: ") + kv.first);
    Catch::AutoReg(new OpInvoker(kv.first, driver), CATCH_INTERNAL_LINEINFO, Catch::StringRef(),
                   Catch::NameAndTags{names.back(), tag});
  }
}

}  // namespace testing
