// Scratch files for tests (header-only).
//   TempDir dir("audio")        a fresh directory <system temp>/engine_audio_XXXXXX, removed with its contents
//                               when dir goes out of scope; dir.file("x.wav") is a path inside it
//   process_temp_dir("prep")    one TempDir per tag for the whole test program, made on first use and removed
//                               at exit: for files that several tests share or that helpers hand out
//   read_bytes / write_bytes    a whole file as a byte string
#pragma once
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>

namespace engine::test {

struct TempDir {
  std::filesystem::path path;

  explicit TempDir(const std::string& tag) {
    std::string tmpl = (std::filesystem::temp_directory_path() / ("engine_" + tag + "_XXXXXX")).string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed for " + tmpl);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ignored;  // a destructor must not throw; a leftover directory is harmless
    std::filesystem::remove_all(path, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string file(const std::string& name) const { return (path / name).string(); }
  size_t entries() const {
    return size_t(std::distance(std::filesystem::directory_iterator(path), std::filesystem::directory_iterator()));
  }
};

inline const TempDir& process_temp_dir(const std::string& tag) {
  static std::mutex mutex;
  static std::map<std::string, std::unique_ptr<TempDir>> dirs;
  std::lock_guard<std::mutex> lock(mutex);
  std::unique_ptr<TempDir>& dir = dirs[tag];
  if (!dir) dir = std::make_unique<TempDir>(tag);
  return *dir;
}

inline std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), std::streamsize(bytes.size()));
}

}  // namespace engine::test
