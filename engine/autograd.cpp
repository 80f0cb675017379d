#include "engine/autograd.h"

#include "engine/elementwise_kernels.h"

namespace engine::autograd {

namespace {
thread_local bool g_grad_enabled = true;
thread_local std::vector<std::function<void()>> g_tape;
}  // namespace

bool grad_enabled() { return g_grad_enabled; }

NoGradGuard::NoGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = previous_; }

bool needs_grad(std::initializer_list<const Tensor*> inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor* t : inputs)
    if (t && t->defined() && t->requires_grad()) return true;
  return false;
}

void record(std::function<void()> backward_fn) { g_tape.push_back(std::move(backward_fn)); }

size_t tape_size() { return g_tape.size(); }
void clear_tape() { g_tape.clear(); }

static void run_tape() {
  // Take the tape first: closures must not see (or extend) the tape they are run from.
  std::vector<std::function<void()>> tape;
  tape.swap(g_tape);
  NoGradGuard no_grad;
  for (auto it = tape.rbegin(); it != tape.rend(); ++it) {
    (*it)();
    *it = nullptr;  // free saved activations as soon as they are used
  }
}

void backward(const Tensor& loss) {
  USER_CHECK(loss.numel() == 1, "backward(loss): loss must have one element, got shape ", shape_str(loss.shape()));
  backward({loss}, {Tensor::full(loss.shape(), 1.0, loss.dtype(), loss.device())});
}

void backward(const std::vector<Tensor>& outputs, const std::vector<Tensor>& output_grads) {
  ENGINE_CHECK(outputs.size() == output_grads.size(), outputs.size(), " outputs, ", output_grads.size(), " gradients");
  for (size_t i = 0; i < outputs.size(); ++i) {
    Tensor out = outputs[i];
    USER_CHECK(out.requires_grad(), "backward: output ", i, " does not require grad (no parameter or input reaches it)");
    Tensor g = out.grad_or_zeros();
    accumulate(g, output_grads[i]);
  }
  run_tape();
}

void accumulate(Tensor& dst, const Tensor& src) {
  ENGINE_CHECK(dst.shape() == src.shape() && dst.dtype() == src.dtype() && dst.device() == src.device(),
        "accumulate ", shape_str(src.shape()), " into ", shape_str(dst.shape()));
  kernels::axpy(dst, src, 1.0);
}

}  // namespace engine::autograd
