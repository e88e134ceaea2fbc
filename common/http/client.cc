// The Boost.Beast HTTP/1.1 client of common/http/http.h.
//
// Every connection owns a small io_context that the calling thread runs while a call uses the
// connection (a connection is used by one call at a time), so timeouts are plain asynchronous
// operations with a deadline: beast::tcp_stream's expiry, or io_context::run_for for Stream().

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/ssl.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/file.h"
#include "common/mutex.h"
#include "common/http/http.h"
#include "common/http/conversions.h"

namespace gpusched::http {

namespace {

using internal::FileStamp;
using internal::Stamp;
using internal::Sv;
using internal::ToChrono;


namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;
using SteadyClock = std::chrono::steady_clock;

constexpr size_t kHeaderLimit = size_t{1} << 20;
constexpr size_t kMaxIdle = 8;
constexpr size_t kErrorBodyLimit = size_t{64} << 10;
constexpr std::chrono::milliseconds kStopPoll(200);
constexpr std::chrono::seconds kTokenRecheck(10);

beast::string_view Bv(std::string_view s) { return beast::string_view(s.data(), s.size()); }

struct Url {
  bool tls = false;
  std::string host;         // without brackets
  std::string port;         // digits
  std::string host_header;  // host[:port] as sent in Host
  std::string prefix;       // "" or "/path" without a trailing '/'
  bool host_is_ip = false;
};

absl::StatusOr<Url> ParseUrl(std::string_view url) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("http client: bad base_url \"", Sv(url), "\": ", Sv(why)));
  };
  Url out;
  std::string_view rest = url;
  const std::string lower = absl::AsciiStrToLower(Sv(url.substr(0, std::min<size_t>(url.size(), 8))));
  if (absl::StartsWith(lower, "https://")) {
    out.tls = true;
    rest.remove_prefix(8);
  } else if (absl::StartsWith(lower, "http://")) {
    rest.remove_prefix(7);
  } else {
    return bad("the scheme must be http:// or https://");
  }
  const size_t slash = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  if (!path.empty() && path[0] != '/') return bad("a query or fragment is not allowed");
  if (path.find_first_of("?#") != std::string_view::npos) {
    return bad("a query or fragment is not allowed");
  }
  if (authority.find('@') != std::string_view::npos) return bad("user info is not allowed");
  if (authority.empty()) return bad("no host");
  std::string_view host, port;
  if (authority[0] == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("unterminated IPv6 literal");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return bad("junk after the IPv6 literal");
      port = after.substr(1);
      if (port.empty()) return bad("empty port");
    }
    error_code ec;
    net::ip::make_address_v6(std::string(host), ec);
    if (ec) return bad("invalid IPv6 literal");
  } else {
    const size_t colon = authority.rfind(':');
    if (colon != std::string_view::npos) {
      host = authority.substr(0, colon);
      port = authority.substr(colon + 1);
      if (port.empty()) return bad("empty port");
      if (host.find(':') != std::string_view::npos) return bad("IPv6 literals need brackets");
    } else {
      host = authority;
    }
  }
  if (host.empty()) return bad("no host");
  for (char c : host) {
    if (!(absl::ascii_isalnum(c) || c == '.' || c == '-' || c == '_' || c == ':' || c == '%')) {
      return bad("invalid character in the host");
    }
  }
  if (port.empty()) {
    port = out.tls ? "443" : "80";
  } else {
    uint32_t p = 0;
    if (!std::all_of(port.begin(), port.end(), absl::ascii_isdigit) ||
        !absl::SimpleAtoi(Sv(port), &p) || p == 0 || p > 65535) {
      return bad("invalid port");
    }
  }
  out.host = std::string(host);
  out.port = std::string(port);
  error_code ec;
  net::ip::make_address(out.host, ec);
  out.host_is_ip = !ec;
  const bool v6 = out.host.find(':') != std::string::npos;
  out.host_header = absl::StrCat(v6 ? "[" : "", out.host, v6 ? "]" : "", ":", out.port);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  out.prefix = std::string(path);
  return out;
}

