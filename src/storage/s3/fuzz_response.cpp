// libFuzzer target: what an S3-compatible server sends back is untrusted too. The input is one
// response body, served by a FakeHttpClient to one S3Store operation chosen by the first byte
// (ListObjectsV2, ListBuckets, ListParts, CopyObject, GetObject or, with bit 0x40 of a
// GetObject byte, ListMultipartUploads; bit 0x80 clear: an error status), so the XML reader, the
// listing parsers and the error mapping all see hostile bytes.

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/xml.h"
#include "http/fake_http_client.h"
#include "storage/s3/s3_store.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace imgflow;
  if (size < 1) return 0;
  const std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
  (void)core::parse_xml(body);

  http::FakeHttpClient fake;
  storage::s3::S3Config config;
  config.endpoint = "http://127.0.0.1:9000";
  config.path_style = true;
  config.credentials = sigv4::Credentials{"AKID", "SECRET", ""};
  config.retry.max_attempts = 1;
  auto store = storage::s3::S3Store::create(config, fake, core::SystemClock::instance(),
                                            [](std::chrono::milliseconds) {});
  if (!store) __builtin_trap();
  const int status = (data[0] & 0x80U) ? 200 : 400 + data[0] % 120;
  fake.push(status, body, {{"Content-Length", std::to_string(body.size())}});
  fake.push(200, "", {{"Content-Length", "1"}});  // the HEAD after a copy
  switch (data[0] % 5) {
    case 0:
      (void)(*store)->list("bucket", {});
      break;
    case 1:
      (void)(*store)->list_buckets();
      break;
    case 2:
      (void)(*store)->list_parts("bucket", "key", "upload");
      break;
    case 3:
      (void)(*store)->copy("bucket", "a", "bucket", "b", {});
      break;
    default:
      // Bit 0x40 picks the later operation, so the first corpus files keep their meaning.
      if ((data[0] & 0x40U) != 0) {
        (void)(*store)->list_multipart_uploads("bucket", {});
      } else {
        (void)(*store)->get_string("bucket", "key");
      }
      break;
  }
  return 0;
}
