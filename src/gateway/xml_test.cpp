#include "gateway/xml.h"

#include <gtest/gtest.h>

#include <string>

// The XML reader itself (entities, refusals, limits), xml_escape and XmlWriter are tested in
// core/xml_test.cpp; these tests cover the two request-body parsers on top of it.

namespace imgflow::gateway {
namespace {

std::string delete_body(int keys) {
  std::string xml = "<Delete>";
  for (int i = 0; i < keys; ++i) xml += "<Object><Key>k" + std::to_string(i) + "</Key></Object>";
  return xml + "</Delete>";
}

// The message of a refused body; fails the test if the body was accepted or the code is wrong.
template <typename Parsed>
std::string refusal(const core::Result<Parsed>& result) {
  if (result) return "(accepted)";
  EXPECT_EQ(result.error().code, core::ErrorCode::kInvalidArgument) << result.error().message;
  return result.error().message;
}

TEST(XmlTest, ParsesCompleteMultipartUpload) {
  auto parts = parse_complete_multipart(
      "<?xml version=\"1.0\"?><CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/"
      "2006-03-01/\"><Part><ETag>&quot;abc&quot;</ETag><PartNumber>1</PartNumber></Part>"
      "<Part><PartNumber>2</PartNumber><ETag>def</ETag><ChecksumCRC32>x</ChecksumCRC32></Part>"
      "<Unknown/></CompleteMultipartUpload>");
  ASSERT_TRUE(parts) << parts.error().message;
  ASSERT_EQ(parts->size(), 2u);
  EXPECT_EQ((*parts)[0].part_number, 1);
  EXPECT_EQ((*parts)[0].etag, "\"abc\"");
  EXPECT_EQ((*parts)[1].part_number, 2);
  EXPECT_EQ((*parts)[1].etag, "def");
}

TEST(XmlTest, ParsesDeleteObjects) {
  auto request = parse_delete_objects(
      "<Delete><Quiet>true</Quiet><Object><Key>a&amp;b</Key></Object>"
      "<Object><Key>&#x263A;</Key><VersionId>v</VersionId></Object></Delete>");
  ASSERT_TRUE(request);
  EXPECT_TRUE(request->quiet);
  EXPECT_EQ(request->keys, (std::vector<std::string>{"a&b", "\xE2\x98\xBA"}));
  auto loud = parse_delete_objects(
      "<Delete><Quiet>false</Quiet><Object><Key> k </Key></Object>"
      "</Delete>");
  ASSERT_TRUE(loud);
  EXPECT_FALSE(loud->quiet);
  EXPECT_EQ(loud->keys, (std::vector<std::string>{" k "}));  // key whitespace is significant
}

TEST(XmlTest, MatchesElementsWithoutTheirNamespacePrefix) {
  auto request = parse_delete_objects(
      "<s3:Delete xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\"><s3:Quiet>true</s3:Quiet>"
      "<s3:Object><s3:Key>k</s3:Key></s3:Object></s3:Delete>");
  ASSERT_TRUE(request) << request.error().message;
  EXPECT_TRUE(request->quiet);
  EXPECT_EQ(request->keys, (std::vector<std::string>{"k"}));
  auto parts = parse_complete_multipart(
      "<x:CompleteMultipartUpload xmlns:x=\"u\"><x:Part><x:PartNumber>3</x:PartNumber>"
      "<x:ETag>e</x:ETag></x:Part></x:CompleteMultipartUpload>");
  ASSERT_TRUE(parts) << parts.error().message;
  EXPECT_EQ((*parts)[0].part_number, 3);
  // The reader itself is strict: an end tag must repeat the prefix it closes.
  EXPECT_NE(refusal(parse_delete_objects("<s3:Delete><Object><Key>k</Key></Object></Delete>")),
            "(accepted)");
}

TEST(XmlTest, RefusesWhatItDoesNotNeed) {
  for (const char* bad : {
           "<!DOCTYPE x [<!ENTITY e \"boom\">]><Delete><Object><Key>&e;</Key></Object></Delete>",
           "<Delete><Object><Key>k</Key></Delete>",
           "<Delete><Object><Key>&bogus;</Key></Object></Delete>",
           "<Delete><Object><Key>k</Key></Object></Delete><Delete/>",
           "<Delete><Object><Key><![CDATA[k]]></Key></Object></Delete>",
           "<Delete><Object><Key>&#0;</Key></Object></Delete>",
       }) {
    EXPECT_TRUE(refusal(parse_delete_objects(bad)).starts_with("malformed XML at byte ")) << bad;
  }
  EXPECT_NE(refusal(parse_complete_multipart(std::string(kMaxXmlBodyBytes + 1, ' '))),
            "(accepted)");
  std::string deep = "<Delete>";
  for (int i = 0; i < 20; ++i) deep += "<a>";
  EXPECT_NE(refusal(parse_delete_objects(deep)), "(accepted)");
}

TEST(XmlTest, RequestDocumentsNestAtMostEightDeep) {
  auto nested = [](int depth) {
    std::string xml;
    for (int i = 0; i < depth; ++i) xml += "<Delete>";
    for (int i = 0; i < depth; ++i) xml += "</Delete>";
    return xml;
  };
  EXPECT_EQ(refusal(parse_delete_objects(nested(8))), "Delete names no Object");
  EXPECT_EQ(refusal(parse_delete_objects(nested(9))), "XML nests deeper than 8 levels");
}

TEST(XmlTest, CompleteMultipartErrorsSayWhatIsWrong) {
  EXPECT_EQ(refusal(parse_complete_multipart("<Delete/>")),
            "the root element must be <CompleteMultipartUpload>");
  EXPECT_EQ(refusal(parse_complete_multipart("<CompleteMultipartUpload/>")),
            "CompleteMultipartUpload lists no Part");
  EXPECT_EQ(refusal(parse_complete_multipart(
                "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>e</ETag></Part>"
                "<Part><ETag>e</ETag></Part></CompleteMultipartUpload>")),
            "Part 2 has no PartNumber");
  EXPECT_EQ(refusal(parse_complete_multipart(
                "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part>"
                "</CompleteMultipartUpload>")),
            "Part 1 has no ETag");
  for (const char* number : {"x", " 1", "1 ", "+1", "1.0", "", "99999999999"}) {
    EXPECT_EQ(refusal(parse_complete_multipart(
                  "<CompleteMultipartUpload><Part><PartNumber>" + std::string(number) +
                  "</PartNumber><ETag>e</ETag></Part></CompleteMultipartUpload>")),
              "Part 1 has a PartNumber that is not an integer")
        << number;
  }
}

TEST(XmlTest, PartNumberRangeIsTheStoresToCheck) {
  auto parts = parse_complete_multipart(
      "<CompleteMultipartUpload><Part><PartNumber>-1</PartNumber><ETag>e</ETag></Part>"
      "<Part><PartNumber>0</PartNumber><ETag>e</ETag></Part>"
      "<Part><PartNumber>10001</PartNumber><ETag>e</ETag></Part></CompleteMultipartUpload>");
  ASSERT_TRUE(parts) << parts.error().message;
  EXPECT_EQ((*parts)[0].part_number, -1);
  EXPECT_EQ((*parts)[1].part_number, 0);
  EXPECT_EQ((*parts)[2].part_number, 10001);
}

TEST(XmlTest, TenThousandPartsFitTheLimits) {
  std::string xml = "<CompleteMultipartUpload>";
  for (int n = 1; n <= 10'000; ++n) {
    xml += "<Part><ETag>\"d41d8cd98f00b204e9800998ecf8427e\"</ETag><PartNumber>" +
           std::to_string(n) + "</PartNumber></Part>";
  }
  xml += "</CompleteMultipartUpload>";
  ASSERT_LE(xml.size(), kMaxXmlBodyBytes);
  auto parts = parse_complete_multipart(xml);
  ASSERT_TRUE(parts) << parts.error().message;
  EXPECT_EQ(parts->size(), 10'000u);
  EXPECT_EQ(parts->back().part_number, 10'000);
}

TEST(XmlTest, DeleteObjectsErrorsSayWhatIsWrong) {
  EXPECT_EQ(refusal(parse_delete_objects("<Objects/>")), "the root element must be <Delete>");
  EXPECT_EQ(refusal(parse_delete_objects("<Delete></Delete>")), "Delete names no Object");
  EXPECT_EQ(refusal(parse_delete_objects(
                "<Delete><Object><Key>k</Key></Object><Object><Kee>k</Kee></Object></Delete>")),
            "Object 2 has no Key");
  ASSERT_TRUE(parse_delete_objects(delete_body(1000)));
  EXPECT_EQ(refusal(parse_delete_objects(delete_body(1001))),
            "Delete names more than 1000 objects");
}

}  // namespace
}  // namespace imgflow::gateway