// One connection with its own io_context, used by one call at a time.
struct Conn {
  net::io_context ioc{1};
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;

  ~Conn() {
    error_code ignored;
    if (tls || plain) Lowest().socket().close(ignored);
    tls.reset();
    plain.reset();
  }

  beast::tcp_stream& Lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }

  template <class F>
  void With(F&& f) {
    if (tls) {
      f(*tls);
    } else {
      f(*plain);
    }
  }

  // Runs until every started operation completed (their deadlines bound this).
  void RunAll() {
    ioc.restart();
    ioc.run();
  }

  // Runs one operation, started by `start(done)`, until it calls `done(ec)` or `deadline`
  // passes; then the socket's operations are cancelled and `timed_out` is set. One timer per
  // operation: the stream's own expiry would arm and cancel one for every read_some (a response
  // of 100 KB is dozens), each a timerfd syscall on this connection's io_context.
  template <class Start>
  error_code RunUntil(std::chrono::steady_clock::time_point deadline, const Start& start,
                      bool& timed_out) {
    error_code ec = net::error::would_block;
    timed_out = false;
    net::steady_timer timer(ioc, deadline);
    timer.async_wait([&](error_code e) {
      if (e) return;  // cancelled: the operation finished first
      timed_out = true;
      error_code ignored;
      Lowest().socket().cancel(ignored);
    });
    start([&](error_code e) {
      ec = e;
      timer.cancel();
    });
    RunAll();
    return ec;
  }

  // Reads in chunks of up to 64 KiB (Beast reads what the buffer's capacity allows, and a
  // flat_buffer emptied by the parser otherwise stays at 512 bytes: a syscall per 512 bytes).
  void ReserveReadBuffer() {
    if (buffer.capacity() < internal::kReadChunk) buffer.reserve(internal::kReadChunk);
  }

  // Cancels whatever is in flight, waits for the handlers and closes the socket.
  void Abort() {
    error_code ignored;
    Lowest().socket().close(ignored);
    RunAll();
  }
};

bool IsTimeout(const error_code& ec) { return ec == beast::error::timeout; }

// Errors meaning a pooled connection was closed by the server while idle.
bool IsStale(const error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == net::error::eof ||
         ec == net::error::connection_reset || ec == net::error::broken_pipe ||
         ec == net::error::connection_aborted || ec == ssl::error::stream_truncated;
}

class ClientImpl final : public Client {
 public:
  ClientImpl(ClientOptions options, Url url, std::shared_ptr<ssl::context> ctx)
      : options_(std::move(options)),
        url_(std::move(url)),
        ctx_(std::move(ctx)),
        peer_(absl::StrCat(url_.tls ? "https://" : "http://", url_.host_header)) {}

