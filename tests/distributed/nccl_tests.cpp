// The NCCL communicator on one GPU (CTest label gpu; built with ENGINE_NCCL): a 1-rank world's collectives
// on CUDA tensors. Without a CUDA device the program says so and exits with CTest's skip code.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdio>
#include <string>

#include "engine/cpu_dispatch.h"
#include "engine/distributed_backend.h"
#include "engine/memory.h"

using namespace engine;

TEST_CASE("nccl: a 1-rank communicator's collectives on CUDA tensors", "[gpu][nccl]") {
  dist::LaunchInfo one;  // rank 0 of 1: the id needs no rendezvous
  auto c = dist::nccl_communicator(one, 60);
  REQUIRE(std::string(c->backend()) == "nccl");
  REQUIRE(c->device() == Device::CUDA);
  Tensor a = Tensor::from_vector<float>({1, -2, 3.5f}, {3}).to(Device::CUDA);
  c->all_reduce(a, dist::ReduceOp::sum);
  CHECK(a.to_vector<float>() == std::vector<float>{1, -2, 3.5f});
  c->all_reduce(a, dist::ReduceOp::average);
  CHECK(a.to_vector<float>() == std::vector<float>{1, -2, 3.5f});
  Tensor d = Tensor::from_vector<double>({0.25, 7}, {2}).to(Device::CUDA);
  c->broadcast(d, 0);
  CHECK(d.to_vector<double>() == std::vector<double>{0.25, 7});
  Tensor g = Tensor::zeros({3}, DType::f32, Device::CUDA);
  c->all_gather(a, g);
  CHECK(g.to_vector<float>() == std::vector<float>{1, -2, 3.5f});
  c->barrier();
  dist::require_identical(*c, a, "the parameters", 1);  // one rank: trivially identical
}

int main(int argc, char** argv) {
  flush_denormals();
  bool listing = false;
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]).rfind("--list", 0) == 0) listing = true;
  if (!listing && !cuda_available()) {
    std::printf("SKIPPED: no CUDA device; the NCCL test not run\n");
    return 77;
  }
  return Catch::Session().run(argc, argv);
}
