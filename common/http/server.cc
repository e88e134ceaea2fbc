// The Boost.Beast HTTP/1.1 server of common/http/http.h.
//
// Structure: one io_context run by `threads` workers; an acceptor that accepts each connection
// onto its own strand; one Session per connection that reads a request, calls the handler on the
// strand, writes the response and reads the next (so requests on a connection are answered in
// order). Stop() stops the io_context, joins the workers and destroys it, which destroys every
// pending operation and with it every session (sockets close in their destructors).

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/ssl.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/log.h"
#include "common/mutex.h"
#include "common/http/http.h"
#include "common/http/conversions.h"

#include "common/json_string.h"

namespace gpusched::http {

namespace {

using internal::Sv;
using internal::FileStamp;
using internal::Stamp;
using internal::ToChrono;


namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

std::string_view FindHeader(const Headers& headers, std::string_view name) {
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(key, Sv(name))) return value;
  }
  return {};
}

std::string ErrorJson(std::string_view message) {
  std::string out = "{\"Error\":";
  AppendJsonString(out, message);
  out += "}";
  return out;
}

Response JsonError(int status, std::string_view message) {
  Response response;
  response.status = status;
  response.body = ErrorJson(message);
  return response;
}

absl::StatusOr<std::shared_ptr<ssl::context>> LoadServerContext(const std::string& cert_file,
                                                                 const std::string& key_file) {
  try {
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
    error_code ec;
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                         ssl::context::no_sslv3 | ssl::context::single_dh_use,
                     ec);
    SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
    ctx->use_certificate_chain_file(cert_file, ec);
    if (ec) {
      return absl::FailedPreconditionError(
          absl::StrCat("TLS certificate ", cert_file, " unusable: ", ec.message()));
    }
    ctx->use_private_key_file(key_file, ssl::context::pem, ec);
    if (ec) {
      return absl::FailedPreconditionError(
          absl::StrCat("TLS key ", key_file, " unusable: ", ec.message()));
    }
    if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
      return absl::FailedPreconditionError(absl::StrCat("TLS key ", key_file,
                                                        " does not match certificate ", cert_file));
    }
    return ctx;
  } catch (const std::exception& e) {
    return absl::FailedPreconditionError(absl::StrCat("TLS context: ", e.what()));
  }
}

// State shared by the server and its sessions (sessions may outlive Stop() by a little, while
// the io_context is destroyed).
class Shared {
 public:
  Shared(ServerOptions options, Handler handler)
      : options(std::move(options)),
        handler(std::move(handler)),
        tls(!this->options.cert_file.empty() && !this->options.key_file.empty()) {}

  // Loads the TLS pair for the first time (Start).
  absl::Status LoadTls() {
    MutexLock l(&mu_);
    cert_stamp_ = Stamp(options.cert_file);
    key_stamp_ = Stamp(options.key_file);
    last_check_ = std::chrono::steady_clock::now();
    auto ctx = LoadServerContext(options.cert_file, options.key_file);
    if (!ctx.ok()) return ctx.status();
    ctx_ = *std::move(ctx);
    return absl::OkStatus();
  }

  // The context for a new connection, re-reading the files when they changed (checked at most
  // once a second). A broken pair is logged and the previous context kept.
  std::shared_ptr<ssl::context> CurrentContext() {
    MutexLock l(&mu_);
    const auto now = std::chrono::steady_clock::now();
    if (now - last_check_ < std::chrono::seconds(1)) return ctx_;
    last_check_ = now;
    FileStamp cert = Stamp(options.cert_file);
    FileStamp key = Stamp(options.key_file);
    if (cert == cert_stamp_ && key == key_stamp_) return ctx_;
    cert_stamp_ = cert;
    key_stamp_ = key;
    auto loaded = LoadServerContext(options.cert_file, options.key_file);
    if (loaded.ok()) {
      ctx_ = *std::move(loaded);
      if (options.logger != nullptr) {
        options.logger->Info("http server: TLS certificate reloaded",
                             {{"cert_file", options.cert_file}});
      }
    } else if (options.logger != nullptr) {
      options.logger->Warn("http server: TLS certificate reload failed; keeping the old one",
                           {{"error", std::string(loaded.status().message())}});
    }
    return ctx_;
  }

  void Log(log::Level level, std::string_view message, std::string_view error) const {
    if (options.logger != nullptr && options.logger->Enabled(level)) {
      options.logger->Log(level, message, {{"error", error}});
    }
  }

  // Constant after construction.
  const ServerOptions options;
  const Handler handler;
  const bool tls;

