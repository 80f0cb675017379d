// Reverse-mode autograd over a tape recorded during the forward.
//
// An op whose inputs require grad (and grad mode is on) marks its output as requiring grad and records
// a backward closure on the thread's tape. backward() runs the tape in reverse; every closure reads its
// outputs' gradients and ACCUMULATES (+=) into its inputs' gradients, so a tensor used by several ops
// (e.g. DCLS positions shared across a stage) receives the sum. Gradients of leaves stay on the tensor
// (Tensor::grad); zero them before the next step. The tape is cleared by backward() and clear_tape().
#pragma once
#include <functional>
#include <initializer_list>
#include <vector>

#include "engine/tensor.h"

namespace engine::autograd {

bool grad_enabled();

// Disables recording in its scope (evaluation, optimizer updates, finite differences).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// True when grad mode is on and any of the given (possibly undefined) tensors requires grad.
bool needs_grad(std::initializer_list<const Tensor*> inputs);

// Appends a backward closure to the tape.
void record(std::function<void()> backward_fn);

size_t tape_size();
void clear_tape();

// Seeds d(loss)/d(loss) = 1 (loss must have one element) and runs the tape in reverse.
void backward(const Tensor& loss);
// Seeds each output's gradient with the given tensor (accumulating) and runs the tape in reverse.
void backward(const std::vector<Tensor>& outputs, const std::vector<Tensor>& output_grads);

// Adds src into dst elementwise (same shape, dtype, device); the accumulation used by backward.
void accumulate(Tensor& dst, const Tensor& src);

}  // namespace engine::autograd
