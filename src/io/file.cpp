#include "tilesparse/io/file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>

#include "tilesparse/core/error.hpp"

namespace tilesparse {

namespace fs = std::filesystem;

namespace {

// "'path'" for messages. Built by appending: GCC 12 reports a false -Wrestrict overlap
// for `"'" + path.string()` (operator+ of a literal and a temporary string).
std::string quoted(const fs::path& path) {
  std::string s(1, '\'');
  s += path.string();
  s += '\'';
  return s;
}

// Reads errno first, so call it right after the failing system call.
[[noreturn]] void fail_errno(const char* op, const std::string& what) {
  const std::string why = std::strerror(errno);
  throw Error(op, what + ": " + why);
}

// Closes on scope exit so every early throw releases the descriptor.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  // Close reporting the error: on some file systems a failed write only shows up here.
  int close() {
    const int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

// Name of a not-yet-existing file beside `path`: pid, a per-process counter and a
// random draw keep concurrent writers (threads or processes) from colliding.
fs::path temp_path_for(const fs::path& path) {
  static std::atomic<std::uint64_t> counter{0};
  static const std::uint64_t salt = std::random_device{}();
  const std::uint64_t tag = salt ^ (static_cast<std::uint64_t>(::getpid()) << 32) ^ counter.fetch_add(1);
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(tag));
  fs::path tmp = path;
  tmp += ".tmp-";
  tmp += hex;
  return tmp;
}

void write_all(int fd, std::span<const std::byte> bytes, const fs::path& tmp) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail_errno("write_file_atomic", quoted(tmp) + ": write failed");
    done += static_cast<std::size_t>(n);
  }
}

// Makes the rename itself durable; a failure here does not undo the (already visible)
// new file, so it is not reported.
void sync_directory(const fs::path& dir) {
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

std::vector<std::byte> read_file(const fs::path& path) {
  const std::string where = quoted(path);
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) fail_errno("read_file", where + ": cannot open");
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) fail_errno("read_file", where + ": cannot stat");
  require(!S_ISDIR(st.st_mode), "read_file", where + ": is a directory");
  // Regular files are read into one allocation (one spare byte so that the read seeing
  // end-of-file needs no growth); pipes and devices grow as they deliver.
  std::vector<std::byte> bytes(S_ISREG(st.st_mode) ? static_cast<std::size_t>(st.st_size) + 1 : std::size_t{1} << 16);
  std::size_t used = 0;
  for (;;) {
    if (used == bytes.size()) bytes.resize(bytes.size() * 2);
    const ssize_t n = ::read(fd.get(), bytes.data() + used, bytes.size() - used);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail_errno("read_file", where + ": read failed");
    if (n == 0) break;
    used += static_cast<std::size_t>(n);
  }
  bytes.resize(used);
  return bytes;
}

void write_file_atomic(const fs::path& path, std::span<const std::byte> bytes) {
  require(path.has_filename(), "write_file_atomic", quoted(path) + " names no file");
  const fs::path tmp = temp_path_for(path);
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666));
  if (fd.get() < 0)
    fail_errno("write_file_atomic", quoted(path) + ": cannot create temporary file " + quoted(tmp));
  try {
    write_all(fd.get(), bytes, tmp);
    if (::fsync(fd.get()) != 0) fail_errno("write_file_atomic", quoted(tmp) + ": fsync failed");
    if (fd.close() != 0) fail_errno("write_file_atomic", quoted(tmp) + ": close failed");
    if (::rename(tmp.c_str(), path.c_str()) != 0)
      fail_errno("write_file_atomic", std::string("cannot rename ").append(quoted(tmp)).append(" to ").append(quoted(path)));
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  sync_directory(path.parent_path());
}

}  // namespace tilesparse
