// Launcher variables and the TCP rendezvous (engine/distributed_env.h).
// Rendezvous protocol, integers in network byte order:
//   rank r -> master: magic "DCLS", r, world size
//   master -> rank r: status (0 ok; 1 wrong world size, 2 rank out of range, 3 rank twice), the master's world
//                     size, then when ok: payload length, payload bytes. The master answers once every rank
//                     has arrived, so one refused rank fails them all.
#include "engine/distributed_env.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "engine/check.h"

namespace engine::dist {

const char* launcher_name(Launcher l) {
  switch (l) {
    case Launcher::none: return "no launcher";
    case Launcher::mpirun: return "mpirun";
    case Launcher::srun: return "srun";
    case Launcher::torchrun: return "torchrun-style variables";
  }
  return "?";
}

namespace {

const char* kTorchrunVars = "RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT";

int parse_count(const char* name, const char* text) {
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(text, &end, 10);
  USER_CHECK(*text >= '0' && *text <= '9' && *end == '\0' && errno == 0 && v <= 1 << 30, name, "='", text,
             "': not a non-negative integer");
  return int(v);
}

}  // namespace

LaunchInfo launch_info(const EnvLookup& getenv) {
  auto get = [&](const char* name) -> const char* {
    const char* v = getenv(name);
    return v && *v ? v : nullptr;
  };
  auto need = [&](const char* name, const char* launcher_hint) {
    const char* v = get(name);
    USER_CHECK(v, name, " is not set (", launcher_hint, ")");
    return parse_count(name, v);
  };
  // Each launcher's variables: world size, rank, local rank. mpirun and srun are known by their size
  // variable; a torchrun-style launch by any of its three.
  struct LauncherVars {
    Launcher launcher;
    const char *size, *rank, *local_rank;
  };
  static const LauncherVars kLaunchers[] = {
      {Launcher::mpirun, "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_LOCAL_RANK"},
      {Launcher::srun, "SLURM_STEP_NUM_TASKS", "SLURM_PROCID", "SLURM_LOCALID"},
      {Launcher::torchrun, "WORLD_SIZE", "RANK", "LOCAL_RANK"},
  };
  LaunchInfo info;
  const char* size_var = nullptr;
  for (const LauncherVars& l : kLaunchers) {
    const bool torchrun = l.launcher == Launcher::torchrun;
    if (!get(l.size) && !(torchrun && (get(l.rank) || get(l.local_rank)))) continue;
    const std::string hint = torchrun ? std::string("a torchrun-style launch sets ") + kTorchrunVars + " on every rank"
                                      : std::string(launcher_name(l.launcher)) + " sets " + l.rank + ", " + l.size +
                                            ", " + l.local_rank;
    info.launcher = l.launcher;
    size_var = l.size;
    info.size = need(l.size, hint.c_str());
    info.rank = need(l.rank, hint.c_str());
    info.local_rank = need(l.local_rank, hint.c_str());
    break;
  }
  if (info.launcher == Launcher::none) return info;
  USER_CHECK(info.size >= 1, size_var, "=0: a world needs at least one rank");
  if (info.launcher != Launcher::torchrun) {  // torchrun-style variables beside a launcher must agree with it
    if (const char* w = get("WORLD_SIZE"))
      USER_CHECK(parse_count("WORLD_SIZE", w) == info.size, "WORLD_SIZE=", w, " but ", launcher_name(info.launcher),
                 " started ", info.size, " ranks (", size_var, "=", info.size, ")");
    if (const char* r = get("RANK"))
      USER_CHECK(parse_count("RANK", r) == info.rank, "RANK=", r, " but ", launcher_name(info.launcher),
                 " says this is rank ", info.rank);
  }
  USER_CHECK(info.rank < info.size, "rank ", info.rank, " is not below the world size ", info.size, " (",
             launcher_name(info.launcher), ")");
  USER_CHECK(info.local_rank < info.size, "local rank ", info.local_rank, " is not below the world size ", info.size,
             " (", launcher_name(info.launcher), ")");
  if (const char* a = get("MASTER_ADDR")) info.master_addr = a;
  if (const char* p = get("MASTER_PORT")) {
    info.master_port = parse_count("MASTER_PORT", p);
    USER_CHECK(info.master_port >= 1 && info.master_port <= 65535, "MASTER_PORT=", p, ": not a port (1-65535)");
  }
  return info;
}

LaunchInfo launch_info() {
  return launch_info([](const char* name) -> const char* { return std::getenv(name); });
}

void require_master(const LaunchInfo& info, const char* why) {
  USER_CHECK(!info.master_addr.empty() && info.master_port > 0, why, " (", launcher_name(info.launcher), ", ",
             info.size, " ranks) needs MASTER_ADDR and MASTER_PORT: the address of rank 0's node and a free port "
             "there, the same on every rank");
}

namespace {

using Clock = std::chrono::steady_clock;
constexpr uint32_t kMagic = 0x44434c53;  // "DCLS"

int ms_left(Clock::time_point deadline) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return ms <= 0 ? 0 : int(std::min<int64_t>(ms, 1 << 30));
}

// Waits until fd is ready for `events`; false at the deadline.
bool wait_fd(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int rc = ::poll(&p, 1, ms_left(deadline));
    if (rc > 0) return true;
    if (rc == 0) return false;
    if (errno != EINTR) return false;
  }
}

