// Spectrogram HDF5 files: see spectrogram_h5.h and docs/spectrogram-hdf5.md.
// Every HDF5 call below runs under hdf5_lock(); float16 <-> float conversion is done here, outside the lock,
// so loader threads overlap everything but the file reads.
#include "data/spectrogram_h5.h"

#include <fcntl.h>
#include <hdf5.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <unordered_set>
#include <vector>

#include "engine/check.h"

namespace engine::data {

std::unique_lock<std::recursive_mutex> hdf5_lock() {
  static std::recursive_mutex mutex;
  std::unique_lock<std::recursive_mutex> lock(mutex);
  // No printed error stacks, we report failures ourselves; Debian's build keeps a stack per thread.
  static thread_local bool silenced = false;
  if (!silenced) {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    silenced = true;
  }
  return lock;
}

bool hdf5_plain_number_size(int64_t type) {
  const size_t size = H5Tget_size(type);
  return size >= 1 && size <= 8;
}

namespace {

// ---- IEEE binary16 <-> binary32 -------------------------------------------------------------------------

// Round to nearest even; overflow (|x| >= 65520) gives inf, NaN stays NaN (F. Giesen's branch-light scheme).
uint16_t float_to_half(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint32_t sign = u & 0x80000000u;
  u ^= sign;
  uint16_t h;
  if (u >= (127u + 16u) << 23) {           // >= 65536, inf or NaN
    h = u > 0x7f800000u ? 0x7e00 : 0x7c00;
  } else if (u < 113u << 23) {             // below 2^-14: half subnormal or zero
    float a;
    std::memcpy(&a, &u, 4);
    a += 0.5f;                             // 0.5 has the half-subnormal ulp (2^-24) as its own ulp: FPU rounds
    uint32_t r;
    std::memcpy(&r, &a, 4);
    h = uint16_t(r - 0x3f000000u);
  } else {
    const uint32_t mant_odd = (u >> 13) & 1u;
    u += (uint32_t(15 - 127) << 23) + 0xfffu + mant_odd;  // rebias the exponent, round half to even
    h = uint16_t(u >> 13);
  }
  return uint16_t(h | (sign >> 16));
}

float half_bits_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
  uint32_t u;
  if (exp == 0x1f) {
    u = sign | 0x7f800000u | (mant << 13);
  } else if (exp == 0) {                   // zero or subnormal: mant * 2^-24, exact in float
    float f = float(mant) * (1.0f / 16777216.0f);
    std::memcpy(&u, &f, 4);
    u |= sign;
  } else {
    u = sign | ((exp + 112u) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

#if defined(__x86_64__)
// F16C (every x86-64 CPU since 2012): 8 conversions per instruction, rounding to nearest even like the
// scalar functions above, which do the tails and CPUs without F16C.
__attribute__((target("avx,f16c"))) void halves_to_floats_f16c(const uint16_t* h, float* f, int64_t n) {
  int64_t k = 0;
  for (; k + 8 <= n; k += 8)
    _mm256_storeu_ps(f + k, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + k))));
  for (; k < n; ++k) f[k] = half_bits_to_float(h[k]);
}
__attribute__((target("avx,f16c"))) void floats_to_halves_f16c(const float* f, uint16_t* h, int64_t n) {
  int64_t k = 0;
  for (; k + 8 <= n; k += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(h + k), _mm256_cvtps_ph(_mm256_loadu_ps(f + k), _MM_FROUND_TO_NEAREST_INT));
  for (; k < n; ++k) h[k] = float_to_half(f[k]);
}
bool have_f16c() {
  // F16C from CPUID itself: clang (14) does not know __builtin_cpu_supports("f16c").
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  static const bool yes = __builtin_cpu_supports("avx") && __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C);
  return yes;
}
#endif

void halves_to_floats(const uint16_t* h, float* f, int64_t n) {
#if defined(__x86_64__)
  if (have_f16c()) return halves_to_floats_f16c(h, f, n);
#endif
  for (int64_t k = 0; k < n; ++k) f[k] = half_bits_to_float(h[k]);
}
void floats_to_halves(const float* f, uint16_t* h, int64_t n) {
#if defined(__x86_64__)
  if (have_f16c()) return floats_to_halves_f16c(f, h, n);
#endif
  for (int64_t k = 0; k < n; ++k) h[k] = float_to_half(f[k]);
}

// True when any value is NaN or inf (exponent bits all ones), vectorised.
bool any_non_finite(const float* x, int64_t n) {
  uint32_t bad = 0;
#pragma omp simd reduction(| : bad)
  for (int64_t k = 0; k < n; ++k) {
    uint32_t u;
    std::memcpy(&u, x + k, 4);
    bad |= uint32_t((u & 0x7f800000u) == 0x7f800000u);
  }
  return bad != 0;
}
bool any_non_finite(const uint16_t* h, int64_t n) {
  uint32_t bad = 0;
#pragma omp simd reduction(| : bad)
  for (int64_t k = 0; k < n; ++k) bad |= uint32_t((h[k] & 0x7c00u) == 0x7c00u);
  return bad != 0;
}