 private:
  Mutex mu_;
  std::shared_ptr<ssl::context> ctx_ ABSL_GUARDED_BY(mu_);
  FileStamp cert_stamp_ ABSL_GUARDED_BY(mu_);
  FileStamp key_stamp_ ABSL_GUARDED_BY(mu_);
  std::chrono::steady_clock::time_point last_check_ ABSL_GUARDED_BY(mu_);
};

using SslStream = beast::ssl_stream<beast::tcp_stream>;

// One connection. Every member is touched only on the connection's strand.
template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  Session(std::shared_ptr<Shared> shared, tcp::socket socket, std::shared_ptr<ssl::context> ctx)
      : shared_(std::move(shared)),
        ctx_(std::move(ctx)),
        stream_(MakeStream(std::move(socket), ctx_.get())),
        timer_(stream_.get_executor()) {}

  void Run() {
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&Session::Begin, this->shared_from_this()));
  }

 private:
  static constexpr size_t kHeaderLimit = size_t{64} << 10;
  static constexpr size_t kFirstRead = 4096;

  static Stream MakeStream(tcp::socket socket, ssl::context* ctx) {
    if constexpr (kTls) {
      return Stream(std::move(socket), *ctx);
    } else {
      return Stream(std::move(socket));
    }
  }

  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(stream_); }

  void Begin() {
    if constexpr (kTls) {
      Lowest().expires_after(ToChrono(shared_->options.request_timeout));
      stream_.async_handshake(ssl::stream_base::server,
                              beast::bind_front_handler(&Session::OnHandshake,
                                                        this->shared_from_this()));
    } else {
      WaitForRequest();
    }
  }

  void OnHandshake(error_code ec) {
    if (ec) {
      shared_->Log(log::Level::kDebug, "http server: TLS handshake failed", ec.message());
      CloseNow();
      return;
    }
    WaitForRequest();
  }

  // Waits (up to idle_timeout) for the first bytes of the next request.
  void WaitForRequest() {
    if (buffer_.size() > 0) {
      ReadRequest();
      return;
    }
    Lowest().expires_after(ToChrono(shared_->options.idle_timeout));
    stream_.async_read_some(
        buffer_.prepare(kFirstRead),
        beast::bind_front_handler(&Session::OnFirstBytes, this->shared_from_this()));
  }

  void OnFirstBytes(error_code ec, size_t n) {
    buffer_.commit(n);
    if (ec && buffer_.size() == 0) {
      CloseNow();  // idle timeout, the peer closed, or an error: nothing to answer
      return;
    }
    ReadRequest();
  }

  // Reads the rest of the request within request_timeout.
  void ReadRequest() {
    // Beast reads as much as the buffer's capacity allows: a Filter body of 5,000 names (about
    // 100 KB) in a few reads of up to 64 KiB rather than dozens of 4 KiB.
    if (buffer_.capacity() < internal::kReadChunk) buffer_.reserve(internal::kReadChunk);
    parser_.emplace();
    parser_->body_limit(shared_->options.body_limit);
    parser_->header_limit(kHeaderLimit);
    timed_out_ = false;
    Lowest().expires_never();
    timer_.expires_after(ToChrono(shared_->options.request_timeout));
    timer_.async_wait([self = this->shared_from_this()](error_code ec) {
      if (ec) return;  // cancelled: the request arrived in time
      self->timed_out_ = true;
      error_code ignored;
      self->Lowest().socket().cancel(ignored);
    });
    bhttp::async_read(stream_, buffer_, *parser_,
                      beast::bind_front_handler(&Session::OnRead, this->shared_from_this()));
  }

  void OnRead(error_code ec, size_t) {
    timer_.cancel();
    if (timed_out_ && ec) {
      RespondError(408, absl::StrCat("request not received within ",
                                     absl::FormatDuration(shared_->options.request_timeout)));
      return;
    }
    if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message) {
      CloseNow();  // the peer went away
      return;
    }
    if (ec == bhttp::error::body_limit) {
      RespondError(413, absl::StrCat("request body exceeds the limit of ",
                                     shared_->options.body_limit, " bytes"));
      return;
    }
    if (ec == bhttp::error::header_limit) {
      RespondError(431, absl::StrCat("request header exceeds the limit of ", kHeaderLimit,
                                     " bytes"));
      return;
    }
    if (ec && ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category()) {
      RespondError(400, absl::StrCat("malformed HTTP request: ", ec.message()));
      return;
    }
    if (ec) {
      CloseNow();
      return;
    }
    Handle();
  }

  void Handle() {
    auto& msg = parser_->get();
    Request request;
    request.method = std::string(msg.method_string());
    request.target = std::string(msg.target());
    for (const auto& field : msg) {
      request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    request.body = std::move(msg.body());
    const bool keep_alive = msg.keep_alive();
    const unsigned version = msg.version();
    const bool head = msg.method() == bhttp::verb::head;
    parser_.reset();

    Response response;
    try {
      response = shared_->handler(request);
    } catch (const std::exception& e) {
      shared_->Log(log::Level::kError, "http server: handler threw", e.what());
      response = JsonError(500, absl::StrCat("internal error: ", e.what()));
    } catch (...) {
      shared_->Log(log::Level::kError, "http server: handler threw", "unknown exception");
      response = JsonError(500, "internal error");
    }
    if (response.status < 100 || response.status > 999) {
      response = JsonError(500, absl::StrCat("handler returned HTTP status ", response.status));
    }

    auto res = std::make_unique<bhttp::response<bhttp::string_body>>();
    res->version(version);
    res->result(static_cast<unsigned>(response.status));
    if (!response.content_type.empty()) res->set(bhttp::field::content_type, response.content_type);
    for (auto& [name, value] : response.headers) {
      if (absl::EqualsIgnoreCase(name, "Content-Type") ||
          absl::EqualsIgnoreCase(name, "Content-Length") ||
          absl::EqualsIgnoreCase(name, "Transfer-Encoding") ||
          absl::EqualsIgnoreCase(name, "Connection")) {
        continue;
      }
      res->insert(name, value);
    }
    res->keep_alive(keep_alive);
    if (head) {
      res->content_length(response.body.size());
    } else {
      res->body() = std::move(response.body);
      res->prepare_payload();
    }
    Write(std::move(res), /*close=*/!keep_alive);
  }

  // Answers with a JSON error and closes the connection.
  void RespondError(int status, std::string_view message) {
    auto res = std::make_unique<bhttp::response<bhttp::string_body>>();
    res->version(11);
    res->result(static_cast<unsigned>(status));
    res->set(bhttp::field::content_type, "application/json");
    res->keep_alive(false);
    res->body() = ErrorJson(message);
    res->prepare_payload();
    parser_.reset();
    Write(std::move(res), /*close=*/true);
  }

  void Write(std::unique_ptr<bhttp::response<bhttp::string_body>> res, bool close) {
    response_ = std::move(res);
    Lowest().expires_after(ToChrono(std::max(shared_->options.request_timeout, absl::Seconds(1))));
    bhttp::async_write(stream_, *response_,
                       [self = this->shared_from_this(), close](error_code ec, size_t) {
                         self->OnWrite(ec, close);
                       });
  }

  void OnWrite(error_code ec, bool close) {
    response_.reset();
    if (ec) {
      CloseNow();
      return;
    }
    if (close) {
      LingerClose();
      return;
    }
    WaitForRequest();
  }

  // Closes after an error response: shut down the sending side and discard what the peer still
  // sends for a moment, so that closing does not reset the connection before the peer read the
  // response.
  void LingerClose() {
    error_code ignored;
    Lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
    Lowest().expires_after(std::chrono::seconds(1));
    Drain();
  }

  void Drain() {
    buffer_.clear();
    Lowest().async_read_some(buffer_.prepare(kFirstRead),
                             [self = this->shared_from_this()](error_code ec, size_t) {
                               if (ec) {
                                 self->CloseNow();
                               } else {
                                 self->Drain();
                               }
                             });
  }

  void CloseNow() {
    timer_.cancel();
    error_code ignored;
    Lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    Lowest().socket().close(ignored);
  }

  const std::shared_ptr<Shared> shared_;
  const std::shared_ptr<ssl::context> ctx_;  // outlives stream_ (TLS only)
  Stream stream_;
  net::steady_timer timer_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::unique_ptr<bhttp::response<bhttp::string_body>> response_;
  bool timed_out_ = false;
};

