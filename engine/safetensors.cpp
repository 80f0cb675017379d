#include "engine/safetensors.h"

#include "engine/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <limits>
#include <numeric>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_map>
#include <vector>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this file assumes a little-endian host"
#endif

namespace engine {

namespace {

constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // the Rust crate's limit

const char* st_dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "F32";
    case DType::f64: return "F64";
    case DType::bf16: return "BF16";
    case DType::i32: return "I32";
    case DType::i64: return "I64";
    case DType::u8: return "U8";
  }
  return "?";
}

bool st_dtype_from_name(const std::string& s, DType& out) {
  static const std::pair<const char*, DType> table[] = {{"F32", DType::f32}, {"F64", DType::f64},
                                                        {"BF16", DType::bf16}, {"I32", DType::i32},
                                                        {"I64", DType::i64}, {"U8", DType::u8}};
  for (const auto& [name, t] : table)
    if (s == name) {
      out = t;
      return true;
    }
  return false;
}

struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin, end;
};

}  // namespace

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::set<std::string> names;
  for (const auto& [name, t] : tensors) {
    USER_CHECK(t.defined(), "save_safetensors ", path, ": tensor ", name, " is undefined");
    USER_CHECK(name != "__metadata__", "save_safetensors ", path, ": \"__metadata__\" is reserved, not a tensor name");
    USER_CHECK(names.insert(name).second, "save_safetensors ", path, ": tensor name ", name, " given twice");
  }
  // Decreasing element size keeps every tensor aligned to its element size (the buffer starts 8-aligned).
  std::vector<size_t> order(tensors.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return dtype_size(tensors[a].second.dtype()) > dtype_size(tensors[b].second.dtype());
  });

  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (size_t i : order) {
    const Tensor& t = tensors[i].second;
    header[tensors[i].first] = {{"dtype", st_dtype_name(t.dtype())},
                                {"shape", t.shape()},
                                {"data_offsets", {offset, offset + t.nbytes()}}};
    offset += t.nbytes();
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception&) {  // invalid UTF-8 in a name or metadata string
    user_error("save_safetensors ", path, ": tensor names and metadata must be valid UTF-8");
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(uint64_t(text.size()) >> (8 * i));

  AtomicFile out(path);
  out.write(len, 8);
  out.write(text.data(), text.size());
  for (size_t i : order) {
    Tensor host = tensors[i].second.to(Device::CPU);  // one tensor at a time: no full host copy of a GPU model
    out.write(host.raw_data(), host.nbytes());
  }
  out.commit();
}