// ---- HDF5 helpers (callers hold hdf5_lock()) ---------------------------------------------------------------

// The innermost message of HDF5's error stack (the most specific reason), then the stack is cleared.
std::string h5_reason() {
  std::string msg;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_UPWARD,
      [](unsigned, const H5E_error2_t* e, void* data) -> herr_t {
        auto* s = static_cast<std::string*>(data);
        if (s->empty() && e->desc) *s = e->desc;
        return 0;
      },
      &msg);
  H5Eclear2(H5E_DEFAULT);
  std::replace(msg.begin(), msg.end(), '\n', ' ');  // e.g. the ctime() in a failed write's message: one line
  return msg.empty() ? "unknown HDF5 error" : msg;
}

// Throws a UserError naming the file when an HDF5 call failed (a negative id or status).
template <class R>
R h5(R result, const std::string& path, const char* what) {
  if (result < 0) user_error(path, ": HDF5 could not ", what, ": ", h5_reason());
  return result;
}

// An HDF5 identifier closed by its H5?close when it goes out of scope (taking the lock itself).
class Hid {
 public:
  Hid() = default;
  Hid(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  Hid(Hid&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  Hid& operator=(Hid&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = o.id_;
      close_ = o.close_;
      o.id_ = -1;
    }
    return *this;
  }
  ~Hid() { reset(); }
  void reset() {
    if (id_ >= 0) {
      auto lock = hdf5_lock();
      close_(id_);
      id_ = -1;
    }
  }
  operator hid_t() const { return id_; }

 private:
  hid_t id_ = -1;
  herr_t (*close_)(hid_t) = nullptr;
};

Hid space_simple(std::vector<hsize_t> dims, std::vector<hsize_t> maxdims = {}) {
  return Hid(H5Screate_simple(int(dims.size()), dims.data(), maxdims.empty() ? nullptr : maxdims.data()), H5Sclose);
}

// IEEE binary16, little endian, as h5py and numpy's float16 (HDF5 1.10 predates H5T_IEEE_F16LE).
Hid half_type() {
  Hid t(H5Tcopy(H5T_IEEE_F32LE), H5Tclose);
  H5Tset_fields(t, 15, 10, 5, 0, 10);
  H5Tset_size(t, 2);
  H5Tset_ebias(t, 15);
  return t;
}

bool is_half_type(hid_t t) {
  size_t spos, epos, esize, mpos, msize;
  return H5Tget_class(t) == H5T_FLOAT && H5Tget_size(t) == 2 && H5Tget_order(t) == H5T_ORDER_LE &&
         H5Tget_fields(t, &spos, &epos, &esize, &mpos, &msize) >= 0 && spos == 15 && epos == 10 && esize == 5 &&
         mpos == 0 && msize == 10 && H5Tget_ebias(t) == 15;
}

Hid utf8_string_type() {
  Hid t(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(t, H5T_VARIABLE);
  H5Tset_cset(t, H5T_CSET_UTF8);
  return t;
}

// Root attributes. Integers are stored as int64, reals as float64, strings as variable-length UTF-8.
Hid open_or_create_attr(hid_t loc, const char* name, hid_t file_type, const std::string& path) {
  if (H5Aexists(loc, name) > 0) return Hid(h5(H5Aopen(loc, name, H5P_DEFAULT), path, "open an attribute"), H5Aclose);
  Hid scalar(H5Screate(H5S_SCALAR), H5Sclose);
  return Hid(h5(H5Acreate2(loc, name, file_type, scalar, H5P_DEFAULT, H5P_DEFAULT), path, "create an attribute"),
             H5Aclose);
}
void write_attr(hid_t loc, const char* name, int64_t v, const std::string& path) {
  Hid a = open_or_create_attr(loc, name, H5T_STD_I64LE, path);
  h5(H5Awrite(a, H5T_NATIVE_INT64, &v), path, "write an attribute");
}
void write_attr(hid_t loc, const char* name, double v, const std::string& path) {
  Hid a = open_or_create_attr(loc, name, H5T_IEEE_F64LE, path);
  h5(H5Awrite(a, H5T_NATIVE_DOUBLE, &v), path, "write an attribute");
}
void write_attr(hid_t loc, const char* name, const std::string& v, const std::string& path) {
  Hid t = utf8_string_type();
  Hid a = open_or_create_attr(loc, name, t, path);
  const char* p = v.c_str();
  h5(H5Awrite(a, t, &p), path, "write an attribute");
}

Hid open_attr(hid_t loc, const char* name, const std::string& path) {
  if (H5Aexists(loc, name) <= 0)
    user_error(path, ": not a dcls-engine spectrogram file (root attribute '", name, "' is missing)");
  return Hid(h5(H5Aopen(loc, name, H5P_DEFAULT), path, "open an attribute"), H5Aclose);
}
template <class T>
T read_number_attr(hid_t loc, const char* name, const std::string& path) {
  Hid a = open_attr(loc, name, path);
  Hid t(H5Aget_type(a), H5Tclose);
  const H5T_class_t c = H5Tget_class(t);
  if ((c != H5T_INTEGER && c != H5T_FLOAT) || !hdf5_plain_number_size(t))
    user_error(path, ": root attribute '", name, "' is not a number");
  T v{};
  h5(H5Aread(a, std::is_same<T, double>::value ? H5T_NATIVE_DOUBLE : H5T_NATIVE_INT64, &v), path,
     "read an attribute");
  return v;
}
// The longest string attribute written is a front-end description or a class list of a few KiB.
constexpr size_t kMaxAttrStringBytes = size_t(1) << 20;
std::string read_string_attr(hid_t loc, const char* name, const std::string& path) {
  Hid a = open_attr(loc, name, path);
  Hid t(H5Aget_type(a), H5Tclose);
  if (H5Tget_class(t) != H5T_STRING) user_error(path, ": root attribute '", name, "' is not a string");
  if (H5Tis_variable_str(t) > 0) {
    Hid mt = utf8_string_type();
    char* p = nullptr;
    h5(H5Aread(a, mt, &p), path, "read an attribute");
    std::string s = p ? p : "";
    H5free_memory(p);
    return s;
  }
  const size_t width = H5Tget_size(t);  // fixed-length string (e.g. written by h5py from bytes)
  if (width > kMaxAttrStringBytes)
    user_error(path, ": root attribute '", name, "' is a string of ", width, " bytes (expected at most ",
               kMaxAttrStringBytes, ")");
  std::string s(width, '\0');
  h5(H5Aread(a, t, s.data()), path, "read an attribute");
  return s.substr(0, s.find('\0'));
}

// What the front end always does (not configurable in FrontEndConfig): written so that the file says how its
// numbers were made, and checked on reading so that a file from another front end is refused.
struct FixedString {
  const char* name;
  const char* value;
};
constexpr FixedString kFixedStrings[] = {
    {"window", "hann_periodic"},
    {"pad_mode", "reflect"},
    {"mel_scale", "htk"},
    {"mel_norm", "none"},
    {"db", "10*log10(max(mel_power, amin)), ref 1, no top_db"},
};
struct FixedNumber {
  const char* name;
  double value;
};
constexpr FixedNumber kFixedNumbers[] = {{"center", 1.0}, {"onesided", 1.0}, {"power", 2.0}};

constexpr char kFormatName[] = "dcls-engine log-mel spectrograms";

void write_header(hid_t file, const FrontEndConfig& fe, int num_classes, const std::string& source,
                  const std::string& path) {
  write_attr(file, "format", std::string(kFormatName), path);
  write_attr(file, "format_version", int64_t(kSpectrogramFormatVersion), path);
  write_attr(file, "sample_rate", int64_t(fe.sample_rate), path);
  write_attr(file, "clip_samples", int64_t(fe.clip_samples), path);
  write_attr(file, "n_fft", int64_t(fe.n_fft), path);
  write_attr(file, "hop", int64_t(fe.hop), path);
  write_attr(file, "n_mels", int64_t(fe.n_mels), path);
  write_attr(file, "frames", int64_t(fe.frames()), path);
  write_attr(file, "f_min", fe.f_min, path);
  write_attr(file, "f_max", fe.f_max, path);
  write_attr(file, "amin", fe.amin, path);
  for (const auto& s : kFixedStrings) write_attr(file, s.name, std::string(s.value), path);
  for (const auto& n : kFixedNumbers) write_attr(file, n.name, n.value, path);
  write_attr(file, "num_classes", int64_t(num_classes), path);
  write_attr(file, "source", source, path);
  write_attr(file, "num_clips", int64_t(0), path);
  write_attr(file, "complete", int64_t(0), path);
}

struct Header {
  FrontEndConfig fe;
  int num_classes = 0;
  int64_t num_clips = 0;
  bool complete = false;
};

// Checks the format and the fixed front-end attributes; returns the variable ones.
Header read_header(hid_t file, const std::string& path) {
  const std::string format = read_string_attr(file, "format", path);
  if (format != kFormatName) user_error(path, ": not a dcls-engine spectrogram file (format '", format, "')");
  const int64_t version = read_number_attr<int64_t>(file, "format_version", path);
  if (version != kSpectrogramFormatVersion)
    user_error(path, ": spectrogram format version ", version, ", this engine reads version ",
               kSpectrogramFormatVersion);
  for (const auto& s : kFixedStrings) {
    const std::string v = read_string_attr(file, s.name, path);
    if (v != s.value)
      user_error(path, ": front-end attribute ", s.name, " is '", v, "', this engine's front end uses '", s.value, "'");
  }
  for (const auto& n : kFixedNumbers) {
    const double v = read_number_attr<double>(file, n.name, path);
    if (v != n.value)
      user_error(path, ": front-end attribute ", n.name, " is ", v, ", this engine's front end uses ", n.value);
  }
  Header h;
  h.fe.sample_rate = int(read_number_attr<int64_t>(file, "sample_rate", path));
  h.fe.clip_samples = int(read_number_attr<int64_t>(file, "clip_samples", path));
  h.fe.n_fft = int(read_number_attr<int64_t>(file, "n_fft", path));
  h.fe.hop = int(read_number_attr<int64_t>(file, "hop", path));
  h.fe.n_mels = int(read_number_attr<int64_t>(file, "n_mels", path));
  h.fe.f_min = read_number_attr<double>(file, "f_min", path);
  h.fe.f_max = read_number_attr<double>(file, "f_max", path);
  h.fe.amin = read_number_attr<double>(file, "amin", path);
  if (h.fe.n_mels <= 0 || h.fe.hop <= 0 || h.fe.clip_samples <= 0)
    user_error(path, ": invalid front-end attributes (n_mels, hop and clip_samples must be positive)");
  const int64_t frames = read_number_attr<int64_t>(file, "frames", path);
  if (frames != h.fe.frames())
    user_error(path, ": attribute frames is ", frames, ", but clip_samples and hop give ", h.fe.frames());
  h.num_classes = int(read_number_attr<int64_t>(file, "num_classes", path));
  if (h.num_classes <= 0) user_error(path, ": attribute num_classes is ", h.num_classes, ", expected > 0");
  h.num_clips = read_number_attr<int64_t>(file, "num_clips", path);
  h.complete = read_number_attr<int64_t>(file, "complete", path) == 1;
  return h;
}

// The four datasets of a file; row i of each belongs to clip i.
struct Datasets {
  Hid logmel, labels, names, sources;
};

Hid open_dataset(hid_t file, const char* name, bool big_chunks, const std::string& path) {
  if (H5Lexists(file, name, H5P_DEFAULT) <= 0)
    user_error(path, ": not a dcls-engine spectrogram file (dataset '", name, "' is missing)");
  Hid dapl(H5Pcreate(H5P_DATASET_ACCESS), H5Pclose);
  // One clip per chunk, read or written whole and at random: no chunk cache, HDF5 does direct I/O.
  if (big_chunks) H5Pset_chunk_cache(dapl, H5D_CHUNK_CACHE_NSLOTS_DEFAULT, 0, H5D_CHUNK_CACHE_W0_DEFAULT);
  return Hid(h5(H5Dopen2(file, name, dapl), path, "open a dataset"), H5Dclose);
}

Datasets open_datasets(hid_t file, const std::string& path) {
  return {open_dataset(file, "logmel", true, path), open_dataset(file, "labels", false, path),
          open_dataset(file, "clip_names", false, path), open_dataset(file, "sources", false, path)};
}

std::vector<hsize_t> dataset_dims(hid_t ds, const std::string& path) {
  Hid space(h5(H5Dget_space(ds), path, "get a dataset's shape"), H5Sclose);
  std::vector<hsize_t> dims(size_t(std::max(0, H5Sget_simple_extent_ndims(space))));
  H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  return dims;
}

// Checks ranks, the per-clip dims (M, T), (K) and the label and string types; returns each dataset's N.
std::array<int64_t, 4> check_dataset_shapes(const Datasets& d, const Header& h, const std::string& path) {
  const auto lm = dataset_dims(d.logmel, path), lb = dataset_dims(d.labels, path);
  const auto nm = dataset_dims(d.names, path), sr = dataset_dims(d.sources, path);
  auto shape = [](const std::vector<hsize_t>& v) {
    std::string s = "(";
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
    return s + ")";
  };
  if (lm.size() != 3 || int64_t(lm[1]) != h.fe.n_mels || int64_t(lm[2]) != h.fe.frames())
    user_error(path, ": dataset logmel has shape ", shape(lm), ", expected (N, ", h.fe.n_mels, ", ", h.fe.frames(), ")");
  if (lb.size() != 2 || int64_t(lb[1]) != h.num_classes)
    user_error(path, ": dataset labels has shape ", shape(lb), ", expected (N, ", h.num_classes, ")");
  if (nm.size() != 1 || sr.size() != 1)
    user_error(path, ": datasets clip_names and sources must be 1-D, got ", shape(nm), " and ", shape(sr));
  Hid lt(H5Dget_type(d.labels), H5Tclose);
  if (H5Tget_class(lt) != H5T_INTEGER || H5Tget_size(lt) != 1)
    user_error(path, ": dataset labels must be uint8 (0/1)");
  for (auto [ds, name] : {std::pair<hid_t, const char*>{d.names, "clip_names"}, {d.sources, "sources"}}) {
    Hid t(H5Dget_type(ds), H5Tclose);
    if (H5Tget_class(t) != H5T_STRING || H5Tis_variable_str(t) <= 0)
      user_error(path, ": dataset ", name, " must hold variable-length strings");
  }
  return {int64_t(lm[0]), int64_t(lb[0]), int64_t(nm[0]), int64_t(sr[0])};
}

// A (1, d1, d2...) block at row i of a dataset with the given row shape: file and memory spaces.
struct RowSelection {
  Hid file_space, mem_space;
};
RowSelection select_row(hid_t ds, int64_t i, const std::vector<hsize_t>& row_dims, const std::string& path) {
  Hid fs(h5(H5Dget_space(ds), path, "get a dataset's shape"), H5Sclose);
  std::vector<hsize_t> start(row_dims.size() + 1, 0), count(row_dims.size() + 1, 1);
  start[0] = hsize_t(i);
  for (size_t d = 0; d < row_dims.size(); ++d) count[d + 1] = row_dims[d];
  h5(H5Sselect_hyperslab(fs, H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr), path,
     "select a clip");
  return {std::move(fs), space_simple(count)};
}

// A transfer property list for one-string I/O: HDF5 otherwise callocs a 1 MiB conversion buffer (twice) for
// every variable-length string read or written, which was most of an append's time.
Hid string_transfer() {
  Hid dxpl(H5Pcreate(H5P_DATASET_XFER), H5Pclose);
  H5Pset_buffer(dxpl, 4096, nullptr, nullptr);
  return dxpl;
}

std::string read_string_row(hid_t ds, int64_t i, const std::string& path) {
  RowSelection sel = select_row(ds, i, {}, path);
  Hid t = utf8_string_type();
  Hid dxpl = string_transfer();
  char* p = nullptr;
  h5(H5Dread(ds, t, sel.mem_space, sel.file_space, dxpl, &p), path, "read a string");
  std::string s = p ? p : "";
  H5free_memory(p);
  return s;
}

bool exists(const std::string& p) {
  std::error_code ec;
  return std::filesystem::exists(p, ec);
}

// Opens an existing file as HDF5, naming the file in the one-line error otherwise.
Hid open_file(const std::string& path, unsigned flags) {
  if (!exists(path)) user_error(path, ": no such file");
  const htri_t is_h5 = H5Fis_hdf5(path.c_str());
  if (is_h5 <= 0) {
    H5Eclear2(H5E_DEFAULT);
    user_error(path, ": not an HDF5 file");
  }
  return Hid(h5(H5Fopen(path.c_str(), flags, H5P_DEFAULT), path, "open the file"), H5Fclose);
}

// UserError naming the file and the clip (`clip`, e.g. "clip 7 (Yabc)") at the first NaN/inf of x.
void require_finite(const float* x, int64_t M, int64_t T, const std::string& path, const std::string& clip) {
  for (int64_t k = 0; k < M * T; ++k)
    if (!std::isfinite(x[k]))
      user_error(path, ": ", clip, ": log-mel contains ", std::isnan(x[k]) ? "NaN" : "inf", " at mel bin ", k / T,
                 ", frame ", k % T);
}

}  // namespace

// ---- writer ---------------------------------------------------------------------------------------------------

// Rows per chunk of labels and of the string datasets (clip_names, sources: a variable-length string is a
// 16-byte global heap reference in its chunk); an appended row may start a new chunk of each.
constexpr hsize_t kLabelChunkRows = 64, kStringChunkRows = 1024;
// Disk space for HDF5's metadata: of the new file, and of one appended row (B-tree nodes, heap collections),
// with margin.
constexpr int64_t kMetadataReserve = 64 << 10;

struct SpectrogramWriter::Impl {
  std::string path, partial;
  FrontEndConfig fe;
  int num_classes = 0;
  bool float32 = false;
  int64_t M = 0, T = 0;
  Hid file;
  Datasets ds;
  Hid half, str, string_xfer;
  int64_t rows = 0;  // committed clips (the num_clips attribute)
  std::unordered_set<std::string> names;
  bool finished = false;
  int fd = -1;  // the .partial, for reserve()

