#pragma once

// Test certificates made in memory with the OpenSSL 3 C API, so tests never need the `openssl`
// command line tool. Keys are EC P-256; certificates are valid from an hour ago for a day.
//
//   Pem ca = MakeCa("test CA");
//   Pem server = MakeCert(ca, "server", "IP:127.0.0.1,DNS:localhost");
//   ASSERT_TRUE(WriteFile(dir + "/tls.crt", server.cert));
//
// Test-only: failures abort via an empty result (callers ASSERT on it).

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <string>

namespace gpusched::testing {

struct Pem {
  std::string cert;  // PEM certificate
  std::string key;   // PEM private key (PKCS#8)
};

namespace tls_internal {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

inline std::string BioString(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string();
}

inline bool AddExt(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) return false;
  const bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

// Signs a new certificate for `key` named `cn`; self-signed when issuer/issuer_key are null.
inline Pem Issue(const std::string& cn, bool is_ca, const std::string& sans, X509* issuer,
                 EVP_PKEY* issuer_key) {
  static std::atomic<long> serial{1000};
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  X509Ptr cert(X509_new());
  if (!key || !cert) return {};
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial.fetch_add(1));
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509* signer = issuer != nullptr ? issuer : cert.get();
  EVP_PKEY* signer_key = issuer_key != nullptr ? issuer_key : key.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(signer));
  bool ok = true;
  if (is_ca) {
    ok &= AddExt(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
    ok &= AddExt(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
    ok &= AddExt(cert.get(), signer, NID_subject_key_identifier, "hash");
  } else {
    ok &= AddExt(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE");
    ok &= AddExt(cert.get(), signer, NID_key_usage, "critical,digitalSignature,keyEncipherment");
    ok &= AddExt(cert.get(), signer, NID_ext_key_usage, "serverAuth,clientAuth");
    if (!sans.empty()) ok &= AddExt(cert.get(), signer, NID_subject_alt_name, sans);
  }
  if (!ok || X509_sign(cert.get(), signer_key, EVP_sha256()) == 0) return {};
  BioPtr cert_bio(BIO_new(BIO_s_mem()));
  BioPtr key_bio(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_X509(cert_bio.get(), cert.get()) != 1 ||
      PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr,
                               nullptr) != 1) {
    return {};
  }
  return Pem{BioString(cert_bio.get()), BioString(key_bio.get())};
}

}  // namespace tls_internal

// A self-signed CA.
inline Pem MakeCa(const std::string& cn = "gpusched test CA") {
  return tls_internal::Issue(cn, /*is_ca=*/true, "", nullptr, nullptr);
}

// A leaf certificate signed by `ca`; `sans` in OpenSSL's syntax ("IP:127.0.0.1,DNS:localhost").
inline Pem MakeCert(const Pem& ca, const std::string& cn = "gpusched test",
                    const std::string& sans = "IP:127.0.0.1,DNS:localhost") {
  using namespace tls_internal;
  BioPtr cert_bio(BIO_new_mem_buf(ca.cert.data(), static_cast<int>(ca.cert.size())));
  BioPtr key_bio(BIO_new_mem_buf(ca.key.data(), static_cast<int>(ca.key.size())));
  X509Ptr ca_cert(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
  PkeyPtr ca_key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (!ca_cert || !ca_key) return {};
  return Issue(cn, /*is_ca=*/false, sans, ca_cert.get(), ca_key.get());
}

// Writes (replaces) a file; false on failure.
inline bool WriteFile(const std::string& path, const std::string& contents) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return false;
  const bool ok = std::fwrite(contents.data(), 1, contents.size(), f) == contents.size();
  return std::fclose(f) == 0 && ok;
}

}  // namespace gpusched::testing