SafetensorsFile load_safetensors(const std::string& path) {
  auto fail = [&](const auto&... args) { user_error("safetensors file ", path, ": ", args...); };

  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("cannot open (", std::strerror(errno), ")");
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  auto read_at = [&](void* dst, uint64_t bytes, uint64_t at) {
    char* p = static_cast<char*>(dst);
    while (bytes > 0) {
      ssize_t n = ::pread(fd, p, bytes, off_t(at));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) fail("read failed at byte ", at, n < 0 ? std::string(" (") + std::strerror(errno) + ")" : "");
      p += n;
      at += uint64_t(n);
      bytes -= uint64_t(n);
    }
  };

  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) fail("not a regular file");
  const uint64_t file_size = uint64_t(st.st_size);
  if (file_size < 8) fail("file too short (", file_size, " bytes) to hold the 8-byte header length");
  unsigned char len[8];
  read_at(len, 8, 0);
  uint64_t header_len = 0;
  for (int i = 0; i < 8; ++i) header_len |= uint64_t(len[i]) << (8 * i);
  if (header_len > kMaxHeaderBytes) fail("header length ", header_len, " exceeds the 100 MB limit");
  if (header_len > file_size - 8)
    fail("header length ", header_len, " exceeds the file size (", file_size, " bytes)");
  std::string text(header_len, '\0');
  read_at(text.data(), header_len, 8);
  const uint64_t buffer_start = 8 + header_len;
  const uint64_t buffer_size = file_size - buffer_start;

  // nlohmann keeps the last of duplicate keys silently; a stack of key sets per open object catches them.
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  bool duplicate_top_level = false;
  auto on_event = [&](int, nlohmann::json::parse_event_t ev, nlohmann::json& parsed) {
    using E = nlohmann::json::parse_event_t;
    if (ev == E::object_start) open_objects.emplace_back();
    else if (ev == E::object_end) open_objects.pop_back();
    else if (ev == E::key && duplicate.empty() && !open_objects.back().insert(parsed.get<std::string>()).second) {
      duplicate = parsed.get<std::string>();
      duplicate_top_level = open_objects.size() == 1;
    }
    return true;
  };
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text, on_event);
  } catch (const nlohmann::json::exception& e) {
    fail("invalid JSON header (", e.what(), ")");
  }
  if (!header.is_object()) fail("header is not a JSON object");
  if (!duplicate.empty())
    fail(duplicate_top_level ? "tensor name " : "key ", "\"", duplicate, "\" appears twice in the header");

  SafetensorsFile out;
  std::vector<Entry> entries;
  for (const auto& [name, v] : header.items()) {
    if (name == "__metadata__") {
      if (!v.is_object()) fail("\"__metadata__\" is not an object");
      for (const auto& [k, value] : v.items()) {
        if (!value.is_string()) fail("metadata value for \"", k, "\" is not a string");
        out.metadata[k] = value.get<std::string>();
      }
      continue;
    }
    if (!v.is_object()) fail("entry for tensor ", name, " is not an object");
    Entry e;
    e.name = name;
    if (!v.contains("dtype") || !v["dtype"].is_string()) fail("tensor ", name, ": missing or non-string \"dtype\"");
    const std::string dt = v["dtype"].get<std::string>();
    if (!st_dtype_from_name(dt, e.dtype))
      fail("tensor ", name, ": unknown or unsupported dtype \"", dt, "\" (supported: F32 F64 BF16 I32 I64 U8)");
    if (!v.contains("shape") || !v["shape"].is_array()) fail("tensor ", name, ": missing or non-array \"shape\"");
    int64_t numel = 1;
    for (const auto& d : v["shape"]) {
      if (!d.is_number_integer()) fail("tensor ", name, ": shape entries must be integers");
      if (!d.is_number_unsigned()) fail("tensor ", name, ": negative dimension ", d.get<int64_t>(), " in shape");
      uint64_t u = d.get<uint64_t>();
      if (u > uint64_t(std::numeric_limits<int64_t>::max()) || (u != 0 && uint64_t(numel) > uint64_t(INT64_MAX) / u))
        fail("tensor ", name, ": shape overflows the element count");
      e.shape.push_back(int64_t(u));
      numel *= int64_t(u);
    }
    const auto& off = v.contains("data_offsets") ? v["data_offsets"] : nlohmann::json();
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      fail("tensor ", name, ": \"data_offsets\" must be two non-negative integers");
    e.begin = off[0].get<uint64_t>();
    e.end = off[1].get<uint64_t>();
    if (e.begin > e.end) fail("tensor ", name, ": data_offsets begin ", e.begin, " > end ", e.end);
    if (e.end > buffer_size)
      fail("tensor ", name, ": data_offsets end ", e.end, " beyond the byte buffer (", buffer_size, " bytes)");
    const uint64_t bytes = e.end - e.begin, esize = dtype_size(e.dtype);
    if (bytes % esize != 0 || bytes / esize != uint64_t(numel))
      fail("tensor ", name, ": data_offsets span ", bytes, " bytes, but shape ", shape_str(e.shape), " of ", dt,
           " needs ", uint64_t(numel) * esize);
    entries.push_back(std::move(e));
  }

  // The byte buffer must be covered exactly: no overlaps, no gaps, nothing left over.
  std::stable_sort(entries.begin(), entries.end(),
                   [](const Entry& a, const Entry& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
  uint64_t pos = 0;
  const Entry* prev = nullptr;
  for (const Entry& e : entries) {
    if (e.begin < pos) fail("tensor ", e.name, " overlaps tensor ", prev->name, " in the byte buffer");
    if (e.begin > pos) fail("gap in the byte buffer: bytes ", pos, "..", e.begin, " before tensor ", e.name, " unused");
    pos = e.end;
    prev = &e;
  }
  if (pos != buffer_size)
    fail("the tensors cover ", pos, " bytes of the ", buffer_size, "-byte buffer (trailing bytes unused)");

  for (const Entry& e : entries) {
    Tensor t = Tensor::empty(e.shape, e.dtype, Device::CPU);  // size checked against the file above
    read_at(t.raw_data(), e.end - e.begin, buffer_start + e.begin);
    out.tensors.emplace_back(e.name, t);
  }
  return out;
}

void save_module(const Module& m, const std::string& path, const std::map<std::string, std::string>& metadata) {
  NamedTensors sd = m.state_dict();
  // Each alias group keeps its lexicographically first name, as safetensors' _remove_duplicate_names.
  std::unordered_map<const TensorImpl*, std::string> keep;
  for (const auto& [name, t] : sd) {
    auto [it, fresh] = keep.emplace(t.impl_ptr().get(), name);
    if (!fresh && name < it->second) it->second = name;
  }
  NamedTensors kept;
  std::map<std::string, std::string> md = metadata;
  for (const auto& [name, t] : sd) {
    const std::string& k = keep[t.impl_ptr().get()];
    if (k == name) kept.emplace_back(name, t);
    else md.emplace(name, k);  // does not override the caller's entries
  }
  save_safetensors(path, kept, md);
}

void load_module(Module& m, const std::string& path) {
  SafetensorsFile f = load_safetensors(path);
  try {
    m.load_state_dict(f.tensors);
  } catch (const UserError& e) {
    user_error(path, ": ", e.what());
  }
}

}  // namespace engine