  ~Impl() {  // when the constructor failed; otherwise close() has run
    if (fd >= 0) ::close(fd);
  }

  // Allocates the `bytes` after HDF5's end of allocation on the disk before HDF5 writes there, so that a
  // full disk or a file size limit fails here, with the file as its last flush left it. A write failing
  // inside HDF5 would leave a .partial that no longer opens (its superblock naming an end past the end of
  // the file). close() trims what was not used.
  void reserve(int64_t bytes) {
    haddr_t eoa = 0;
    h5(H5Fget_eoa(file, &eoa), partial, "get the end of allocation");
    const int rc = ::posix_fallocate(fd, off_t(eoa), off_t(bytes));
    if (rc != 0)
      user_error(partial, ": no room for the next clip (", std::strerror(rc), "); what was written (", rows,
                 rows == 1 ? " clip" : " clips", ") is kept: make room, then run again to continue");
  }

  void open_fd() {
    fd = ::open(partial.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) user_error(partial, ": cannot open for writing (", std::strerror(errno), ")");
  }

  void create(const std::string& source) {
    file = Hid(h5(H5Fcreate(partial.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), partial, "create the file"),
               H5Fclose);
    open_fd();
    reserve(kMetadataReserve);
    write_header(file, fe, num_classes, source, partial);
    auto make = [&](const char* name, hid_t type, std::vector<hsize_t> row, std::vector<hsize_t> chunk_rows) {
      std::vector<hsize_t> dims{0}, maxdims{H5S_UNLIMITED}, chunk = chunk_rows;
      for (hsize_t d : row) {
        dims.push_back(d);
        maxdims.push_back(d);
        chunk.push_back(d);
      }
      Hid space = space_simple(dims, maxdims);
      Hid dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
      H5Pset_chunk(dcpl, int(chunk.size()), chunk.data());
      // Every element is written before its row counts (HDF5 allows no NEVER for variable-length strings).
      if (H5Tis_variable_str(type) <= 0) H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
      h5(H5Dclose(h5(H5Dcreate2(file, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT), partial,
                     "create a dataset")),
         partial, "create a dataset");
    };
    make("logmel", float32 ? H5T_IEEE_F32LE : hid_t(half), {hsize_t(M), hsize_t(T)}, {1});
    make("labels", H5T_STD_U8LE, {hsize_t(num_classes)}, {kLabelChunkRows});
    make("clip_names", str, {}, {kStringChunkRows});
    make("sources", str, {}, {kStringChunkRows});
    ds = open_datasets(file, partial);
    h5(H5Fflush(file, H5F_SCOPE_LOCAL), partial, "flush the file");
  }

