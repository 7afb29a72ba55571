#include "core/xml.h"

#include <gtest/gtest.h>

#include <string>

namespace imgflow::core {
namespace {

std::string nested(int depth, std::string_view innermost = "") {
  std::string xml;
  for (int i = 0; i < depth; ++i) xml += "<a>";
  xml += innermost;
  for (int i = 0; i < depth; ++i) xml += "</a>";
  return xml;
}

TEST(XmlReader, ParsesS3Shapes) {
  const auto doc = parse_xml(R"(<?xml version="1.0" encoding="UTF-8"?>
<!-- a comment -->
<Root xmlns="http://s3.amazonaws.com/doc/2006-03-01/" a='1>2'>
  <Key>a &amp; b &lt;c&gt; &quot;d&quot; &apos;e&apos; &#233;&#x1F600;</Key>
  <Empty/>
  <Spaced />
  <Item><N>1</N></Item><Item><N>2</N></Item>
</Root >
<!-- trailing comment -->
)");
  ASSERT_TRUE(doc.has_value()) << doc.error().to_string();
  EXPECT_EQ(doc->name, "Root");
  EXPECT_EQ(doc->child_text("Key"), "a & b <c> \"d\" 'e' \xC3\xA9\xF0\x9F\x98\x80");
  ASSERT_NE(doc->child("Empty"), nullptr);
  EXPECT_EQ(doc->child_text("Empty"), "");
  EXPECT_NE(doc->child("Spaced"), nullptr);
  const auto items = doc->all("Item");
  ASSERT_EQ(items.size(), 2U);
  EXPECT_EQ(items[1]->child_text("N"), "2");
  EXPECT_EQ(doc->child("Missing"), nullptr);
  EXPECT_EQ(doc->child_text("Missing"), "");
}

TEST(XmlReader, KeepsWhitespacePrefixesAndControlCharacters) {
  const auto doc = parse_xml(
      "<s3:Delete xmlns:s3=\"urn:x\"><s3:Key> a\r\n b </s3:Key><K>x<!-- c -->y&#x1;&#10;</K>"
      "</s3:Delete>");
  ASSERT_TRUE(doc.has_value()) << doc.error().to_string();
  EXPECT_EQ(doc->name, "s3:Delete");  // prefixes stay part of the name
  EXPECT_EQ(doc->child_text("s3:Key"), " a\r\n b ");
  EXPECT_EQ(doc->child("Key"), nullptr);
  EXPECT_EQ(doc->child_text("K"), "xy\x01\n");  // comments split text; references decode
}

TEST(XmlReader, RefusesMalformedAndHostileInput) {
  for (const char* bad :
       {"", "<a>", "<a></b>", "<a>&bogus;</a>", "<a></a><b/>", "text", "<a/>text",
        "<a><!-- open</a>", "<a><!--></a>", "<a b=\"1></a>", "<a b=\"<\"/>", "<a\"b/>", "</a>",
        "< a/>", "<a></a foo>", "<p:a></q:a>", "<a>&amp</a>", "<a>& b</a>",
        // character references: NUL, surrogates, out of range, uppercase X, empty, too long
        "<a>&#0;</a>", "<a>&#xD800;</a>", "<a>&#x110000;</a>", "<a>&#X41;</a>", "<a>&#;</a>",
        "<a>&#x;</a>", "<a>&#-1;</a>", "<a>&#000000000065;</a>",
        // DOCTYPE, CDATA, processing instructions, a declaration that is not first
        "<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>", "<a><![CDATA[<raw> & ]]></a>", "<?pi x?><a/>",
        "<a><?pi x?></a>", "<a/><?pi x?>", "<?xml-stylesheet href=\"x\"?><a/>",
        "<!-- c --><?xml version=\"1.0\"?><a/>",
        "<?xml version=\"1.0\"?><?xml version=\"1.0\"?><a/>", "<?xml version=\"1.0\"<a/>",
        "<a><!ENTITY x \"y\"></a>"}) {
    const auto r = parse_xml(bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kCorrupt) << bad;
    EXPECT_TRUE(r.error().message.starts_with("malformed XML at byte ")) << r.error().message;
  }
}

TEST(XmlReader, ErrorsSayWhatIsWrong) {
  EXPECT_EQ(parse_xml("<a><![CDATA[x]]></a>").error().message,
            "malformed XML at byte 3: CDATA sections are refused");
  EXPECT_EQ(parse_xml("<a></b>").error().message,
            "malformed XML at byte 6: end tag </b> does not close <a>");
  EXPECT_EQ(parse_xml("<!DOCTYPE a><a/>").error().message,
            "malformed XML at byte 0: DOCTYPE and other declarations are refused");
}

TEST(XmlReader, AcceptsTheLargestCharacterReferences) {
  const auto doc = parse_xml("<a>&#x10FFFF;&#1114111;&#x7f;</a>");
  ASSERT_TRUE(doc.has_value()) << doc.error().to_string();
  EXPECT_EQ(doc->text, "\xF4\x8F\xBF\xBF\xF4\x8F\xBF\xBF\x7F");
}

TEST(XmlReader, EnforcesLimits) {
  EXPECT_EQ(parse_xml(nested(40)).error().code, ErrorCode::kTooLarge);
  EXPECT_TRUE(parse_xml(nested(16)).has_value());  // the default depth, root included
  EXPECT_EQ(parse_xml(nested(16, "<b/>")).error().code, ErrorCode::kTooLarge);  // empty counts
  EXPECT_TRUE(parse_xml(nested(8), {.max_depth = 8}).has_value());
  EXPECT_EQ(parse_xml(nested(9), {.max_depth = 8}).error().code, ErrorCode::kTooLarge);

  std::string wide = "<a>";
  for (int i = 0; i < 100; ++i) wide += "<b/>";
  wide += "</a>";
  EXPECT_EQ(parse_xml(wide, {.max_elements = 50}).error().code, ErrorCode::kTooLarge);
  EXPECT_TRUE(parse_xml(wide, {.max_elements = 101}).has_value());
  EXPECT_EQ(parse_xml(wide, {.max_elements = 100}).error().code, ErrorCode::kTooLarge);

  const auto big = parse_xml(wide, {.max_bytes = 10});
  EXPECT_EQ(big.error().code, ErrorCode::kTooLarge);
  EXPECT_EQ(big.error().message, "XML body of 407 bytes is over the 10-byte limit");
  EXPECT_TRUE(parse_xml(wide, {.max_bytes = wide.size()}).has_value());
}

TEST(XmlEscape, EscapesMarkupAndControlCharacters) {
  EXPECT_EQ(xml_escape("a&b<c>\"d'"), "a&amp;b&lt;c&gt;&quot;d&apos;");
  EXPECT_EQ(xml_escape("<a&'\">"), "&lt;a&amp;&apos;&quot;&gt;");
  EXPECT_EQ(xml_escape(std::string("x\x01y\x1F", 4)), "x&#x1;y&#x1F;");
  EXPECT_EQ(xml_escape("tab\tlf\ncr\r \xC3\xA9"), "tab\tlf\ncr\r \xC3\xA9");  // kept as is
}

TEST(XmlEscape, ParsesBackToTheSameText) {
  std::string every_byte;
  for (int c = 1; c < 256; ++c) every_byte += static_cast<char>(c);  // all but NUL
  const auto doc = parse_xml("<k>" + xml_escape(every_byte) + "</k>");
  ASSERT_TRUE(doc.has_value()) << doc.error().to_string();
  EXPECT_EQ(doc->text, every_byte);
}

TEST(XmlWriter, ProducesEscapedElements) {
  XmlWriter xml;
  xml.open("R", "http://s3.amazonaws.com/doc/2006-03-01/");
  xml.open("Item");
  xml.element("Key", "a<b");
  xml.close("Item");
  xml.close("R");
  EXPECT_EQ(xml.take(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<R "
            "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Item><Key>a&lt;b</Key></Item></R>");
}

}  // namespace
}  // namespace imgflow::core