// false on timeout, EOF or error
bool read_all(int fd, void* buf, size_t n, Clock::time_point deadline) {
  auto* p = static_cast<char*>(buf);
  while (n > 0) {
    if (!wait_fd(fd, POLLIN, deadline)) return false;
    const ssize_t got = ::recv(fd, p, n, 0);
    if (got <= 0 && !(got < 0 && errno == EINTR)) return false;
    if (got > 0) p += got, n -= size_t(got);
  }
  return true;
}

bool write_all(int fd, const void* buf, size_t n) {
  auto* p = static_cast<const char*>(buf);
  while (n > 0) {
    const ssize_t put = ::send(fd, p, n, MSG_NOSIGNAL);
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0) return false;
    p += put, n -= size_t(put);
  }
  return true;
}

struct Fd {
  int fd = -1;
  explicit Fd(int f = -1) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(Fd&& o) noexcept : fd(o.fd) { o.fd = -1; }
  Fd(const Fd&) = delete;
};

std::string who(const LaunchInfo& info) {
  return "rank " + std::to_string(info.rank) + " of " + std::to_string(info.size);
}

std::string seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", s);
  return buf;
}

std::string master_name(const LaunchInfo& info) {
  return "MASTER_ADDR:MASTER_PORT " + info.master_addr + ":" + std::to_string(info.master_port);
}

void put_u32s(std::vector<char>& out, std::initializer_list<uint32_t> values) {
  for (uint32_t v : values) {
    const uint32_t n = htonl(v);
    out.insert(out.end(), reinterpret_cast<const char*>(&n), reinterpret_cast<const char*>(&n) + 4);
  }
}

