// safetensors I/O: round trips, atomic writes, validation of malformed files (each crafted byte by byte),
// a fixture written by PyTorch's safetensors (tools/make_safetensors_fixture.py), save_module/load_module.
// With ENGINE_KEEP_TEST_OUTPUT=<dir>, the engine-written files are copied there for
// tools/check_engine_safetensors.py (the "engine file loads in PyTorch" check).
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <type_traits>

#include "engine/safetensors.h"
#include "tests/harness/temp_dir.h"

using namespace engine;
namespace fs = std::filesystem;
using test::read_bytes;
using test::write_bytes;

namespace {

void keep_output(const std::string& file) {
  const char* dir = std::getenv("ENGINE_KEEP_TEST_OUTPUT");
  if (!dir || !*dir) return;
  fs::create_directories(dir);
  fs::copy_file(file, fs::path(dir) / fs::path(file).filename(), fs::copy_options::overwrite_existing);
}

std::string u64le(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[size_t(i)] = char((n >> (8 * i)) & 0xff);
  return s;
}

// A file with the given JSON header and `buffer_bytes` bytes of data.
std::string crafted(const std::string& header, size_t buffer_bytes) {
  return u64le(header.size()) + header + std::string(buffer_bytes, '\x01');
}

std::string raw_of(const Tensor& t) {
  Tensor h = t.to(Device::CPU);
  return std::string(static_cast<const char*>(h.raw_data()), h.nbytes());
}

template <class T>
Tensor iota(const Shape& shape, double start, double step) {
  std::vector<T> v(size_t(shape_numel(shape)));
  for (size_t i = 0; i < v.size(); ++i) {
    const double x = start + step * double(i);
    // Integers through int64_t, whose narrowing wraps (the u8 case); double -> uint8_t out of range is undefined.
    if constexpr (std::is_integral_v<T>) v[i] = T(int64_t(x));
    else v[i] = T(x);
  }
  return Tensor::from_vector(v, shape);
}

Tensor bf16_iota(const Shape& shape, float start, float step) {
  std::vector<bf16> v(size_t(shape_numel(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = bf16(start + step * float(i));
  return Tensor::from_vector(v, shape);
}

}  // namespace

TEST_CASE("safetensors: round trip of every dtype, 0-dim and empty tensors, metadata", "[safetensors]") {
  test::TempDir dir("st");
  NamedTensors in = {
      {"u8", iota<uint8_t>({4, 3}, 250, 1)},            // wraps through 255 -> 0
      {"f32", iota<float>({2, 3, 5}, -1.25, 0.1)},
      {"scalar_f32", Tensor::full({}, 0.5)},
      {"bf16", bf16_iota({7}, -3.f, 0.75f)},
      {"i32", iota<int32_t>({3, 1, 2}, -100000, 33333)},
      {"f64", iota<double>({5}, 1.0 / 3.0, 1e-17)},
      {"i64", iota<int64_t>({2, 2}, -(1LL << 50), double(1LL << 45))},
      {"scalar_i64", Tensor::from_vector<int64_t>({12345678901LL}, {})},
      {"empty", Tensor::zeros({0, 4})},
  };
  std::map<std::string, std::string> md = {{"format", "pt"}, {"note", "héllo \"quoted\""}};
  const std::string path = dir.file("roundtrip.safetensors");
  save_safetensors(path, in, md);
  keep_output(path);

  const std::string bytes = read_bytes(path);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t(uint8_t(bytes[size_t(i)])) << (8 * i);
  REQUIRE(n % 8 == 0);  // header padded with spaces, buffer 8-aligned
  REQUIRE(bytes[8] == '{');

  SafetensorsFile f = load_safetensors(path);
  REQUIRE(f.metadata == md);
  // File order: decreasing element size, the given order within a size.
  std::vector<std::string> names;
  for (const auto& kv : f.tensors) names.push_back(kv.first);
  REQUIRE(names == std::vector<std::string>{"f64", "i64", "scalar_i64", "f32", "scalar_f32", "i32", "empty",
                                            "bf16", "u8"});
  for (const auto& [name, t] : f.tensors) {
    INFO(name);
    const Tensor* orig = nullptr;
    for (const auto& kv : in)
      if (kv.first == name) orig = &kv.second;
    REQUIRE(orig);
    REQUIRE(t.shape() == orig->shape());
    REQUIRE(t.dtype() == orig->dtype());
    REQUIRE(t.device() == Device::CPU);
    REQUIRE(raw_of(t) == raw_of(*orig));
  }
}

TEST_CASE("safetensors: an empty tensor list and no metadata", "[safetensors]") {
  test::TempDir dir("st");
  save_safetensors(dir.file("none.safetensors"), {});
  SafetensorsFile f = load_safetensors(dir.file("none.safetensors"));
  REQUIRE(f.tensors.empty());
  REQUIRE(f.metadata.empty());
  REQUIRE(read_bytes(dir.file("none.safetensors")) == u64le(8) + "{}      ");
}

TEST_CASE("safetensors: writes are atomic", "[safetensors]") {
  test::TempDir dir("st");
  NamedTensors t = {{"a", Tensor::full({3}, 1.0)}};

  SECTION("missing directory: error, no file") {
    const std::string path = dir.file("no_such_dir/x.safetensors");
    REQUIRE_THROWS_WITH(save_safetensors(path, t), Catch::Contains(path + ": cannot create a temporary file"));
    REQUIRE_FALSE(fs::exists(path));
  }
  SECTION("rename onto a directory fails after writing: the temporary file is removed") {
    fs::create_directory(dir.path / "occupied");
    REQUIRE_THROWS_WITH(save_safetensors(dir.file("occupied"), t), Catch::Contains("cannot rename"));
    REQUIRE(dir.entries() == 1);
    REQUIRE(fs::is_directory(dir.path / "occupied"));
  }
  SECTION("invalid input: an existing file is left untouched") {
    const std::string path = dir.file("x.safetensors");
    save_safetensors(path, t);
    const std::string before = read_bytes(path);
    NamedTensors dup = {{"a", Tensor::full({3}, 2.0)}, {"a", Tensor::full({3}, 3.0)}};
    REQUIRE_THROWS_WITH(save_safetensors(path, dup), Catch::Contains("tensor name a given twice"));
    REQUIRE_THROWS_WITH(save_safetensors(path, {{"__metadata__", Tensor::full({1}, 1.0)}}),
                        Catch::Contains("reserved"));
    REQUIRE_THROWS_WITH(save_safetensors(path, {{"bad\xff", Tensor::full({1}, 1.0)}}), Catch::Contains("UTF-8"));
    REQUIRE(read_bytes(path) == before);
    REQUIRE(dir.entries() == 1);
  }
}

TEST_CASE("safetensors: malformed files are rejected with a message naming the problem", "[safetensors]") {
  test::TempDir dir("st");
  const std::string path = dir.file("bad.safetensors");
  auto load_fails_with = [&](const std::string& bytes, const std::string& problem) {
    INFO("expected problem: " << problem);
    write_bytes(path, bytes);
    REQUIRE_THROWS_MATCHES(load_safetensors(path), UserError,
                           Catch::Matchers::Predicate<UserError>(
                               [&](const UserError& e) {
                                 std::string m = e.what();
                                 return m.find("safetensors file " + path + ": ") == 0 &&
                                        m.find(problem) != std::string::npos;
                               },
                               "message names the file and '" + problem + "'"));
  };
  // A valid 1-tensor header for reference: 2 f32 = 8 bytes.
  const std::string ok = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  write_bytes(path, crafted(ok, 8));
  REQUIRE(load_safetensors(path).tensors.size() == 1);

  load_fails_with(std::string("\x05\0\0\0\0", 5), "file too short (5 bytes)");
  load_fails_with(u64le(1000) + "{}", "header length 1000 exceeds the file size (10 bytes)");
  load_fails_with(u64le(200'000'000) + "{}", "header length 200000000 exceeds the 100 MB limit");
  load_fails_with(u64le(~0ULL) + "{}", "exceeds the 100 MB limit");
  load_fails_with(crafted("", 0), "invalid JSON header");
  load_fails_with(crafted("{\"a\": {", 0), "invalid JSON header");
  load_fails_with(crafted(ok + "x", 8), "invalid JSON header");
  load_fails_with(crafted("[1, 2]", 0), "header is not a JSON object");
  load_fails_with(crafted(R"({"a": 3})", 0), "entry for tensor a is not an object");
  load_fails_with(crafted(R"({"a":{"shape":[2],"data_offsets":[0,8]}})", 8), "tensor a: missing or non-string \"dtype\"");
  load_fails_with(crafted(R"({"a":{"dtype":4,"shape":[2],"data_offsets":[0,8]}})", 8), "missing or non-string \"dtype\"");
  load_fails_with(crafted(R"({"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})", 4),
                  "tensor a: unknown or unsupported dtype \"F16\"");
  load_fails_with(crafted(R"({"a":{"dtype":"Q9","shape":[2],"data_offsets":[0,8]}})", 8), "unknown or unsupported dtype \"Q9\"");
  load_fails_with(crafted(R"({"a":{"dtype":"F32","data_offsets":[0,8]}})", 8), "tensor a: missing or non-array \"shape\"");
  load_fails_with(crafted(R"({"a":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", 8), "missing or non-array \"shape\"");
  load_fails_with(crafted(R"({"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", 8), "shape entries must be integers");
  load_fails_with(crafted(R"({"a":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}})", 8), "shape entries must be integers");
  load_fails_with(crafted(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8), "tensor a: negative dimension -2");
  load_fails_with(crafted(R"({"a":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8),
                  "shape overflows");
  load_fails_with(crafted(R"({"a":{"dtype":"F32","shape":[2]}})", 8), "tensor a: \"data_offsets\" must be two non-negative integers");
  load_fails_with(crafted(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", 8), "\"data_offsets\" must be two");
  load_fails_with(crafted(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})", 8), "\"data_offsets\" must be two");
  load_fails_with(crafted(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,"8"]}})", 8), "\"data_offsets\" must be two");
  load_fails_with(crafted(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", 8), "tensor a: data_offsets begin 8 > end 4");
  load_fails_with(crafted(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8),
                  "tensor a: data_offsets end 16 beyond the byte buffer (8 bytes)");
  load_fails_with(crafted(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
                  "tensor a: data_offsets span 8 bytes, but shape [3] of F32 needs 12");
  load_fails_with(crafted(R"({"a":{"dtype":"F64","shape":[1],"data_offsets":[0,4]}})", 4), "span 4 bytes, but shape [1] of F64 needs 8");
  load_fails_with(crafted(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                          R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12),
                  "tensor b overlaps tensor a in the byte buffer");
  load_fails_with(crafted(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                          R"("b":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}})", 16),
                  "gap in the byte buffer: bytes 8..12 before tensor b unused");
  load_fails_with(crafted(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8), "gap in the byte buffer: bytes 0..4");
  load_fails_with(crafted(ok, 12), "the tensors cover 8 bytes of the 12-byte buffer");
  load_fails_with(crafted(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                          R"("a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", 16),
                  "tensor name \"a\" appears twice in the header");
  load_fails_with(crafted(R"({"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8),
                  "key \"dtype\" appears twice in the header");
  load_fails_with(crafted(R"({"__metadata__":{"k":1},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8),
                  "metadata value for \"k\" is not a string");
  load_fails_with(crafted(R"({"__metadata__":["k"]})", 0), "\"__metadata__\" is not an object");
  load_fails_with(crafted("{\"a\xff\":{}}", 0), "invalid JSON header");  // not UTF-8

  REQUIRE_THROWS_WITH(load_safetensors(dir.file("missing.safetensors")), Catch::Contains("cannot open"));
  REQUIRE_THROWS_WITH(load_safetensors(dir.path.string()), Catch::Contains("not a regular file"));
}

TEST_CASE("safetensors: the PyTorch fixture loads with exact values", "[safetensors]") {
  // tools/make_safetensors_fixture.py wrote it with safetensors.torch.save_file; same formulas here.
  SafetensorsFile f = load_safetensors(std::string(ENGINE_TEST_DATA_DIR) + "/safetensors/torch_fixture.safetensors");
  REQUIRE(f.metadata == std::map<std::string, std::string>{{"format", "pt"},
                                                           {"source", "tools/make_safetensors_fixture.py"}});
  std::map<std::string, Tensor> t(f.tensors.begin(), f.tensors.end());
  REQUIRE(t.size() == 10);

  auto expect = [&](const std::string& name, DType dtype, const Shape& shape) -> const Tensor& {
    INFO(name);
    REQUIRE(t.count(name));
    REQUIRE(t[name].dtype() == dtype);
    REQUIRE(t[name].shape() == shape);
    return t[name];
  };
  {
    auto v = expect("block.weight", DType::f32, {2, 3, 5}).to_vector<float>();
    for (size_t i = 0; i < v.size(); ++i) REQUIRE(v[i] == float(double(i) * 0.25 - 3));
  }
  {
    auto v = expect("stats.f64", DType::f64, {7}).to_vector<double>();
    for (size_t i = 0; i < v.size(); ++i) REQUIRE(v[i] == double(i) / 3);
  }
  {
    auto v = expect("half.bf16", DType::bf16, {3, 4}).to_vector<bf16>();
    for (size_t i = 0; i < v.size(); ++i) REQUIRE(float(v[i]) == float((double(i) - 5) * 0.5));
  }
  {
    auto v = expect("index.i32", DType::i32, {2, 2, 3}).to_vector<int32_t>();
    for (size_t i = 0; i < v.size(); ++i) REQUIRE(v[i] == int32_t(i) * 1000 - 5000);
  }
  {
    auto v = expect("count.i64", DType::i64, {5}).to_vector<int64_t>();
    for (size_t i = 0; i < v.size(); ++i) REQUIRE(v[i] == (int64_t(i) - 2) * (int64_t(1) << 40));
  }
  {
    auto v = expect("mask.u8", DType::u8, {4, 5}).to_vector<uint8_t>();
    for (size_t i = 0; i < v.size(); ++i) REQUIRE(v[i] == uint8_t((i * 13) % 256));
  }
  {
    auto v = expect("conv.weight", DType::f32, {1, 7, 1, 3}).to_vector<float>();
    for (size_t i = 0; i < v.size(); ++i) REQUIRE(v[i] == float(double(int(i * i % 17) - 8) / 16));
  }
  REQUIRE(expect("scalar", DType::f32, {}).item<float>() == 3.5f);
  REQUIRE(expect("bn.num_batches_tracked", DType::i64, {}).item<int64_t>() == 7);
  REQUIRE(expect("empty", DType::f32, {0, 3}).numel() == 0);
  // Returned in file offset order (save_file sorts by dtype alignment, then name).
  REQUIRE(f.tensors.front().first == "bn.num_batches_tracked");
  REQUIRE(f.tensors.back().first == "mask.u8");
}

namespace {

// Two sub-modules share P; the first name registered ("zeta.P") is not the lexicographically first.
struct Conv : Module {
  Tensor weight, P;
  Conv(Tensor shared_P, float s) {
    weight = register_parameter("weight", iota<float>({2, 3}, s, 0.5));
    P = register_parameter("P", shared_P);
  }
};
struct BNLike : Module {
  Tensor running_mean, num_batches_tracked;
  explicit BNLike(float s) {
    register_parameter("weight", iota<float>({3}, s, 1));
    running_mean = register_buffer("running_mean", iota<float>({3}, s + 1, 1));
    num_batches_tracked = register_buffer("num_batches_tracked", Tensor::from_vector<int64_t>({int64_t(s)}, {}));
  }
};
struct Toy : Module {
  std::shared_ptr<Conv> zeta, alpha;
  std::shared_ptr<BNLike> bn;
  explicit Toy(float s) {
    Tensor P = iota<float>({2, 2, 1, 3}, s + 50, 0.25);  // (2, C, 1, K)
    zeta = register_module("zeta", std::make_shared<Conv>(P, s));
    alpha = register_module("alpha", std::make_shared<Conv>(P, s + 10));
    bn = register_module("bn", std::make_shared<BNLike>(s + 20));
  }
};

}  // namespace

TEST_CASE("safetensors: save_module stores aliases once, load_module restores the module", "[safetensors]") {
  test::TempDir dir("st");
  Toy a(1), b(100);
  const std::string path = dir.file("module.safetensors");
  save_module(a, path, {{"arch", "toy"}});
  keep_output(path);

  SafetensorsFile f = load_safetensors(path);
  std::vector<std::string> names;
  for (const auto& kv : f.tensors) names.push_back(kv.first);
  // i64 first (element size), then state-dict order; zeta.P dropped in favour of alpha.P.
  REQUIRE(names == std::vector<std::string>{"bn.num_batches_tracked", "zeta.weight", "alpha.weight", "alpha.P",
                                            "bn.weight", "bn.running_mean"});
  REQUIRE(f.metadata == std::map<std::string, std::string>{{"arch", "toy"}, {"zeta.P", "alpha.P"}});

  load_module(b, path);
  NamedTensors sa = a.state_dict(), sb = b.state_dict();
  REQUIRE(sa.size() == sb.size());
  for (size_t i = 0; i < sa.size(); ++i) {
    INFO(sa[i].first);
    REQUIRE(sb[i].first == sa[i].first);
    REQUIRE(raw_of(sb[i].second) == raw_of(sa[i].second));
  }
  REQUIRE(b.zeta->P.is_same(b.alpha->P));

  // A file for another module: the error names the file and the key.
  Module other;
  REQUIRE_THROWS_WITH(load_module(other, path), Catch::StartsWith(path + ": load_state_dict: unexpected key"));
}