  void resume() {
    try {
      file = open_file(partial, H5F_ACC_RDWR);
    } catch (const UserError& e) {
      user_error(e.what(), " (cannot resume; delete it to start over)");
    }
    const Header h = read_header(file, partial);
    if (h.complete) user_error(partial, ": marked complete; nothing to resume");
    open_fd();
    if (!(h.fe == fe))
      user_error(partial, ": cannot resume: the file was made with front end ", h.fe.describe(), ", this run uses ",
                 fe.describe());
    if (h.num_classes != num_classes)
      user_error(partial, ": cannot resume: the file has ", h.num_classes, " classes, this run ", num_classes);
    ds = open_datasets(file, partial);
    Hid t(H5Dget_type(ds.logmel), H5Tclose);
    const bool file_f32 = H5Tget_size(t) == 4;
    if (file_f32 != float32)
      user_error(partial, ": cannot resume: the file stores ", file_f32 ? "float32" : "float16",
                 ", this run asks for ", float32 ? "float32" : "float16");
    const auto n = check_dataset_shapes(ds, h, partial);
    rows = h.num_clips;
    for (int64_t d : n)
      if (d < rows) user_error(partial, ": cannot resume: num_clips is ", rows, " but a dataset has only ", d, " rows");
    // Rows past num_clips were interrupted mid-append: cut them off and write them again.
    resize(rows);
    if (rows > 0) {
      std::vector<char*> p(size_t(rows), nullptr);
      Hid space(H5Dget_space(ds.names), H5Sclose);
      h5(H5Dread(ds.names, str, H5S_ALL, H5S_ALL, H5P_DEFAULT, p.data()), partial, "read the clip names");
      for (char* s : p) names.insert(s ? s : "");
      H5Dvlen_reclaim(str, space, H5P_DEFAULT, p.data());
    }
  }

