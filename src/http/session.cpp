#include "http/session.h"

#include <algorithm>
#include <array>
#include <exception>
#include <utility>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>

#include "fmt/format.h"
#include "http/response_writer.h"

namespace aperture::http {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

// How much one read asks the kernel for.
constexpr size_t kReadChunk = 16 * 1024;
// Beyond the header limit, the read buffer holds at most this much: chunk
// lines and pipelined requests must fit in it.
constexpr size_t kBufferSlack = 64 * 1024;
// An idle connection gives back a read buffer grown larger than this.
constexpr size_t kShrinkAbove = 64 * 1024;
// After answering with "Connection: close", how long the client's remaining
// bytes are drained, so that closing with unread data (which sends a reset)
// does not destroy the answer before the client reads it.
constexpr std::chrono::milliseconds kMaxLinger{2000};

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr std::string_view kLastChunk = "0\r\n\r\n";
constexpr std::string_view kCrLf = "\r\n";

bool IsHttpError(const beast::error_code& ec) {
  return ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category();
}

}  // namespace

Session::Session(std::shared_ptr<ServerCore> core, tcp::socket socket, Mode mode)
    : core_(std::move(core)),
      socket_(std::move(socket)),
      mode_(mode),
      registered_(core_->Register(this, mode == Mode::kServe)),
      buffer_(core_->options().max_header_bytes + kBufferSlack) {}

Session::~Session() {
  if (registered_) core_->Unregister(this, mode_ == Mode::kServe);
}

int64_t Session::NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void Session::Start() {
  net::post(socket_.get_executor(), [self = shared_from_this()] { self->OnStart(); });
}

void Session::PostStop() {
  net::post(socket_.get_executor(), [self = shared_from_this()] { self->Close(); });
}

bool Session::ClaimExpiredDeadline(int64_t now_ns) {
  int64_t deadline = deadline_ns_.load(std::memory_order_relaxed);
  if (deadline == 0 || now_ns < deadline) return false;
  return !deadline_check_queued_.exchange(true, std::memory_order_acq_rel);
}

void Session::PostDeadlineCheck() {
  net::post(socket_.get_executor(), [self = shared_from_this()] { self->OnDeadline(); });
}

void Session::SetDeadline(std::chrono::nanoseconds after) {
  deadline_ns_.store(NowNs() + after.count(), std::memory_order_relaxed);
}

void Session::OnDeadline() {
  deadline_check_queued_.store(false, std::memory_order_release);
  if (closed_) return;
  // The deadline may have moved since the sweep saw it expire.
  int64_t deadline = deadline_ns_.load(std::memory_order_relaxed);
  if (deadline == 0 || NowNs() < deadline) return;
  ClearDeadline();
  if (phase_ == Phase::kReading) {
    // Cancel rather than close, so the read handler can still answer 408.
    timed_out_ = true;
    beast::error_code ignored;
    socket_.cancel(ignored);
    return;
  }
  Close();
}

void Session::OnStart() {
  if (!registered_) return Close();  // the server is stopping
  beast::error_code ec;
  socket_.set_option(tcp::no_delay(true), ec);
  tcp::endpoint peer = socket_.remote_endpoint(ec);
  if (!ec) {
    net::ip::address address = peer.address();
    if (address.is_v6() && address.to_v6().is_v4_mapped()) {
      address = net::ip::make_address_v4(net::ip::v4_mapped, address.to_v6());
    }
    remote_ = address.to_string();
  }
  if (mode_ == Mode::kRejectOverloaded) {
    Response response = ErrorResponse(
        503,
        fmt::format("the server is at its limit of {} connections; retry shortly", core_->options().max_connections),
        "overloaded");
    response.SetHeader("Retry-After", "1");
    NoteTransportAnswer(response, "overloaded");
    return SendResponse(std::move(response), 11, false, false);
  }
  BeginRequest();
}

