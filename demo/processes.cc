#include "demo/processes.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace gpusched::demo {

absl::StatusOr<pid_t> ProcessGroup::Spawn(const std::string& name,
                                          const std::vector<std::string>& argv,
                                          const std::string& log_path) {
  if (argv.empty()) return absl::InvalidArgumentError(absl::StrCat(name, ": no command"));
  if (access(argv[0].c_str(), X_OK) != 0) {
    return absl::NotFoundError(absl::StrCat(name, ": ", argv[0], " is not an executable (",
                                            std::strerror(errno), "); build it first"));
  }
  const int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log < 0) {
    return absl::InternalError(absl::StrCat(name, ": cannot open ", log_path, ": ",
                                            std::strerror(errno)));
  }
  // A pipe closed on exec tells the parent whether exec worked (and errno if not).
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) {
    close(log);
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    close(log);
    close(report[0]);
    close(report[1]);
    return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);  // the demo died before prctl took effect
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    const int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    dup2(log, 1);
    dup2(log, 2);
    execv(args[0], args.data());
    const int e = errno;
    (void)!write(report[1], &e, sizeof e);
    _exit(127);
  }
  close(log);
  close(report[1]);
  int exec_errno = 0;
  const ssize_t n = read(report[0], &exec_errno, sizeof exec_errno);
  close(report[0]);
  if (n == static_cast<ssize_t>(sizeof exec_errno)) {
    waitpid(pid, nullptr, 0);
    return absl::InternalError(absl::StrCat(name, ": cannot run ", argv[0], ": ",
                                            std::strerror(exec_errno)));
  }
  children_.push_back(Child{name, log_path, pid});
  return pid;
}

std::string ProcessGroup::FirstExited() {
  for (Child& c : children_) {
    if (c.reaped) continue;
    if (waitpid(c.pid, &c.status, WNOHANG) == c.pid) {
      c.reaped = true;
      const std::string how = WIFEXITED(c.status)
                                  ? absl::StrCat("exited with status ", WEXITSTATUS(c.status))
                                  : absl::StrCat("was killed by signal ", WTERMSIG(c.status));
      return absl::StrCat(c.name, " ", how, " (see ", c.log, ")");
    }
  }
  return "";
}

absl::StatusOr<int> ProcessGroup::Wait(pid_t pid, const std::atomic<bool>& interrupted) {
  for (Child& c : children_) {
    if (c.pid != pid) continue;
    while (!c.reaped) {
      if (interrupted.load()) return absl::CancelledError("interrupted");
      if (waitpid(c.pid, &c.status, WNOHANG) == c.pid) {
        c.reaped = true;
      } else {
        absl::SleepFor(absl::Milliseconds(20));
      }
    }
    return WIFEXITED(c.status) ? WEXITSTATUS(c.status) : 128 + WTERMSIG(c.status);
  }
  return absl::NotFoundError(absl::StrCat("process ", pid, " is not one of the demo's"));
}

int ProcessGroup::StopAll(absl::Duration grace) {
  // Newest first: the extender goes before the agents it streams from, so it never logs their
  // streams closing under it.
  int killed = 0;
  for (auto c = children_.rbegin(); c != children_.rend(); ++c) {
    if (c->reaped) continue;
    kill(c->pid, SIGTERM);
    const absl::Time deadline = absl::Now() + grace;
    while (!c->reaped) {
      const pid_t r = waitpid(c->pid, &c->status, WNOHANG);
      if (r == c->pid || (r < 0 && errno == ECHILD)) {
        c->reaped = true;
      } else if (absl::Now() >= deadline) {
        kill(c->pid, SIGKILL);
        waitpid(c->pid, &c->status, 0);
        c->reaped = true;
        ++killed;
      } else {
        absl::SleepFor(absl::Milliseconds(5));
      }
    }
  }
  return killed;
}

int ProcessGroup::running() const {
  int n = 0;
  for (const Child& c : children_) n += c.reaped ? 0 : 1;
  return n;
}

absl::StatusOr<uint16_t> FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int e = errno;
    close(fd);
    return absl::InternalError(absl::StrCat("no free port on 127.0.0.1: ", std::strerror(e)));
  }
  close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace gpusched::demo
