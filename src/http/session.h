// One accepted HTTP/1.1 connection: reads requests one after another under
// the transport limits, calls the Handler, writes whole or streamed
// responses, and enforces the read, idle and write deadlines. Internal to
// src/http.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include "http/request.h"
#include "http/request_parser.h"
#include "http/response.h"
#include "http/server_core.h"

namespace aperture::http {

// Every member function except the thread-safe ones marked below runs on the
// connection's strand (the socket's executor), so the state needs no lock.
class Session : public std::enable_shared_from_this<Session> {
 public:
  enum class Mode {
    kServe,
    kRejectOverloaded,  // over max_connections: answer 503 and close
  };

  // `socket` must use a strand of the server's io_context as its executor.
  Session(std::shared_ptr<ServerCore> core, boost::asio::ip::tcp::socket socket, Mode mode);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Thread-safe. Begins serving; call once, on a shared_ptr-owned Session.
  void Start();
  // Thread-safe. Closes the connection (cancelling a stream in progress).
  void PostStop();
  // Thread-safe. True when the current deadline has passed at `now_ns`
  // (steady clock) and no check is already queued; the caller then calls
  // PostDeadlineCheck().
  bool ClaimExpiredDeadline(int64_t now_ns);
  // Thread-safe. Queues the deadline check on the connection's strand.
  void PostDeadlineCheck();

  static int64_t NowNs();

 private:
  enum class Phase {
    kReading,    // a request is arriving: header_timeout, then body_timeout
    kHandling,   // the handler runs: no deadline
    kPending,    // waiting for a PendingResponse: no deadline, a read watches for the client leaving
    kWriting,    // a whole response is being written: write deadline
    kStreaming,  // a streamed response: write deadline per chunk, none while waiting
    kIdle,       // keep-alive, waiting for the next request: idle_timeout
    kClosing,    // answered and shut down our side; draining the client's bytes briefly
  };

  void OnStart();
  void BeginRequest();
  void OnHeader(boost::beast::error_code ec);
  void ReadBody();
  void OnBody(boost::beast::error_code ec);
  void OnReadError(boost::beast::error_code ec);
  void Dispatch();

  void SendError(int status, std::string_view message, std::string_view code);
  // Reports an answer the transport gives itself (ServerOptions::on_transport_answer).
  void NoteTransportAnswer(Response& response, std::string_view code);
  void SendResponse(Response response, int version, bool keep_alive, bool head_only);
  void OnResponseWritten(boost::beast::error_code ec);
  void FinishExchange();

  void AwaitPending(bool head_only);
  void OnPendingReady(uint64_t seq, Response response);
  void CancelPending();

  void StartStream(bool head_only);
  void OnStreamHeadWritten(boost::beast::error_code ec, bool head_only);
  void RequestChunk();
  void OnChunk(uint64_t seq, std::optional<std::string> chunk);
  void OnChunkWritten(boost::beast::error_code ec);
  void EndStream();
  void CancelStream();

  void ReadMore();
  void OnReadMore(boost::beast::error_code ec, size_t bytes);
  void LingerClose();
  void Close();
  void OnDeadline();

  void SetDeadline(std::chrono::nanoseconds after);
  void ClearDeadline() { deadline_ns_.store(0, std::memory_order_relaxed); }

  const std::shared_ptr<ServerCore> core_;
  boost::asio::ip::tcp::socket socket_;
  const Mode mode_;
  const bool registered_;

  // Reused for every request on the connection.
  boost::beast::flat_buffer buffer_;
  std::optional<RequestParser> parser_;
  Request request_;
  Response response_;
  std::string out_;         // response head bytes
  std::string chunk_;       // the chunk being written
  std::string chunk_head_;  // its size line
  std::string remote_;

  Phase phase_ = Phase::kReading;
  bool closed_ = false;
  bool timed_out_ = false;     // the read deadline cancelled the pending read
  bool read_pending_ = false;  // a ReadMore() read is outstanding
  bool keep_alive_ = true;
  int version_ = 11;
  bool chunked_ = true;          // the stream uses chunked framing (HTTP/1.1, length unknown)
  bool sized_ = false;           // the stream has a Content-Length (Response::stream_length)
  uint64_t stream_left_ = 0;     // bytes a sized stream still owes
  bool streaming_ = false;       // a ChunkSource is active
  bool awaiting_chunk_ = false;  // Next() called, its chunk not yet arrived
  bool stream_cancelled_ = false;
  uint64_t chunk_seq_ = 0;
  bool pending_head_only_ = false;  // the pending response answers a HEAD
  uint64_t pending_seq_ = 0;        // which wait a late `ready` belongs to

  // Written on the strand, read by the server's sweep.
  std::atomic<int64_t> deadline_ns_{0};  // 0: none
  std::atomic<bool> deadline_check_queued_{false};
};

}  // namespace aperture::http