void Session::BeginRequest() {
  const ServerOptions& options = core_->options();
  phase_ = Phase::kReading;
  timed_out_ = false;
  SetDeadline(options.header_timeout);
  parser_.emplace(&request_, options.max_header_bytes, options.max_body_bytes);
  bhttp::async_read_header(socket_, buffer_, *parser_,
                           [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
}

void Session::OnHeader(beast::error_code ec) {
  if (closed_) return;
  // A read that completed just as the deadline fired still counts as late.
  if (timed_out_) ec = net::error::operation_aborted;
  if (ec) return OnReadError(ec);
  if (parser_->is_done()) return Dispatch();
  SetDeadline(core_->options().body_timeout);
  if (parser_->expects_continue() && parser_->version() >= 11) {
    net::async_write(socket_, net::buffer(kContinue.data(), kContinue.size()),
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (self->closed_) return;
                       if (ec) return self->Close();
                       self->ReadBody();
                     });
    return;
  }
  ReadBody();
}

void Session::ReadBody() {
  bhttp::async_read(socket_, buffer_, *parser_,
                    [self = shared_from_this()](beast::error_code ec, size_t) { self->OnBody(ec); });
}

void Session::OnBody(beast::error_code ec) {
  if (closed_) return;
  if (timed_out_) ec = net::error::operation_aborted;
  if (ec) return OnReadError(ec);
  Dispatch();
}

void Session::OnReadError(beast::error_code ec) {
  const ServerOptions& options = core_->options();
  if (ec == net::error::operation_aborted && timed_out_) {
    // A connection that never sent a byte is closed quietly (browsers open
    // spare connections); a request cut short is answered.
    if (!parser_->got_some()) return Close();
    const bool header = !parser_->is_header_done();
    return SendError(408,
                     fmt::format("the request {} did not arrive within {} ms", header ? "header" : "body",
                                 (header ? options.header_timeout : options.body_timeout).count()),
                     "request_timeout");
  }
  if (ec == bhttp::error::header_limit || (ec == bhttp::error::buffer_overflow && !parser_->is_header_done())) {
    return SendError(431,
                     fmt::format("the request header is larger than the limit of {} bytes", options.max_header_bytes),
                     "header_too_large");
  }
  if (ec == bhttp::error::body_limit) {
    return SendError(413, fmt::format("the request body is larger than the limit of {} bytes", options.max_body_bytes),
                     "body_too_large");
  }
  if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message) {
    return Close();  // the client went away; nobody to answer
  }
  if (IsHttpError(ec)) {
    std::string message;
    if (!parser_->rule_error().empty()) {
      message = parser_->rule_error();
    } else if (ec == bhttp::error::bad_content_length || ec == bhttp::error::bad_transfer_encoding) {
      message = fmt::format(
          "ambiguous request framing ({}): send either one Content-Length or "
          "'Transfer-Encoding: chunked', never both",
          ec.message());
    } else {
      message = fmt::format("malformed HTTP request: {}", ec.message());
    }
    return SendError(400, message, "invalid_request");
  }
  Close();  // a socket error
}

void Session::Dispatch() {
  phase_ = Phase::kHandling;
  ClearDeadline();
  request_.remote_address.assign(remote_);
  Response response;
  // A handler that throws must not take the io thread (and every connection
  // on it) down with it.
  try {
    response = core_->handler()(request_);
  } catch (...) {
    // The exception's text may describe internals; the client gets none of it.
    response = ErrorResponse(500, "internal server error", "internal_error");
  }
  SendResponse(std::move(response), parser_->version(), parser_->keep_alive(), request_.method == "HEAD");
}

void Session::SendError(int status, std::string_view message, std::string_view code) {
  int version = parser_ ? parser_->version() : 11;
  Response response = ErrorResponse(status, message, code);
  NoteTransportAnswer(response, code);
  SendResponse(std::move(response), version, false, false);
}

void Session::NoteTransportAnswer(Response& response, std::string_view code) {
  const auto& note = core_->options().on_transport_answer;
  if (!note) return;
  try {
    std::string id = note(TransportAnswer{response.status, code, remote_});
    if (!id.empty()) response.SetHeader("X-Request-Id", std::move(id));
  } catch (...) {
    // Recording is best effort here; the answer still goes out.
  }
}

void Session::SendResponse(Response response, int version, bool keep_alive, bool head_only) {
  response_ = std::move(response);
  if (std::string problem = CheckResponseHeaders(response_); !problem.empty()) {
    response_ = ErrorResponse(500, fmt::format("internal server error: {}", problem), "internal_error");
  }
  version_ = version;
  keep_alive_ = keep_alive && !WantsClose(response_);
  out_.clear();
  if (response_.pending) return AwaitPending(head_only);
  if (response_.stream) return StartStream(head_only);

  BodyFraming framing = StatusHasNoBody(response_.status) ? BodyFraming::kNone : BodyFraming::kLength;
  AppendResponseHead(response_, version_, framing, response_.body.size(), keep_alive_, &out_);
  bool with_body = framing == BodyFraming::kLength && !head_only;
  std::array<net::const_buffer, 2> buffers = {net::buffer(out_),
                                              with_body ? net::buffer(response_.body) : net::const_buffer()};
  phase_ = Phase::kWriting;
  SetDeadline(core_->options().idle_timeout);
  net::async_write(socket_, buffers,
                   [self = shared_from_this()](beast::error_code ec, size_t) { self->OnResponseWritten(ec); });
}