class ServerImpl final : public Server {
 public:
  explicit ServerImpl(std::shared_ptr<Shared> shared)
      : shared_(std::move(shared)),
        ioc_(std::make_unique<net::io_context>(shared_->options.threads)),
        acceptor_(std::make_unique<tcp::acceptor>(net::make_strand(*ioc_))) {}

  ~ServerImpl() override { Stop(); }

  absl::Status Listen() {
    const ServerOptions& o = shared_->options;
    error_code ec;
    tcp::endpoint endpoint;
    const std::string host = o.host.empty() ? "0.0.0.0" : o.host;
    net::ip::address address = net::ip::make_address(host, ec);
    if (!ec) {
      endpoint = tcp::endpoint(address, o.port);
    } else {
      tcp::resolver resolver(*ioc_);
      auto results = resolver.resolve(host, std::to_string(o.port), ec);
      if (ec || results.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("http server: cannot resolve listen host \"", host, "\": ",
                         ec ? ec.message() : "no address"));
      }
      endpoint = results.begin()->endpoint();
    }
    const std::string where = absl::StrCat(host, ":", o.port);
    acceptor_->open(endpoint.protocol(), ec);
    if (!ec) acceptor_->set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_->bind(endpoint, ec);
    if (!ec) acceptor_->listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("http server: cannot listen on ", where, ": ", ec.message()));
    }
    port_ = acceptor_->local_endpoint(ec).port();
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("http server: cannot listen on ", where, ": ", ec.message()));
    }
    return absl::OkStatus();
  }

  void Serve() {
    DoAccept();
    threads_.reserve(shared_->options.threads);
    for (int i = 0; i < shared_->options.threads; ++i) {
      threads_.emplace_back([this] { RunWorker(); });
    }
  }

  uint16_t port() const override { return port_; }

  void Stop() override {
    MutexLock l(&stop_mu_);
    if (stopped_) return;
    stopped_ = true;
    ioc_->stop();
    for (auto& t : threads_) t.join();
    threads_.clear();
    error_code ignored;
    acceptor_->close(ignored);
    acceptor_.reset();
    ioc_.reset();  // destroys every pending operation, hence every session and its socket
  }

 private:
  void RunWorker() {
    for (;;) {
      try {
        ioc_->run();
        return;
      } catch (const std::exception& e) {
        shared_->Log(log::Level::kError, "http server: worker caught an exception", e.what());
      } catch (...) {
        shared_->Log(log::Level::kError, "http server: worker caught an exception", "unknown");
      }
    }
  }

  void DoAccept() {
    acceptor_->async_accept(net::make_strand(*ioc_),
                            beast::bind_front_handler(&ServerImpl::OnAccept, this));
  }

  void OnAccept(error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !acceptor_->is_open()) return;
    if (ec) {
      shared_->Log(log::Level::kWarn, "http server: accept failed", ec.message());
      if (ec == net::error::no_descriptors || ec == net::error::no_buffer_space ||
          ec == net::error::no_memory) {
        // Out of resources: back off a little instead of spinning.
        auto timer = std::make_shared<net::steady_timer>(acceptor_->get_executor(),
                                                         std::chrono::milliseconds(50));
        timer->async_wait([this, timer](error_code) { DoAccept(); });
        return;
      }
      DoAccept();
      return;
    }
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    if (shared_->tls) {
      std::make_shared<Session<SslStream>>(shared_, std::move(socket), shared_->CurrentContext())
          ->Run();
    } else {
      std::make_shared<Session<beast::tcp_stream>>(shared_, std::move(socket), nullptr)->Run();
    }
    DoAccept();
  }

  const std::shared_ptr<Shared> shared_;
  uint16_t port_ = 0;  // set before the workers start
  std::unique_ptr<net::io_context> ioc_;
  std::unique_ptr<tcp::acceptor> acceptor_;  // used on its strand only, until Stop
  std::vector<std::thread> threads_;

  Mutex stop_mu_;
  bool stopped_ ABSL_GUARDED_BY(stop_mu_) = false;
};

}  // namespace