  absl::StatusOr<Response> Do(std::string_view method, std::string_view target,
                              std::string_view body, const Headers& extra,
                              absl::Duration timeout) override {
    try {
      const std::string token = Token(/*recheck=*/false);
      absl::StatusOr<Response> r = DoImpl(method, target, body, extra, timeout, token);
      if (r.ok() && r->status == 401 && !options_.bearer_token_file.empty()) {
        // The token may have been rotated since it was last read: once more with the new one.
        if (std::string fresh = Token(/*recheck=*/true); fresh != token) {
          r = DoImpl(method, target, body, extra, timeout, fresh);
        }
      }
      return r;
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat("http client: ", peer_, ": ", e.what()));
    }
  }

  absl::Status Stream(std::string_view target,
                      const std::function<bool(std::string_view line)>& on_line,
                      absl::Duration idle_timeout, const std::atomic<bool>* stop, int* status,
                      std::string* error_body) override {
    try {
      return StreamImpl(target, on_line, idle_timeout, stop, status, error_body);
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat("http client: ", peer_, ": ", e.what()));
    }
  }

 private:
  // The bearer token to send now: the token file's content, re-read when the file changed
  // (looked at most every kTokenRecheck, or now when `recheck`), else options_.bearer_token.
  // A file that cannot be read (mid-rotation, say) keeps the last token read.
  std::string Token(bool recheck) ABSL_LOCKS_EXCLUDED(token_mu_) {
    if (options_.bearer_token_file.empty()) return options_.bearer_token;
    MutexLock l(&token_mu_);
    const auto now = SteadyClock::now();
    if (!token_read_ || recheck || now - token_checked_ >= kTokenRecheck) {
      token_read_ = true;
      token_checked_ = now;
      const FileStamp stamp = Stamp(options_.bearer_token_file);
      if (stamp.exists && !(stamp == token_stamp_)) {
        absl::StatusOr<std::string> content = ReadSmallFile(options_.bearer_token_file);
        const absl::string_view token =
            content.ok() ? absl::StripAsciiWhitespace(*content) : absl::string_view();
        if (!token.empty()) {  // unreadable or empty (being rewritten): keep the last one
          token_ = std::string(token);
          token_stamp_ = stamp;
        }
      }
    }
    return token_.empty() ? options_.bearer_token : token_;
  }

  std::string Where(std::string_view method, std::string_view target) const {
    return absl::StrCat(Sv(method), " ", peer_, url_.prefix, Sv(target));
  }

  absl::StatusOr<bhttp::request<bhttp::string_body>> BuildRequest(std::string_view method,
                                                                  std::string_view target,
                                                                  std::string_view body,
                                                                  const Headers& extra,
                                                                  const std::string& token) const {
    bhttp::request<bhttp::string_body> req;
    if (method.empty()) return absl::InvalidArgumentError("http client: empty method");
    const bhttp::verb verb = bhttp::string_to_verb(Bv(method));
    if (verb == bhttp::verb::unknown) {
      req.method_string(Bv(method));
    } else {
      req.method(verb);
    }
    std::string full = absl::StrCat(url_.prefix, Sv(target));
    if (full.empty() || full[0] != '/') full.insert(0, "/");
    req.target(full);
    req.version(11);
    req.set(bhttp::field::host, url_.host_header);
    req.set(bhttp::field::user_agent, "gpusched");
    if (!token.empty()) req.set(bhttp::field::authorization, absl::StrCat("Bearer ", token));
    bool has_content_type = false;
    for (const auto& [name, value] : extra) {
      if (absl::EqualsIgnoreCase(name, "Content-Type")) has_content_type = true;
      if (absl::EqualsIgnoreCase(name, "Content-Length") ||
          absl::EqualsIgnoreCase(name, "Transfer-Encoding")) {
        continue;
      }
      if (absl::EqualsIgnoreCase(name, "Host") || absl::EqualsIgnoreCase(name, "User-Agent") ||
          absl::EqualsIgnoreCase(name, "Authorization")) {
        req.set(name, value);
      } else {
        req.insert(name, value);
      }
    }
    if (!body.empty() && !has_content_type) {
      req.set(bhttp::field::content_type, "application/json");
    }
    req.body() = std::string(body);
    req.keep_alive(true);
    req.prepare_payload();
    return req;
  }

  std::unique_ptr<Conn> TakeIdle() {
    MutexLock l(&mu_);
    if (idle_.empty()) return nullptr;
    std::unique_ptr<Conn> conn = std::move(idle_.back());
    idle_.pop_back();
    return conn;
  }

  void ReturnIdle(std::unique_ptr<Conn> conn) {
    conn->Lowest().expires_never();
    MutexLock l(&mu_);
    if (idle_.size() < kMaxIdle) idle_.push_back(std::move(conn));
  }

  // Opens a connection (TCP connect and, for https, the TLS handshake) by `deadline`.
  absl::StatusOr<std::unique_ptr<Conn>> Connect(SteadyClock::time_point deadline) {
    auto conn = std::make_unique<Conn>();
    std::vector<tcp::endpoint> endpoints;
    uint16_t port = static_cast<uint16_t>(std::stoi(url_.port));
    if (url_.host_is_ip) {
      endpoints.emplace_back(net::ip::make_address(url_.host), port);
    } else {
      tcp::resolver resolver(conn->ioc);
      error_code ec = net::error::would_block;
      tcp::resolver::results_type results;
      resolver.async_resolve(url_.host, url_.port,
                             [&](error_code e, tcp::resolver::results_type r) {
                               ec = e;
                               results = std::move(r);
                             });
      conn->ioc.restart();
      conn->ioc.run_until(deadline);
      if (ec == net::error::would_block) {
        resolver.cancel();
        conn->RunAll();
        return absl::DeadlineExceededError(
            absl::StrCat("http client: resolving ", url_.host, " timed out"));
      }
      if (ec) {
        return absl::UnavailableError(
            absl::StrCat("http client: cannot resolve ", url_.host, ": ", ec.message()));
      }
      for (const auto& entry : results) endpoints.push_back(entry.endpoint());
    }

    if (url_.tls) {
      conn->tls.emplace(conn->ioc, *ctx_);
    } else {
      conn->plain.emplace(conn->ioc);
    }
    error_code ec = net::error::would_block;
    conn->Lowest().expires_at(deadline);
    conn->Lowest().async_connect(endpoints, [&](error_code e, const tcp::endpoint&) { ec = e; });
    conn->RunAll();
    if (ec) {
      if (IsTimeout(ec)) {
        return absl::DeadlineExceededError(
            absl::StrCat("http client: connecting to ", peer_, " timed out"));
      }
      return absl::UnavailableError(
          absl::StrCat("http client: cannot connect to ", peer_, ": ", ec.message()));
    }
    error_code ignored;
    conn->Lowest().socket().set_option(tcp::no_delay(true), ignored);

    if (url_.tls) {
      const std::string& name = options_.server_name.empty() ? url_.host : options_.server_name;
      error_code name_ec;
      net::ip::make_address(name, name_ec);
      if (name_ec && SSL_set_tlsext_host_name(conn->tls->native_handle(), name.c_str()) != 1) {
        return absl::InternalError(
            absl::StrCat("http client: cannot set the TLS server name ", name));
      }
      if (!options_.insecure) {
        error_code verify_ec;
        conn->tls->set_verify_callback(ssl::host_name_verification(name), verify_ec);
        if (verify_ec) {
          return absl::InternalError(
              absl::StrCat("http client: cannot set TLS verification: ", verify_ec.message()));
        }
      }
      ec = net::error::would_block;
      conn->Lowest().expires_at(deadline);
      conn->tls->async_handshake(ssl::stream_base::client, [&](error_code e) { ec = e; });
      conn->RunAll();
      if (ec) {
        if (IsTimeout(ec)) {
          return absl::DeadlineExceededError(
              absl::StrCat("http client: TLS handshake with ", peer_, " timed out"));
        }
        std::string detail = ec.message();
        const long verify = SSL_get_verify_result(conn->tls->native_handle());
        if (verify != X509_V_OK) {
          absl::StrAppend(&detail, " (", X509_verify_cert_error_string(verify), ")");
        }
        return absl::UnavailableError(
            absl::StrCat("http client: TLS handshake with ", peer_, " failed: ", detail));
      }
    }
    conn->Lowest().expires_never();
    return conn;
  }

  absl::StatusOr<Response> DoImpl(std::string_view method, std::string_view target,
                                  std::string_view body, const Headers& extra,
                                  absl::Duration timeout, const std::string& token) {
    if (timeout <= absl::ZeroDuration()) timeout = options_.timeout;
    const auto deadline = SteadyClock::now() + ToChrono(timeout);
    auto req = BuildRequest(method, target, body, extra, token);
    if (!req.ok()) return req.status();
    const std::string where = Where(method, target);

    for (int attempt = 0;; ++attempt) {
      std::unique_ptr<Conn> conn = attempt == 0 ? TakeIdle() : nullptr;
      const bool reused = conn != nullptr;
      if (!conn) {
        auto opened = Connect(deadline);
        if (!opened.ok()) return opened.status();
        conn = *std::move(opened);
      }

      bool timed_out = false;
      error_code ec = conn->RunUntil(
          deadline,
          [&](auto done) {
            conn->With([&](auto& stream) {
              bhttp::async_write(stream, *req, [done](error_code e, size_t) { done(e); });
            });
          },
          timed_out);
      if (ec) {
        if (timed_out) {
          return absl::DeadlineExceededError(
              absl::StrCat("http client: ", where, ": sending timed out"));
        }
        if (reused && IsStale(ec)) continue;
        return absl::UnavailableError(
            absl::StrCat("http client: ", where, ": sending failed: ", ec.message()));
      }

      bhttp::response_parser<bhttp::string_body> parser;
      parser.body_limit(options_.body_limit);
      parser.header_limit(kHeaderLimit);
      if (method == "HEAD" || method == "head") parser.skip(true);
      conn->ReserveReadBuffer();
      ec = conn->RunUntil(
          deadline,
          [&](auto done) {
            conn->With([&](auto& stream) {
              bhttp::async_read(stream, conn->buffer, parser,
                                [done](error_code e, size_t) { done(e); });
            });
          },
          timed_out);
      if (ec) {
        if (timed_out) {
          return absl::DeadlineExceededError(absl::StrCat(
              "http client: ", where, ": no complete response within ",
              absl::FormatDuration(timeout)));
        }
        if (ec == bhttp::error::body_limit) {
          return absl::ResourceExhaustedError(
              absl::StrCat("http client: ", where, ": response body exceeds the limit of ",
                           options_.body_limit, " bytes"));
        }
        if (reused && !parser.got_some() && IsStale(ec)) continue;
        return absl::UnavailableError(
            absl::StrCat("http client: ", where, ": reading the response failed: ", ec.message()));
      }

      auto& msg = parser.get();
      Response response;
      response.status = static_cast<int>(msg.result_int());
      response.content_type = std::string(msg[bhttp::field::content_type]);
      for (const auto& field : msg) {
        response.headers.emplace_back(std::string(field.name_string()),
                                      std::string(field.value()));
      }
      response.body = std::move(msg.body());
      if (msg.keep_alive() && parser.is_done()) ReturnIdle(std::move(conn));
      return response;
    }
  }

  // Starts an operation with `start(handler)` and runs the connection's io_context until it
  // completes, checking `stop` every kStopPoll and giving up at `idle_deadline`.
  template <class Start>
  absl::Status Poll(Conn& conn, const Start& start, SteadyClock::time_point idle_deadline,
                    const std::atomic<bool>* stop, std::string_view where, error_code& ec,
                    size_t& bytes) {
    bool done = false;
    start([&](error_code e, size_t n) {
      ec = e;
      bytes = n;
      done = true;
    });
    while (!done) {
      const auto now = SteadyClock::now();
      if (stop != nullptr && stop->load()) {
        conn.Abort();
        return absl::CancelledError(absl::StrCat("http client: ", Sv(where), ": stopped"));
      }
      if (now >= idle_deadline) {
        conn.Abort();
        return absl::DeadlineExceededError(
            absl::StrCat("http client: ", Sv(where), ": nothing received for the idle timeout"));
      }
      const auto slice = std::min<SteadyClock::duration>(kStopPoll, idle_deadline - now);
      conn.ioc.restart();
      conn.ioc.run_for(slice);
    }
    return absl::OkStatus();
  }

  absl::Status StreamImpl(std::string_view target,
                          const std::function<bool(std::string_view line)>& on_line,
                          absl::Duration idle_timeout, const std::atomic<bool>* stop,
                          int* status, std::string* error_body) {
    if (status != nullptr) *status = 0;
    if (error_body != nullptr) error_body->clear();
    if (idle_timeout <= absl::ZeroDuration()) idle_timeout = options_.timeout;
    const auto idle = ToChrono(idle_timeout);
    const std::string where = Where("GET", target);
    auto req = BuildRequest("GET", target, {}, {}, Token(/*recheck=*/false));
    if (!req.ok()) return req.status();

    auto opened = Connect(SteadyClock::now() + ToChrono(options_.timeout));
    if (!opened.ok()) return opened.status();
    std::unique_ptr<Conn> conn = *std::move(opened);

    error_code ec = net::error::would_block;
    conn->Lowest().expires_after(ToChrono(options_.timeout));
    conn->With([&](auto& stream) {
      bhttp::async_write(stream, *req, [&](error_code e, size_t) { ec = e; });
    });
    conn->RunAll();
    if (ec) {
      if (IsTimeout(ec)) {
        return absl::DeadlineExceededError(
            absl::StrCat("http client: ", where, ": sending timed out"));
      }
      return absl::UnavailableError(
          absl::StrCat("http client: ", where, ": sending failed: ", ec.message()));
    }
    conn->Lowest().expires_never();

    bhttp::response_parser<bhttp::buffer_body> parser;
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    parser.header_limit(kHeaderLimit);
    size_t bytes = 0;
    auto last_data = SteadyClock::now();
    absl::Status s = Poll(
        *conn,
        [&](auto handler) {
          conn->With([&](auto& stream) {
            bhttp::async_read_header(stream, conn->buffer, parser, std::move(handler));
          });
        },
        last_data + idle, stop, where, ec, bytes);
    if (!s.ok()) return s;
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("http client: ", where, ": reading the response failed: ", ec.message()));
    }
    const int code = static_cast<int>(parser.get().result_int());
    if (status != nullptr) *status = code;
    const bool ok = code == 200;
    last_data = SteadyClock::now();

    std::string pending;
    std::vector<char> chunk(size_t{16} << 10);
    while (!parser.is_done()) {
      parser.get().body().data = chunk.data();
      parser.get().body().size = chunk.size();
      s = Poll(
          *conn,
          [&](auto handler) {
            conn->With([&](auto& stream) {
              bhttp::async_read_some(stream, conn->buffer, parser, std::move(handler));
            });
          },
          last_data + idle, stop, where, ec, bytes);
      if (!s.ok()) return s;
      if (ec == bhttp::error::need_buffer) ec = {};
      if (ec) {
        return absl::UnavailableError(absl::StrCat("http client: ", where,
                                                   ": reading the stream failed: ", ec.message()));
      }
      const size_t n = chunk.size() - parser.get().body().size;
      if (bytes > 0 || n > 0) last_data = SteadyClock::now();
      if (n == 0) continue;
      if (!ok) {
        if (error_body != nullptr) {
          const size_t room = kErrorBodyLimit - std::min(kErrorBodyLimit, error_body->size());
          error_body->append(chunk.data(), std::min(n, room));
          if (error_body->size() >= kErrorBodyLimit) break;
        }
        continue;
      }
      pending.append(chunk.data(), n);
      size_t start = 0;
      for (size_t pos; (pos = pending.find('\n', start)) != std::string::npos; start = pos + 1) {
        if (!on_line(std::string_view(pending).substr(start, pos - start))) {
          return absl::OkStatus();
        }
      }
      pending.erase(0, start);
      if (pending.size() > options_.body_limit) {
        return absl::ResourceExhaustedError(absl::StrCat(
            "http client: ", where, ": a line exceeds the limit of ", options_.body_limit,
            " bytes"));
      }
    }
    // The response ended: a last line without its newline is still a line.
    if (ok && !pending.empty()) on_line(pending);
    return absl::OkStatus();
  }

  // Constant after construction.
  const ClientOptions options_;
  const Url url_;
  const std::shared_ptr<ssl::context> ctx_;  // https only
  const std::string peer_;                   // "https://host:port", for messages

  Mutex mu_;
  std::vector<std::unique_ptr<Conn>> idle_ ABSL_GUARDED_BY(mu_);
  Mutex token_mu_;
  bool token_read_ ABSL_GUARDED_BY(token_mu_) = false;
  std::string token_ ABSL_GUARDED_BY(token_mu_);
  FileStamp token_stamp_ ABSL_GUARDED_BY(token_mu_);
  SteadyClock::time_point token_checked_ ABSL_GUARDED_BY(token_mu_);
};

