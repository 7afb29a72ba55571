#pragma once

// Internal to the server (server.cpp): Asio types, not part of the gateway's interface.

#include <openssl/bio.h>
#include <openssl/ssl.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/error.hpp>
#include <memory>
#include <optional>

namespace imgflow::gateway {

// One connection's bytes, in the clear or through TLS: what the server's session reads and
// writes, a SyncReadStream and SyncWriteStream for Beast and Asio. Blocking, as the server is;
// the watchdog's shutdown() of the socket ends a blocked TLS read or write as it does a plain
// one, so the handshake runs under the header deadline like the request line after it.
class ConnectionStream {
 public:
  using Socket = boost::asio::ip::tcp::socket;
  using executor_type = Socket::executor_type;

  // In the clear.
  explicit ConnectionStream(Socket& socket) : socket_(socket) {}

  // Through TLS with `context`, which the connection keeps (a reload replaces the server's,
  // not this one's).
  ConnectionStream(Socket& socket, std::shared_ptr<boost::asio::ssl::context> context)
      : socket_(socket), context_(std::move(context)) {
    tls_.emplace(socket_, *context_);
  }

  executor_type get_executor() { return socket_.get_executor(); }
  Socket& socket() { return socket_; }

  // The TLS handshake (nothing in the clear).
  void handshake(boost::beast::error_code& ec) {
    if (tls_) tls_->handshake(boost::asio::ssl::stream_base::server, ec);
  }

  // Whether bytes have arrived that the socket no longer shows as readable: TLS records read
  // off the socket and not yet returned, decrypted or not. In the clear there are none.
  bool has_buffered_input() {
    if (!tls_) return false;
    SSL* ssl = tls_->native_handle();
    return SSL_has_pending(ssl) == 1 || BIO_ctrl_pending(SSL_get_rbio(ssl)) > 0;
  }

  template <class MutableBuffers>
  std::size_t read_some(const MutableBuffers& buffers, boost::beast::error_code& ec) {
    return tls_ ? tls_->read_some(buffers, ec) : socket_.read_some(buffers, ec);
  }
  template <class MutableBuffers>
  std::size_t read_some(const MutableBuffers& buffers) {
    return tls_ ? tls_->read_some(buffers) : socket_.read_some(buffers);
  }
  template <class ConstBuffers>
  std::size_t write_some(const ConstBuffers& buffers, boost::beast::error_code& ec) {
    return tls_ ? tls_->write_some(buffers, ec) : socket_.write_some(buffers, ec);
  }
  template <class ConstBuffers>
  std::size_t write_some(const ConstBuffers& buffers) {
    return tls_ ? tls_->write_some(buffers) : socket_.write_some(buffers);
  }

 private:
  Socket& socket_;
  std::shared_ptr<boost::asio::ssl::context> context_;
  std::optional<boost::asio::ssl::stream<Socket&>> tls_;
};

}  // namespace imgflow::gateway