std::string_view Request::Header(std::string_view name) const { return FindHeader(headers, name); }

std::string_view Response::Header(std::string_view name) const {
  return FindHeader(headers, name);
}

absl::StatusOr<std::unique_ptr<Server>> Server::Start(ServerOptions options, Handler handler) {
  if (options.threads < 1) {
    return absl::InvalidArgumentError("http server: threads must be >= 1");
  }
  if (!handler) return absl::InvalidArgumentError("http server: no handler");
  if (options.cert_file.empty() != options.key_file.empty()) {
    return absl::InvalidArgumentError("http server: cert_file and key_file must be set together");
  }
  if (options.request_timeout <= absl::ZeroDuration() ||
      options.idle_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("http server: timeouts must be positive");
  }
  try {
    auto shared = std::make_shared<Shared>(std::move(options), std::move(handler));
    if (shared->tls) {
      if (absl::Status s = shared->LoadTls(); !s.ok()) {
        return absl::FailedPreconditionError(absl::StrCat("http server: ", s.message()));
      }
    }
    auto server = std::make_unique<ServerImpl>(std::move(shared));
    if (absl::Status s = server->Listen(); !s.ok()) return s;
    server->Serve();
    return std::unique_ptr<Server>(std::move(server));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("http server: ", e.what()));
  }
}

}  // namespace gpusched::http
