// libFuzzer target: routing of raw requests, and the headers parsed for unsigned uploads
// (Content-Type as a media type, aws-chunked framing). Input lines: method, path, query, then
// headers as "name:value" lines; the host of the first header doubles as a virtual-hosted-style
// host.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "gateway/s3_request.h"
#include "http/request_head.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> lines;
  std::size_t pos = 0;
  while (pos <= text.size() && lines.size() < 64) {
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    lines.push_back(text.substr(pos, eol - pos));
    pos = eol + 1;
  }
  while (lines.size() < 3) lines.emplace_back();
  imgflow::http::RequestHead wire{
      std::string(lines[0]), std::string(lines[1]), std::string(lines[2]), {}};
  for (std::size_t i = 3; i < lines.size(); ++i) {
    const std::size_t colon = lines[i].find(':');
    wire.headers.push_back(
        {std::string(lines[i].substr(0, colon)),
         colon == std::string_view::npos ? "" : std::string(lines[i].substr(colon + 1))});
  }
  const std::string bucket = imgflow::gateway::virtual_host_bucket(
      wire.headers.empty() ? "" : wire.headers.front().value, "localhost");
  if (auto parsed = imgflow::gateway::parse_s3_request(wire, bucket)) {
    (void)parsed->resource();
    if (auto type = parsed->header("content-type")) {
      (void)imgflow::gateway::parse_media_type(*type);
    }
  }
  (void)imgflow::gateway::parse_unsigned_chunked(wire);
  return 0;
}