void Session::OnResponseWritten(beast::error_code ec) {
  if (closed_) return;
  if (ec) return Close();
  response_ = Response();
  if (!keep_alive_) return LingerClose();
  FinishExchange();
}

void Session::FinishExchange() {
  phase_ = Phase::kIdle;
  SetDeadline(core_->options().idle_timeout);
  if (read_pending_) {
    // A read left over from watching a stream is outstanding. If a
    // pipelined request is already buffered, cancel that read so it is served
    // now (OnReadMore resumes); otherwise the read's data starts the next one.
    if (buffer_.size() > 0) {
      beast::error_code ignored;
      socket_.cancel(ignored);
    }
    return;
  }
  if (buffer_.size() > 0) return BeginRequest();
  if (buffer_.capacity() > kShrinkAbove) buffer_.shrink_to_fit();
  ReadMore();
}

void Session::AwaitPending(bool head_only) {
  phase_ = Phase::kPending;
  ClearDeadline();  // the answer may take long (generation); the scheduler bounds it
  pending_head_only_ = head_only;
  const uint64_t seq = ++pending_seq_;
  std::shared_ptr<StreamGate> gate = core_->gate();
  std::weak_ptr<Session> weak = weak_from_this();
  std::shared_ptr<PendingResponse> pending = response_.pending;
  // Keep a read pending meanwhile: it is how a client that goes away is noticed.
  if (!read_pending_) ReadMore();
  try {
    pending->Wait([gate = std::move(gate), weak = std::move(weak), seq](Response response) {
      absl::ReaderMutexLock lock(&gate->mu);
      if (!gate->open) return;
      std::shared_ptr<Session> self = weak.lock();
      if (!self) return;  // the connection is gone
      auto executor = self->socket_.get_executor();
      net::post(executor, [self = std::move(self), seq, response = std::move(response)]() mutable {
        self->OnPendingReady(seq, std::move(response));
      });
    });
  } catch (...) {
    OnPendingReady(seq, ErrorResponse(500, "internal server error", "internal_error"));
  }
}

void Session::OnPendingReady(uint64_t seq, Response response) {
  if (closed_ || phase_ != Phase::kPending || seq != pending_seq_) return;
  if (response.pending) response = ErrorResponse(500, "internal server error", "internal_error");
  // The client may have sent "Connection: close" or a pipelined request
  // meanwhile; keep_alive_ already says what the request asked for.
  SendResponse(std::move(response), version_, keep_alive_, pending_head_only_);
}

void Session::CancelPending() {
  if (phase_ != Phase::kPending || !response_.pending) return;
  std::shared_ptr<PendingResponse> pending = std::move(response_.pending);
  ++pending_seq_;  // a late `ready` is ignored
  pending->Cancel();
}

void Session::StartStream(bool head_only) {
  sized_ = response_.stream_length.has_value();
  stream_left_ = response_.stream_length.value_or(0);
  chunked_ = !sized_ && version_ >= 11;
  // Without a length or chunked framing (HTTP/1.0) the end of the body is the close.
  if (!sized_ && !chunked_) keep_alive_ = false;
  streaming_ = true;
  stream_cancelled_ = false;
  const BodyFraming framing = sized_     ? BodyFraming::kLength
                              : chunked_ ? BodyFraming::kChunked
                                         : BodyFraming::kUntilClose;
  AppendResponseHead(response_, version_, framing, static_cast<size_t>(stream_left_), keep_alive_, &out_);
  phase_ = Phase::kStreaming;
  SetDeadline(core_->options().idle_timeout);
  net::async_write(socket_, net::buffer(out_), [self = shared_from_this(), head_only](beast::error_code ec, size_t) {
    self->OnStreamHeadWritten(ec, head_only);
  });
  // Keep a read pending while the stream runs: it is how a client that goes
  // away is noticed even while no chunk is being written.
  if (!head_only && !read_pending_) ReadMore();
}

void Session::OnStreamHeadWritten(beast::error_code ec, bool head_only) {
  if (closed_) return;
  if (ec) return Close();
  if (head_only) {
    CancelStream();
    return EndStream();
  }
  RequestChunk();
}