std::string serve(const LaunchInfo& info, const std::string& payload, double timeout_s, Clock::time_point deadline) {
  Fd listener(::socket(AF_INET6, SOCK_STREAM, 0));
  bool v6 = listener.fd >= 0;
  if (!v6) listener.fd = ::socket(AF_INET, SOCK_STREAM, 0);
  USER_CHECK(listener.fd >= 0, who(info), ": cannot create a socket (", std::strerror(errno), ")");
  const int one = 1, zero = 0;
  ::setsockopt(listener.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int rc;
  if (v6) {
    ::setsockopt(listener.fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);  // IPv4 peers too
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_any;
    a.sin6_port = htons(uint16_t(info.master_port));
    rc = ::bind(listener.fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  } else {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    a.sin_port = htons(uint16_t(info.master_port));
    rc = ::bind(listener.fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  USER_CHECK(rc == 0 && ::listen(listener.fd, info.size) == 0, who(info), ": cannot listen on MASTER_PORT ",
             info.master_port, " (", std::strerror(errno), ")");

  std::vector<Fd> peers;
  std::vector<int> peer_rank;
  std::vector<bool> arrived(size_t(info.size), false);
  arrived[0] = true;
  std::string refusal;  // the first refused rank, as this rank's error
  uint32_t refusal_status = 0;
  while (int(peers.size()) < info.size - 1) {
    if (!wait_fd(listener.fd, POLLIN, deadline)) {
      std::string missing;
      for (int r = 1; r < info.size; ++r)
        if (!arrived[size_t(r)]) missing += (missing.empty() ? "" : ", ") + std::to_string(r);
      user_error(who(info), ": ", info.size - 1 - int(peers.size()), " of ", info.size - 1,
                 " other ranks did not arrive at MASTER_PORT ", info.master_port, " within ", timeout_s,
                 " s (missing ranks: ", missing, ")");
    }
    Fd c(::accept(listener.fd, nullptr, nullptr));
    if (c.fd < 0) continue;
    uint32_t hello[3];
    if (!read_all(c.fd, hello, sizeof hello, deadline) || ntohl(hello[0]) != kMagic) continue;  // not one of ours
    const int r = int(ntohl(hello[1])), w = int(ntohl(hello[2]));
    uint32_t status = 0;
    if (w != info.size) {
      status = 1;
      refusal = "a rank (its RANK " + std::to_string(r) + ") was started with world size " + std::to_string(w) +
                ", this one with " + std::to_string(info.size) + ": every rank needs the same WORLD_SIZE";
    } else if (r <= 0 || r >= info.size) {
      status = 2;
      refusal = "a rank says it is rank " + std::to_string(r) + ", outside 1.." + std::to_string(info.size - 1);
    } else if (arrived[size_t(r)]) {
      status = 3;
      refusal = "rank " + std::to_string(r) + " arrived twice: two processes were given the same RANK";
    }
    if (status != 0) {
      std::vector<char> reply;
      put_u32s(reply, {status, uint32_t(info.size)});
      write_all(c.fd, reply.data(), reply.size());
      refusal_status = status;
      break;
    }
    arrived[size_t(r)] = true;
    peers.push_back(std::move(c));
    peer_rank.push_back(r);
  }
  // A refusal fails every rank: those waiting get EOF when this process ends.
  USER_CHECK(refusal_status == 0, who(info), ": ", refusal);
  std::vector<char> reply;
  put_u32s(reply, {0, uint32_t(info.size), uint32_t(payload.size())});
  reply.insert(reply.end(), payload.begin(), payload.end());
  for (size_t i = 0; i < peers.size(); ++i)
    USER_CHECK(write_all(peers[i].fd, reply.data(), reply.size()), who(info), ": rank ", peer_rank[i],
               " left before the rendezvous ended (", std::strerror(errno), ")");
  return payload;
}

// One connection attempt; -1 when refused or unreachable (the master may not be up yet).
int try_connect(const LaunchInfo& info, Clock::time_point deadline) {
  addrinfo hints{}, *res = nullptr;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  const std::string port = std::to_string(info.master_port);
  const int gai = ::getaddrinfo(info.master_addr.c_str(), port.c_str(), &hints, &res);
  USER_CHECK(gai == 0, who(info), ": MASTER_ADDR ", info.master_addr, ": ", ::gai_strerror(gai));
  int fd = -1;
  for (addrinfo* a = res; a && fd < 0; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) continue;
    int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {  // an unroutable address would block for minutes: wait at most until the deadline
      int err = ETIMEDOUT;
      socklen_t len = sizeof err;
      if (wait_fd(fd, POLLOUT, std::min(deadline, Clock::now() + std::chrono::seconds(2))))
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      rc = err == 0 ? 0 : -1;
    }
    if (rc != 0) {
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(res);
  if (fd >= 0) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

std::string join(const LaunchInfo& info, double timeout_s, Clock::time_point deadline) {
  const std::string late = who(info) + ": no answer from the master (rank 0) at " + master_name(info) + " within " +
                           seconds(timeout_s) + " s (is rank 0 running, and that address reachable from here?)";
  Fd c;
  while ((c.fd = try_connect(info, deadline)) < 0) {
    USER_CHECK(ms_left(deadline) > 0, late);
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(100, ms_left(deadline))));
  }
  std::vector<char> hello;
  put_u32s(hello, {kMagic, uint32_t(info.rank), uint32_t(info.size)});
  USER_CHECK(write_all(c.fd, hello.data(), hello.size()), late);
  uint32_t head[2];
  USER_CHECK(read_all(c.fd, head, sizeof head, deadline), who(info), ": the master at ", master_name(info),
             " ended the rendezvous without an answer within ", timeout_s,
             " s (another rank was refused or did not arrive: see rank 0's message)");
  const uint32_t status = ntohl(head[0]), master_size = ntohl(head[1]);
  USER_CHECK(status != 1, who(info), ": the master at ", master_name(info), " has world size ", master_size,
             ", this rank was started with ", info.size, ": every rank needs the same WORLD_SIZE");
  USER_CHECK(status != 2, who(info), ": the master refused rank ", info.rank, " (outside its world size ",
             master_size, ")");
  USER_CHECK(status != 3, who(info), ": the master already has a rank ", info.rank,
             ": two processes were given the same RANK");
  uint32_t len;
  USER_CHECK(read_all(c.fd, &len, 4, deadline), late);
  std::string payload(ntohl(len), '\0');
  USER_CHECK(read_all(c.fd, payload.data(), payload.size(), deadline), late);
  return payload;
}

}  // namespace

std::string rendezvous(const LaunchInfo& info, const std::string& payload, double timeout_s) {
  if (info.size == 1) return payload;
  require_master(info, "a rendezvous");
  const Clock::time_point deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
  return info.rank == 0 ? serve(info, payload, timeout_s, deadline) : join(info, timeout_s, deadline);
}

}  // namespace engine::dist
