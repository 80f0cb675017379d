// Files that are either complete or absent: written to a temporary file next to the destination, fsynced,
// then renamed over it (and the directory fsynced), so a crash, a kill or a full disk never leaves a
// half-written file under the final name. Errors are UserErrors naming the file and the reason.
#pragma once
#include <cstddef>
#include <string>

namespace engine {

class AtomicFile {
 public:
  explicit AtomicFile(const std::string& path);
  ~AtomicFile();  // without commit(): the temporary file is removed, the destination untouched
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t bytes);
  void commit();

 private:
  [[noreturn]] void fail(const char* what) const;
  std::string path_, tmp_;
  int fd_ = -1;
  bool committed_ = false;
};

void write_file_atomic(const std::string& path, const std::string& content);

// fsync of a directory, so that a rename or a new entry in it survives a crash.
void fsync_directory(const std::string& dir);

}  // namespace engine
