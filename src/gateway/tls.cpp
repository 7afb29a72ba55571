#include "gateway/tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509err.h>
#include <sys/stat.h>

#include <boost/asio/ssl/context.hpp>
#include <cerrno>
#include <cstring>
#include <utility>

namespace imgflow::gateway {
namespace {

namespace ssl = boost::asio::ssl;

// TLS 1.2 suites with forward secrecy and an AEAD cipher (Mozilla's "intermediate" list);
// TLS 1.3 suites are OpenSSL's defaults, which are all of that kind.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

core::Error invalid(const std::filesystem::path& file, const std::string& reason) {
  return core::Error{core::ErrorCode::kInvalidArgument, file.string() + ": " + reason};
}

// The oldest error OpenSSL queued (usually the cause), and the queue cleared.
std::string openssl_reason() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "rejected by OpenSSL";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

// A file the server can read; a key file also kept from other users, and from its group's
// writes. Group reads are left to the operator (Debian's ssl-cert group reads /etc/ssl/private).
// Links are followed, as certificate managers publish their files through them.
core::Status check_readable(const std::filesystem::path& file, bool secret) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) return core::fail(invalid(file, std::strerror(errno)));
  if (!S_ISREG(st.st_mode)) return core::fail(invalid(file, "not a regular file"));
  if (secret && (st.st_mode & (S_IROTH | S_IWOTH)) != 0) {
    return core::fail(
        core::ErrorCode::kPermissionDenied,
        file.string() + ": a private key that every user may read or write; chmod o-rw it");
  }
  if (secret && (st.st_mode & S_IWGRP) != 0) {
    return core::fail(core::ErrorCode::kPermissionDenied,
                      file.string() + ": a private key its group may replace; chmod g-w it");
  }
  return {};
}

// "CN=images.example.com, expires Mar  1 12:00:00 2027 GMT".
std::string describe_certificate(SSL_CTX* ctx) {
  X509* cert = SSL_CTX_get0_certificate(ctx);
  if (cert == nullptr) return "no certificate";
  char subject[256] = "";
  X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof subject);
  std::string expiry;
  if (BIO* bio = BIO_new(BIO_s_mem())) {
    if (ASN1_TIME_print(bio, X509_get0_notAfter(cert)) == 1) {
      char* data = nullptr;
      const long size = BIO_get_mem_data(bio, &data);
      expiry.assign(data, static_cast<std::size_t>(size));
    }
    BIO_free(bio);
  }
  return std::string(subject) + ", expires " + expiry;
}

core::Result<std::shared_ptr<ssl::context>> make_context(const TlsFiles& files) {
  if (auto ok = check_readable(files.certificate, false); !ok) return core::fail(ok.error());
  if (auto ok = check_readable(files.private_key, true); !ok) return core::fail(ok.error());
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* ctx = context->native_handle();
  ERR_clear_error();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // No renegotiation (a client could make the server redo handshakes at will), no compression
  // (CRIME); session tickets stay on for fast resumption.
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  if (SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1) {
    return core::fail(core::ErrorCode::kInternal, "TLS 1.2 ciphers: " + openssl_reason());
  }
  if (SSL_CTX_use_certificate_chain_file(ctx, files.certificate.c_str()) != 1) {
    return core::fail(invalid(files.certificate, "not a PEM certificate: " + openssl_reason()));
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, files.private_key.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    if (ERR_GET_REASON(ERR_peek_error()) == X509_R_KEY_VALUES_MISMATCH ||
        SSL_CTX_get0_privatekey(ctx) != nullptr) {
      ERR_clear_error();
      return core::fail(invalid(files.private_key,
                                "does not match the certificate in " + files.certificate.string()));
    }
    return core::fail(
        invalid(files.private_key, "not an unencrypted PEM private key: " + openssl_reason()));
  }
  return context;
}

}  // namespace

TlsIdentity::TlsIdentity(TlsFiles files) : files_(std::move(files)) {}
TlsIdentity::~TlsIdentity() = default;

core::Result<std::unique_ptr<TlsIdentity>> TlsIdentity::load(const TlsFiles& files) {
  std::unique_ptr<TlsIdentity> identity(new TlsIdentity(files));
  if (auto ok = identity->reload(); !ok) return core::fail(ok.error());
  return identity;
}

core::Status TlsIdentity::reload() {
  auto context = make_context(files_);
  if (!context) return core::fail(context.error());
  std::string description = describe_certificate((*context)->native_handle());
  std::lock_guard lock(mu_);
  context_ = std::move(*context);
  description_ = std::move(description);
  return {};
}

std::shared_ptr<ssl::context> TlsIdentity::context() const {
  std::lock_guard lock(mu_);
  return context_;
}

std::string TlsIdentity::describe() const {
  std::lock_guard lock(mu_);
  return description_;
}

}  // namespace imgflow::gateway
