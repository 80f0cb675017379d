#include "engine/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "engine/check.h"

namespace engine {

namespace {
std::string parent_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}
}  // namespace

AtomicFile::AtomicFile(const std::string& path) : path_(path) {
  static std::atomic<unsigned> counter{0};
  tmp_ = path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd_ < 0) fail("cannot create a temporary file next to it");
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_.c_str());
}

void AtomicFile::write(const void* data, size_t bytes) {
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    ssize_t n = ::write(fd_, p, bytes);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("write failed");
    p += n;
    bytes -= size_t(n);
  }
}

void AtomicFile::commit() {
  if (::fsync(fd_) != 0) fail("fsync failed");
  int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) fail("close failed");
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) fail("cannot rename the temporary file into place");
  committed_ = true;
  fsync_directory(parent_of(path_));
}

void AtomicFile::fail(const char* what) const { user_error(path_, ": ", what, " (", std::strerror(errno), ")"); }

void write_file_atomic(const std::string& path, const std::string& content) {
  AtomicFile f(path);
  f.write(content.data(), content.size());
  f.commit();
}

void fsync_directory(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  USER_CHECK(fd >= 0, dir, ": cannot open the directory to sync it (", std::strerror(errno), ")");
  int rc = ::fsync(fd);
  ::close(fd);
  USER_CHECK(rc == 0, dir, ": fsync of the directory failed (", std::strerror(errno), ")");
}

}  // namespace engine