  void resize(int64_t n) {
    const hsize_t N = hsize_t(n);
    const hsize_t lm[3] = {N, hsize_t(M), hsize_t(T)}, lb[2] = {N, hsize_t(num_classes)}, s[1] = {N};
    h5(H5Dset_extent(ds.logmel, lm), partial, "resize logmel");
    h5(H5Dset_extent(ds.labels, lb), partial, "resize labels");
    h5(H5Dset_extent(ds.names, s), partial, "resize clip_names");
    h5(H5Dset_extent(ds.sources, s), partial, "resize sources");
  }

  void close() {
    haddr_t eoa = 0;
    const bool trim = fd >= 0 && file >= 0 && H5Fget_eoa(file, &eoa) >= 0;
    ds = Datasets{};
    file.reset();
    if (trim) (void)!::ftruncate(fd, off_t(eoa));  // the unused rest of reserve(); a failure only wastes space
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

SpectrogramWriter::SpectrogramWriter(const std::string& path, const FrontEndConfig& fe, int num_classes, bool float32,
                                     bool resume, const std::string& source_description)
    : impl_(std::make_unique<Impl>()) {
  USER_CHECK(num_classes > 0, path, ": number of classes must be positive, got ", num_classes);
  USER_CHECK(fe.n_mels > 0 && fe.frames() > 0, path, ": front end gives an empty log-mel (", fe.describe(), ")");
  Impl& w = *impl_;
  w.path = path;
  w.partial = path + ".partial";
  w.fe = fe;
  w.num_classes = num_classes;
  w.float32 = float32;
  w.M = fe.n_mels;
  w.T = fe.frames();
  auto lock = hdf5_lock();
  w.half = half_type();
  w.str = utf8_string_type();
  w.string_xfer = string_transfer();
  if (resume && exists(w.partial)) {
    w.resume();
  } else {
    if (resume && exists(path))
      user_error(path, ": already complete, nothing to resume (delete it to build it again)");
    w.create(source_description);
  }
}

SpectrogramWriter::~SpectrogramWriter() {
  auto lock = hdf5_lock();
  impl_->close();
}

bool SpectrogramWriter::contains(const std::string& clip_name) const {
  auto lock = hdf5_lock();
  return impl_->names.count(clip_name) > 0;
}

int64_t SpectrogramWriter::size() const {
  auto lock = hdf5_lock();
  return impl_->rows;
}

void SpectrogramWriter::append(const std::string& clip_name, const float* logmel, const uint8_t* labels,
                               const std::string& source) {
  Impl& w = *impl_;
  const int64_t MT = w.M * w.T;
  // Checks and float16 conversion outside the lock.
  if (any_non_finite(logmel, MT)) require_finite(logmel, w.M, w.T, w.partial, "clip '" + clip_name + "'");
  for (int k = 0; k < w.num_classes; ++k)
    USER_CHECK(labels[k] <= 1, w.partial, ": clip '", clip_name, "': label ", k, " is ", int(labels[k]),
               ", expected 0 or 1");
  std::unique_ptr<uint16_t[]> half;
  if (!w.float32) {
    half.reset(new uint16_t[size_t(MT)]);
    floats_to_halves(logmel, half.get(), MT);
    if (any_non_finite(half.get(), MT))  // finite input that rounds to inf
      for (int64_t k = 0; k < MT; ++k)
        USER_CHECK((half[size_t(k)] & 0x7c00) != 0x7c00, w.partial, ": clip '", clip_name, "': log-mel value ",
                   logmel[k], " does not fit float16 (|x| < 65520); write float32");
  }

  auto lock = hdf5_lock();
  USER_CHECK(!w.finished, w.path, ": append after finish()");
  USER_CHECK(!w.names.count(clip_name), w.partial, ": duplicate clip name '", clip_name, "'");
  const int64_t i = w.rows;
  w.reserve(MT * (w.float32 ? 4 : 2) + int64_t(kLabelChunkRows) * w.num_classes + 2 * int64_t(kStringChunkRows) * 16 +
            int64_t(clip_name.size() + source.size()) + kMetadataReserve);
  // Extend all four datasets, fill the row, and only then count it (num_clips): a crash anywhere in between
  // leaves a row that resume cuts off and writes again.
  w.resize(i + 1);
  {
    RowSelection sel = select_row(w.ds.logmel, i, {hsize_t(w.M), hsize_t(w.T)}, w.partial);
    h5(H5Dwrite(w.ds.logmel, w.float32 ? H5T_NATIVE_FLOAT : hid_t(w.half), sel.mem_space, sel.file_space,
                H5P_DEFAULT, w.float32 ? static_cast<const void*>(logmel) : half.get()),
       w.partial, "write a log-mel");
  }
  {
    RowSelection sel = select_row(w.ds.labels, i, {hsize_t(w.num_classes)}, w.partial);
    h5(H5Dwrite(w.ds.labels, H5T_NATIVE_UINT8, sel.mem_space, sel.file_space, H5P_DEFAULT, labels), w.partial,
       "write labels");
  }
  for (auto [ds, text] : {std::pair<hid_t, const std::string*>{w.ds.names, &clip_name}, {w.ds.sources, &source}}) {
    RowSelection sel = select_row(ds, i, {}, w.partial);
    const char* p = text->c_str();
    h5(H5Dwrite(ds, w.str, sel.mem_space, sel.file_space, w.string_xfer, &p), w.partial, "write a string");
  }
  write_attr(w.file, "num_clips", i + 1, w.partial);
  h5(H5Fflush(w.file, H5F_SCOPE_LOCAL), w.partial, "flush the file");
  w.rows = i + 1;
  w.names.insert(clip_name);
}

void SpectrogramWriter::finish() {
  Impl& w = *impl_;
  auto lock = hdf5_lock();
  USER_CHECK(!w.finished, w.path, ": finish() called twice");
  write_attr(w.file, "complete", int64_t(1), w.partial);
  w.close();
  // Data on disk before the name says "complete".
  const int fd = ::open(w.partial.c_str(), O_RDONLY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
  if (std::rename(w.partial.c_str(), w.path.c_str()) != 0)
    user_error(w.path, ": cannot rename ", w.partial, " to it: ", std::strerror(errno));
  w.finished = true;
}

// ---- reader ---------------------------------------------------------------------------------------------------

struct SpectrogramReader::Impl {
  std::string path;
  Hid file;
  Datasets ds;
  Hid half, str;
  Header h;
  bool float32 = false;
  int64_t M = 0, T = 0;
};

SpectrogramReader::SpectrogramReader(const std::string& path) : impl_(std::make_unique<Impl>()) {
  Impl& r = *impl_;
  r.path = path;
  const std::string suffix = ".partial";
  if (path.size() >= suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0)
    user_error(path, ": an unfinished spectrogram file (.partial); resume the preprocessing run to finish it");
  if (!exists(path) && exists(path + suffix))
    user_error(path, ": no such file (", path, suffix, " exists: the preprocessing run did not finish)");
  auto lock = hdf5_lock();
  r.file = open_file(path, H5F_ACC_RDONLY);
  r.h = read_header(r.file, path);
  if (!r.h.complete) user_error(path, ": incomplete spectrogram file (attribute complete is not 1)");
  r.ds = open_datasets(r.file, path);
  const auto n = check_dataset_shapes(r.ds, r.h, path);
  for (int64_t d : n)
    if (d != r.h.num_clips)
      user_error(path, ": datasets have ", n[0], ", ", n[1], ", ", n[2], " and ", n[3], " rows, attribute num_clips is ",
                 r.h.num_clips);
  Hid t(H5Dget_type(r.ds.logmel), H5Tclose);
  if (H5Tget_class(t) == H5T_FLOAT && H5Tget_size(t) == 4) {
    r.float32 = true;
  } else if (!is_half_type(t)) {
    user_error(path, ": dataset logmel must be float16 or float32");
  }
  r.half = half_type();
  r.str = utf8_string_type();
  r.M = r.h.fe.n_mels;
  r.T = r.h.fe.frames();
}

SpectrogramReader::~SpectrogramReader() {
  auto lock = hdf5_lock();
  impl_->ds = Datasets{};
  impl_->file.reset();
}

int64_t SpectrogramReader::size() const { return impl_->h.num_clips; }
const FrontEndConfig& SpectrogramReader::front_end() const { return impl_->h.fe; }
int SpectrogramReader::num_classes() const { return impl_->h.num_classes; }
bool SpectrogramReader::float32() const { return impl_->float32; }
const std::string& SpectrogramReader::path() const { return impl_->path; }

std::string SpectrogramReader::source_description() const {
  auto lock = hdf5_lock();
  return read_string_attr(impl_->file, "source", impl_->path);
}

std::string SpectrogramReader::name(int64_t i) const {
  ENGINE_CHECK(i >= 0 && i < size(), "clip index ", i, " out of range [0, ", size(), ")");
  auto lock = hdf5_lock();
  return read_string_row(impl_->ds.names, i, impl_->path);
}

std::string SpectrogramReader::source(int64_t i) const {
  ENGINE_CHECK(i >= 0 && i < size(), "clip index ", i, " out of range [0, ", size(), ")");
  auto lock = hdf5_lock();
  return read_string_row(impl_->ds.sources, i, impl_->path);
}

void SpectrogramReader::read(int64_t i, float* logmel, uint8_t* labels, std::string* problem) const {
  const Impl& r = *impl_;
  ENGINE_CHECK(i >= 0 && i < size(), "clip index ", i, " out of range [0, ", size(), ")");
  const int64_t MT = r.M * r.T;
  std::unique_ptr<uint16_t[]> half(r.float32 ? nullptr : new uint16_t[size_t(MT)]);
  {
    auto lock = hdf5_lock();
    RowSelection sel = select_row(r.ds.logmel, i, {hsize_t(r.M), hsize_t(r.T)}, r.path);
    h5(H5Dread(r.ds.logmel, r.float32 ? H5T_NATIVE_FLOAT : hid_t(r.half), sel.mem_space, sel.file_space,
               H5P_DEFAULT, r.float32 ? static_cast<void*>(logmel) : half.get()),
       r.path, "read a log-mel");
    RowSelection lsel = select_row(r.ds.labels, i, {hsize_t(r.h.num_classes)}, r.path);
    h5(H5Dread(r.ds.labels, H5T_NATIVE_UINT8, lsel.mem_space, lsel.file_space, H5P_DEFAULT, labels), r.path,
       "read labels");
  }
  // Checked on the stored values (half the bytes for float16, still in cache after the read).
  if (!r.float32) halves_to_floats(half.get(), logmel, MT);
  try {
    if (r.float32 ? any_non_finite(logmel, MT) : any_non_finite(half.get(), MT))
      require_finite(logmel, r.M, r.T, r.path, "clip " + std::to_string(i) + " (" + name(i) + ")");
    for (int k = 0; k < r.h.num_classes; ++k)
      if (labels[k] > 1)
        user_error(r.path, ": clip ", i, " (", name(i), "): label ", k, " is ", int(labels[k]), ", expected 0 or 1");
  } catch (const UserError& e) {
    if (!problem) throw;
    *problem = e.what();
  }
}

void SpectrogramReader::require_front_end(const FrontEndConfig& expected) const {
  if (!(impl_->h.fe == expected))
    user_error(impl_->path, ": spectrograms were computed with ", impl_->h.fe.describe(), ", but this run expects ",
               expected.describe());
}

}  // namespace engine::data
