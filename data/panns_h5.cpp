#include "data/panns_h5.h"

#include <hdf5.h>

#include <cstring>
#include <filesystem>
#include <type_traits>

#include "data/spectrogram_h5.h"
#include "engine/check.h"

namespace engine::data {

static_assert(std::is_same_v<hid_t, int64_t>, "PannsWaveformFile stores hid_t as int64_t");

namespace {

// Closes an HDF5 identifier of any kind when it goes out of scope (callers hold hdf5_lock()).
struct Handle {
  hid_t id;
  explicit Handle(hid_t h) : id(h) {}
  ~Handle() {
    if (id < 0) return;
    switch (H5Iget_type(id)) {
      case H5I_DATASET: H5Dclose(id); break;
      case H5I_DATASPACE: H5Sclose(id); break;
      case H5I_DATATYPE: H5Tclose(id); break;
      case H5I_ATTR: H5Aclose(id); break;
      case H5I_FILE: H5Fclose(id); break;
      default: break;
    }
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
};

// A clip name is a file name; a wider fixed-length string type is a damaged file, not a name.
constexpr size_t kMaxNameBytes = 4096;

// Opens dataset `name`, checks its rank and returns its dimensions in dims.
hid_t open_dataset(hid_t file, const std::string& path, const char* name, int rank, hsize_t* dims) {
  USER_CHECK(H5Lexists(file, name, H5P_DEFAULT) > 0, path, ": no dataset '", name,
             "' (expected a PANNs waveform file: audio_name, waveform, target)");
  hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
  USER_CHECK(d >= 0, path, ": cannot open dataset '", name, "'");
  Handle space(H5Dget_space(d));
  int r = H5Sget_simple_extent_ndims(space.id);
  if (r != rank) {
    H5Dclose(d);
    user_error(path, ": dataset '", name, "' has rank ", r, ", expected ", rank);
  }
  H5Sget_simple_extent_dims(space.id, dims, nullptr);
  return d;
}

std::vector<std::string> read_names(hid_t file, const std::string& path, hsize_t* n) {
  Handle d(open_dataset(file, path, "audio_name", 1, n));
  // A damaged dataspace can claim billions of rows; a real file holds at least a byte per clip.
  const auto bytes = std::filesystem::file_size(path);
  USER_CHECK(n[0] <= bytes, path, ": dataset 'audio_name' claims ", n[0], " clips in a file of ", bytes, " bytes");
  Handle type(H5Dget_type(d.id));
  USER_CHECK(H5Tget_class(type.id) == H5T_STRING, path, ": dataset 'audio_name' does not hold strings");
  std::vector<std::string> names(n[0]);
  if (H5Tis_variable_str(type.id) > 0) {
    Handle mem(H5Tcopy(H5T_C_S1));
    H5Tset_size(mem.id, H5T_VARIABLE);
    std::vector<char*> raw(n[0], nullptr);
    USER_CHECK(H5Dread(d.id, mem.id, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.data()) >= 0, path,
               ": cannot read 'audio_name'");
    for (size_t i = 0; i < raw.size(); ++i) names[i] = raw[i] ? raw[i] : "";
    Handle space(H5Dget_space(d.id));
    H5Dvlen_reclaim(mem.id, space.id, H5P_DEFAULT, raw.data());
  } else {
    size_t width = H5Tget_size(type.id);  // e.g. h5py's S20: 20 bytes, NUL-padded
    USER_CHECK(width > 0 && width <= kMaxNameBytes, path, ": dataset 'audio_name' holds strings of ", width,
               " bytes (expected at most ", kMaxNameBytes, ")");
    std::vector<char> raw(n[0] * width);
    USER_CHECK(H5Dread(d.id, type.id, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.data()) >= 0, path,
               ": cannot read 'audio_name'");
    for (size_t i = 0; i < names.size(); ++i) {
      const char* s = raw.data() + i * width;
      names[i].assign(s, strnlen(s, width));
    }
  }
  // A name goes into messages, the failure report (TSV) and the output's clip names: no line breaks or tabs.
  for (size_t i = 0; i < names.size(); ++i)
    for (unsigned char ch : names[i])
      USER_CHECK(ch >= 0x20 && ch != 0x7f, path, ": audio_name of clip ", i, " holds control character ", int(ch));
  return names;
}

// Row i of a 2-D dataset (dims[1] elements) into buf, converted to the memory type mem.
bool read_row(hid_t dataset, hid_t mem, hsize_t i, hsize_t cols, void* buf) {
  Handle space(H5Dget_space(dataset));
  hsize_t start[2] = {i, 0}, count[2] = {1, cols};
  if (H5Sselect_hyperslab(space.id, H5S_SELECT_SET, start, nullptr, count, nullptr) < 0) return false;
  Handle mspace(H5Screate_simple(1, &cols, nullptr));
  return H5Dread(dataset, mem, mspace.id, space.id, H5P_DEFAULT, buf) >= 0;
}

}  // namespace

PannsWaveformFile::PannsWaveformFile(const std::string& path) : path_(path) {
  auto lock = hdf5_lock();
  USER_CHECK(std::filesystem::is_regular_file(path), path, ": no such file");
  USER_CHECK(H5Fis_hdf5(path.c_str()) > 0, path, ": not an HDF5 file");
  file_ = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  USER_CHECK(file_ >= 0, path, ": cannot open as HDF5");
  try {
    hsize_t n[1], wave[2], target[2];
    names_ = read_names(file_, path, n);
    waveform_ = open_dataset(file_, path, "waveform", 2, wave);
    target_ = open_dataset(file_, path, "target", 2, target);
    USER_CHECK(wave[0] == n[0] && target[0] == n[0], path, ": audio_name has ", n[0], " rows, waveform ", wave[0],
               ", target ", target[0], " (expected the same number of clips)");
    USER_CHECK(wave[1] > 0 && target[1] > 0, path, ": empty waveform or target rows");
    samples_ = int64_t(wave[1]);
    classes_ = int(target[1]);
    Handle wtype(H5Dget_type(waveform_));
    H5T_class_t wclass = H5Tget_class(wtype.id);
    float_wave_ = wclass == H5T_FLOAT;
    USER_CHECK((float_wave_ && hdf5_plain_number_size(wtype.id)) || (wclass == H5T_INTEGER && H5Tget_size(wtype.id) == 2),
               path, ": dataset 'waveform' must hold int16 PCM (or float)");
    Handle ttype(H5Dget_type(target_));
    H5T_class_t tclass = H5Tget_class(ttype.id);
    USER_CHECK((tclass == H5T_ENUM || tclass == H5T_INTEGER || tclass == H5T_FLOAT) && hdf5_plain_number_size(ttype.id),
               path, ": dataset 'target' must hold bool, integer or float values");
    if (H5Aexists(file_, "sample_rate") > 0) {
      Handle attr(H5Aopen(file_, "sample_rate", H5P_DEFAULT));
      Handle atype(H5Aget_type(attr.id));
      int rate = 0;
      USER_CHECK(hdf5_plain_number_size(atype.id) && H5Aread(attr.id, H5T_NATIVE_INT, &rate) >= 0 && rate > 0, path,
                 ": attribute 'sample_rate' is not a positive integer");
      sample_rate_ = rate;
    }
  } catch (...) {
    for (hid_t* h : {&target_, &waveform_}) {
      if (*h >= 0) H5Dclose(*h);
    }
    H5Fclose(file_);
    throw;
  }
}

PannsWaveformFile::~PannsWaveformFile() {
  auto lock = hdf5_lock();
  H5Dclose(target_);
  H5Dclose(waveform_);
  H5Fclose(file_);
}

void PannsWaveformFile::read(int64_t i, float* wave, uint8_t* target) const {
  ENGINE_CHECK(i >= 0 && i < size(), "clip index ", i, " of ", size());
  auto lock = hdf5_lock();
  // waveform row (S)
  if (float_wave_) {
    USER_CHECK(read_row(waveform_, H5T_NATIVE_FLOAT, hsize_t(i), hsize_t(samples_), wave), path_,
               ": cannot read waveform of clip ", i, " (", names_[size_t(i)], ")");
  } else {
    std::vector<int16_t> pcm(static_cast<size_t>(samples_));
    USER_CHECK(read_row(waveform_, H5T_NATIVE_INT16, hsize_t(i), hsize_t(samples_), pcm.data()), path_,
               ": cannot read waveform of clip ", i, " (", names_[size_t(i)], ")");
    for (int64_t s = 0; s < samples_; ++s) wave[s] = float(pcm[size_t(s)]) / 32768.f;
  }
  // target row (K): h5py stores numpy bool as an enum over int8, which HDF5 will not convert to a number;
  // read such rows in their own (native) enum type and test the bytes of each element.
  Handle ftype(H5Dget_type(target_));
  bool ok;
  if (H5Tget_class(ftype.id) == H5T_ENUM) {
    Handle mem(H5Tget_native_type(ftype.id, H5T_DIR_ASCEND));
    size_t width = H5Tget_size(mem.id);
    std::vector<unsigned char> raw(size_t(classes_) * width);
    ok = read_row(target_, mem.id, hsize_t(i), hsize_t(classes_), raw.data());
    for (int k = 0; ok && k < classes_; ++k) {
      target[k] = 0;
      for (size_t b = 0; b < width; ++b) target[k] |= raw[size_t(k) * width + b] != 0;
    }
  } else {
    std::vector<float> values(static_cast<size_t>(classes_));
    ok = read_row(target_, H5T_NATIVE_FLOAT, hsize_t(i), hsize_t(classes_), values.data());
    for (int k = 0; ok && k < classes_; ++k) {
      // Multi-hot only: a NaN or a soft value would otherwise turn silently into a positive label.
      float v = values[size_t(k)];
      USER_CHECK(v == 0.f || v == 1.f, path_, ": target of clip ", i, " (", names_[size_t(i)], ") holds ", v,
                 " at class ", k, " (expected 0 or 1)");
      target[k] = v == 1.f;
    }
  }
  USER_CHECK(ok, path_, ": cannot read target of clip ", i, " (", names_[size_t(i)], ")");
}

}  // namespace engine::data