void Session::RequestChunk() {
  ClearDeadline();  // producing a chunk may take long (generation)
  awaiting_chunk_ = true;
  uint64_t seq = ++chunk_seq_;
  std::shared_ptr<StreamGate> gate = core_->gate();
  std::weak_ptr<Session> weak = weak_from_this();
  std::shared_ptr<ChunkSource> source = response_.stream;
  try {
    source->Next([gate = std::move(gate), weak = std::move(weak), seq](std::optional<std::string> chunk) {
      absl::ReaderMutexLock lock(&gate->mu);
      if (!gate->open) return;
      std::shared_ptr<Session> self = weak.lock();
      if (!self) return;  // the connection is gone
      auto executor = self->socket_.get_executor();
      net::post(executor, [self = std::move(self), seq, chunk = std::move(chunk)]() mutable {
        self->OnChunk(seq, std::move(chunk));
      });
    });
  } catch (...) {
    // The status line is out: cutting the body short is all that is left.
    Close();
  }
}

void Session::OnChunk(uint64_t seq, std::optional<std::string> chunk) {
  // Ignore a late chunk (after close or cancel) and a second call of `ready`.
  if (closed_ || !streaming_ || !awaiting_chunk_ || seq != chunk_seq_) return;
  awaiting_chunk_ = false;
  SetDeadline(core_->options().idle_timeout);
  auto self = shared_from_this();
  if (sized_) {
    // A sized body must be exactly as long as announced: a short or long
    // source leaves the client nothing to trust but the closed connection.
    if (!chunk) return stream_left_ == 0 ? EndStream() : Close();
    if (chunk->size() > stream_left_) return Close();
    stream_left_ -= chunk->size();
  }
  if (!chunk) {
    if (!chunked_) return EndStream();
    net::async_write(socket_, net::buffer(kLastChunk.data(), kLastChunk.size()), [self](beast::error_code ec, size_t) {
      if (self->closed_) return;
      if (ec) return self->Close();
      self->EndStream();
    });
    return;
  }
  // An empty chunk would read as the end of the body; there is nothing to send.
  if (chunk->empty()) return RequestChunk();
  chunk_ = std::move(*chunk);
  auto on_written = [self](beast::error_code ec, size_t) { self->OnChunkWritten(ec); };
  if (!chunked_) {
    net::async_write(socket_, net::buffer(chunk_), std::move(on_written));
    return;
  }
  chunk_head_.clear();
  AppendChunkSize(chunk_.size(), &chunk_head_);
  std::array<net::const_buffer, 3> buffers = {net::buffer(chunk_head_), net::buffer(chunk_),
                                              net::buffer(kCrLf.data(), kCrLf.size())};
  net::async_write(socket_, buffers, std::move(on_written));
}

void Session::OnChunkWritten(beast::error_code ec) {
  if (closed_) return;
  if (ec) return Close();  // Close() cancels the stream
  RequestChunk();
}

void Session::EndStream() {
  streaming_ = false;
  response_ = Response();
  chunk_.clear();
  if (!keep_alive_) return LingerClose();
  FinishExchange();
}

void Session::CancelStream() {
  if (!streaming_ || stream_cancelled_ || !response_.stream) return;
  stream_cancelled_ = true;
  awaiting_chunk_ = false;
  response_.stream->Cancel();
}

void Session::ReadMore() {
  size_t room = buffer_.max_size() - buffer_.size();
  if (room == 0) {
    // Only a client pipelining a flood of bytes during a stream gets here.
    return Close();
  }
  read_pending_ = true;
  socket_.async_read_some(
      buffer_.prepare(std::min(room, kReadChunk)),
      [self = shared_from_this()](beast::error_code ec, size_t bytes) { self->OnReadMore(ec, bytes); });
}

void Session::OnReadMore(beast::error_code ec, size_t bytes) {
  read_pending_ = false;
  if (closed_) return;
  if (phase_ == Phase::kClosing) {
    if (ec) return Close();
    return ReadMore();  // discard: the prepared bytes are never committed
  }
  if (ec == net::error::operation_aborted && phase_ == Phase::kIdle) {
    return BeginRequest();  // FinishExchange cancelled us to serve a buffered request
  }
  // While streaming, the client closing (even half-closing) its side ends
  // the stream: nobody is going to read the rest.
  if (ec) return Close();
  buffer_.commit(bytes);
  switch (phase_) {
    case Phase::kIdle:
      return BeginRequest();
    case Phase::kStreaming:
    case Phase::kPending:
      return ReadMore();
    default:
      return;
  }
}

void Session::LingerClose() {
  phase_ = Phase::kClosing;
  SetDeadline(std::min<std::chrono::nanoseconds>(core_->options().header_timeout, kMaxLinger));
  beast::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_send, ec);
  if (ec) return Close();
  buffer_.consume(buffer_.size());
  if (!read_pending_) ReadMore();
}

void Session::Close() {
  if (closed_) return;
  closed_ = true;
  ClearDeadline();
  CancelStream();
  CancelPending();
  beast::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

}  // namespace aperture::http
