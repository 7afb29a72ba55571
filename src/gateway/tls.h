#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "core/result.h"

namespace boost::asio::ssl {
class context;
}  // namespace boost::asio::ssl

namespace imgflow::gateway {

// Where the server's certificate and key are: PEM files, the certificate file holding the
// chain (leaf first, then intermediates), the key unencrypted.
struct TlsFiles {
  std::filesystem::path certificate;
  std::filesystem::path private_key;
};

// The server's TLS identity: its certificate and key loaded into an OpenSSL context with modern
// defaults (TLS 1.2 and 1.3 only; forward-secret AEAD ciphers for 1.2; no renegotiation, no
// compression). reload() reads the files again, for a renewed certificate, without a restart:
// new connections get the new context, connections already running keep theirs.
class TlsIdentity {
 public:
  // Errors: kInvalidArgument, with the file and OpenSSL's reason (missing or unreadable file,
  // not PEM, a key that does not match the certificate), or kPermissionDenied for a key file
  // that other users may read or write.
  static core::Result<std::unique_ptr<TlsIdentity>> load(const TlsFiles& files);
  ~TlsIdentity();
  TlsIdentity(const TlsIdentity&) = delete;
  TlsIdentity& operator=(const TlsIdentity&) = delete;

  // Loads the files again; on an error the identity in force stays. Thread-safe.
  core::Status reload();

  // The context for a new connection. Thread-safe; the connection keeps it alive.
  std::shared_ptr<boost::asio::ssl::context> context() const;

  // The certificate's subject and expiry, for the banner and the log.
  std::string describe() const;

 private:
  explicit TlsIdentity(TlsFiles files);

  const TlsFiles files_;
  mutable std::mutex mu_;
  std::shared_ptr<boost::asio::ssl::context> context_;  // guarded by mu_
  std::string description_;                             // guarded by mu_
};

}  // namespace imgflow::gateway