absl::StatusOr<std::shared_ptr<ssl::context>> MakeClientContext(const ClientOptions& o) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3,
                   ec);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  if (!o.ca_data.empty()) {
    ctx->add_certificate_authority(net::buffer(o.ca_data), ec);
    if (ec) {
      return absl::InvalidArgumentError(
          absl::StrCat("http client: ca_data is not a PEM certificate: ", ec.message()));
    }
  } else if (!o.ca_file.empty()) {
    ctx->load_verify_file(o.ca_file, ec);
    if (ec) {
      return absl::FailedPreconditionError(
          absl::StrCat("http client: cannot load ca_file ", o.ca_file, ": ", ec.message()));
    }
  } else {
    ctx->set_default_verify_paths(ec);
    if (ec) {
      return absl::FailedPreconditionError(
          absl::StrCat("http client: cannot load the system CA paths: ", ec.message()));
    }
  }
  const bool has_cert = !o.cert_data.empty() || !o.cert_file.empty();
  const bool has_key = !o.key_data.empty() || !o.key_file.empty();
  if (has_cert != has_key) {
    return absl::InvalidArgumentError(
        "http client: a client certificate needs both a certificate and a key");
  }
  if (has_cert) {
    if (!o.cert_data.empty()) {
      ctx->use_certificate_chain(net::buffer(o.cert_data), ec);
      if (ec) {
        return absl::InvalidArgumentError(
            absl::StrCat("http client: cert_data is not a PEM certificate: ", ec.message()));
      }
    } else {
      ctx->use_certificate_chain_file(o.cert_file, ec);
      if (ec) {
        return absl::FailedPreconditionError(
            absl::StrCat("http client: cannot load cert_file ", o.cert_file, ": ", ec.message()));
      }
    }
    if (!o.key_data.empty()) {
      ctx->use_private_key(net::buffer(o.key_data), ssl::context::pem, ec);
      if (ec) {
        return absl::InvalidArgumentError(
            absl::StrCat("http client: key_data is not a PEM key: ", ec.message()));
      }
    } else {
      ctx->use_private_key_file(o.key_file, ssl::context::pem, ec);
      if (ec) {
        return absl::FailedPreconditionError(
            absl::StrCat("http client: cannot load key_file ", o.key_file, ": ", ec.message()));
      }
    }
    if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
      return absl::InvalidArgumentError(
          "http client: the client key does not match the client certificate");
    }
  }
  ctx->set_verify_mode(o.insecure ? ssl::verify_none : ssl::verify_peer, ec);
  return ctx;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Client>> Client::Create(ClientOptions options) {
  try {
    auto url = ParseUrl(options.base_url);
    if (!url.ok()) return url.status();
    if (options.timeout <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError("http client: timeout must be positive");
    }
    std::shared_ptr<ssl::context> ctx;
    if (url->tls) {
      auto made = MakeClientContext(options);
      if (!made.ok()) return made.status();
      ctx = *std::move(made);
    }
    return std::unique_ptr<Client>(
        std::make_unique<ClientImpl>(std::move(options), *std::move(url), std::move(ctx)));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("http client: ", e.what()));
  }
}

}  // namespace gpusched::http
