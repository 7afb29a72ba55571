"""S3 operations that real clients and test suites call, against `imgflow serve`: bucket names
AWS refuses, DeleteBucket, the ACL reads of a bucket with ACLs disabled, a retried
CompleteMultipartUpload, OPTIONS without an Origin, UploadPartCopy, ListMultipartUploads with a
delimiter and ListObjectVersions of an unversioned bucket."""

import http.client
import json
import os
import re
import subprocess
import sys
import unittest

import boto3
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

sys.path.insert(0, os.path.dirname(__file__))
from gateway_support import ServerProcess  # noqa: E402

AWS = "/usr/bin/aws"
MiB = 1024 * 1024


class S3OperationsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = ServerProcess(os.environ["IMGFLOW_BINARY"]).start()
        cls.s3 = cls.client(cls.server.admin)

    @classmethod
    def tearDownClass(cls):
        code = cls.server.stop()
        cls.server.cleanup()
        assert code == 0, f"imgflow serve exited with {code}"

    @classmethod
    def client(cls, key=None):
        extra = {"signature_version": "s3v4" if key else UNSIGNED}
        return boto3.client("s3", endpoint_url=cls.server.endpoint, region_name="us-east-1",
                            aws_access_key_id=key[0] if key else None,
                            aws_secret_access_key=key[1] if key else None,
                            config=Config(s3={"addressing_style": "path"},
                                          retries={"max_attempts": 1}, **extra))

    def error(self, call, **kwargs):
        """(HTTP status, S3 error code) of a call that must fail."""
        with self.assertRaises(ClientError) as ctx:
            call(**kwargs)
        response = ctx.exception.response
        return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]

    def aws(self, *args):
        p = subprocess.run([AWS, "--endpoint-url", self.server.endpoint, *args],
                           env=self.server.client_env(self.server.admin), capture_output=True,
                           text=True, timeout=120)
        self.assertEqual(p.returncode, 0, f"aws {args}: {p.stderr}")
        return p.stdout

    def test_create_bucket_refuses_the_names_aws_refuses(self):
        for name in ("xn--bucket", "sthree-bucket", "sthree-configurator-b", "amzn-s3-demo-b",
                     "bucket-s3alias", "bucket--ol-s3", "bucket.mrap", "bucket--x-s3",
                     "bucket--table-s3", "ab", "b" * 64, "Bucket", "a..b", "192.168.5.4",
                     "-bucket", "bucket-", "a_b"):
            self.assertEqual(self.error(self.s3.create_bucket, Bucket=name),
                             (400, "InvalidBucketName"), name)
        self.s3.create_bucket(Bucket="xn-ok.s3alias-not-last")
        self.s3.delete_bucket(Bucket="xn-ok.s3alias-not-last")

    def test_delete_bucket_refuses_a_bucket_with_objects_or_uploads(self):
        self.s3.create_bucket(Bucket="scratch")
        self.s3.put_object(Bucket="scratch", Key="a.jpg", Body=b"x")
        self.assertEqual(self.error(self.s3.delete_bucket, Bucket="scratch"),
                         (409, "BucketNotEmpty"))
        self.s3.delete_object(Bucket="scratch", Key="a.jpg")
        upload = self.s3.create_multipart_upload(Bucket="scratch", Key="b.jpg")
        self.assertEqual(self.error(self.s3.delete_bucket, Bucket="scratch"),
                         (409, "BucketNotEmpty"))
        self.s3.abort_multipart_upload(Bucket="scratch", Key="b.jpg", UploadId=upload["UploadId"])
        self.s3.delete_bucket(Bucket="scratch")
        self.assertEqual(self.error(self.s3.head_bucket, Bucket="scratch")[0], 404)
        self.assertEqual(self.error(self.s3.delete_bucket, Bucket="scratch"),
                         (404, "NoSuchBucket"))
        # The name is free again.
        self.s3.create_bucket(Bucket="scratch")
        self.s3.delete_bucket(Bucket="scratch")
        # The gateway's own buckets stay, and only the admin deletes buckets.
        self.assertEqual(self.error(self.s3.delete_bucket, Bucket="processed"),
                         (403, "AccessDenied"))
        self.assertEqual(self.error(self.client(self.server.function).delete_bucket,
                                    Bucket="uploads"), (403, "AccessDenied"))

    def test_awscli_rb_force_empties_and_deletes_a_bucket(self):
        self.aws("s3", "mb", "s3://cli-scratch")
        for i in range(3):
            self.s3.put_object(Bucket="cli-scratch", Key=f"d/{i}.jpg", Body=b"x")
        self.aws("s3", "rb", "s3://cli-scratch", "--force")
        self.assertNotIn("cli-scratch", [b["Name"] for b in self.s3.list_buckets()["Buckets"]])

    def test_acl_reads_answer_as_for_a_bucket_with_acls_disabled(self):
        self.s3.put_object(Bucket="processed", Key="acl/x.jpg", Body=b"x")
        for acl in (self.s3.get_bucket_acl(Bucket="processed"),
                    self.s3.get_object_acl(Bucket="processed", Key="acl/x.jpg")):
            owner = acl["Owner"]["ID"]
            self.assertEqual(acl["Grants"], [{
                "Grantee": {"ID": owner, "DisplayName": acl["Owner"]["DisplayName"],
                            "Type": "CanonicalUser"},
                "Permission": "FULL_CONTROL"}])
        self.assertEqual(self.error(self.s3.get_object_acl, Bucket="processed", Key="acl/none"),
                         (404, "NoSuchKey"))
        self.assertEqual(self.error(self.s3.get_bucket_acl, Bucket="nosuchbucket"),
                         (404, "NoSuchBucket"))
        self.assertEqual(self.error(self.client().get_bucket_acl, Bucket="uploads"),
                         (403, "AccessDenied"))
        out = json.loads(self.aws("s3api", "get-object-acl", "--bucket", "processed", "--key",
                                  "acl/x.jpg"))
        self.assertEqual(out["Grants"][0]["Permission"], "FULL_CONTROL")

    def test_a_retried_complete_multipart_upload_succeeds_again(self):
        upload = self.s3.create_multipart_upload(Bucket="processed", Key="retry/x.bin")
        part = self.s3.upload_part(Bucket="processed", Key="retry/x.bin",
                                   UploadId=upload["UploadId"], PartNumber=1, Body=b"only part")
        parts = {"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]}
        first = self.s3.complete_multipart_upload(Bucket="processed", Key="retry/x.bin",
                                                  UploadId=upload["UploadId"],
                                                  MultipartUpload=parts)
        second = self.s3.complete_multipart_upload(Bucket="processed", Key="retry/x.bin",
                                                   UploadId=upload["UploadId"],
                                                   MultipartUpload=parts)
        self.assertEqual(second["ETag"], first["ETag"])
        # Another key with that upload id is still no upload.
        self.assertEqual(self.error(self.s3.complete_multipart_upload, Bucket="processed",
                                    Key="retry/other.bin", UploadId=upload["UploadId"],
                                    MultipartUpload=parts), (404, "NoSuchUpload"))

    def test_options_without_origin_is_a_bad_request(self):
        port = int(self.server.endpoint.rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("OPTIONS", "/uploads/x.jpg", headers={"Access-Control-Request-Method": "PUT"})
        r = conn.getresponse()
        body = r.read()
        conn.close()
        self.assertEqual(r.status, 400, body)
        self.assertIn(b"<Code>BadRequest</Code>", body)
        self.assertIn(b"Insufficient information. Origin request header needed.", body)

    def test_upload_part_copy(self):
        source = os.urandom(6 * MiB + 100)
        self.s3.put_object(Bucket="processed", Key="copy/source.bin", Body=source)
        upload = self.s3.create_multipart_upload(Bucket="processed", Key="copy/joined.bin")
        uid = upload["UploadId"]
        first = self.s3.upload_part_copy(Bucket="processed", Key="copy/joined.bin", UploadId=uid,
                                         PartNumber=1, CopySourceRange=f"bytes=0-{5 * MiB - 1}",
                                         CopySource={"Bucket": "processed",
                                                     "Key": "copy/source.bin"})
        second = self.s3.upload_part_copy(Bucket="processed", Key="copy/joined.bin", UploadId=uid,
                                          PartNumber=2, CopySource="processed/copy/source.bin")
        self.assertRegex(first["CopyPartResult"]["ETag"], r'^"[0-9a-f]{32}"$')
        self.s3.complete_multipart_upload(
            Bucket="processed", Key="copy/joined.bin", UploadId=uid,
            MultipartUpload={"Parts": [
                {"PartNumber": 1, "ETag": first["CopyPartResult"]["ETag"]},
                {"PartNumber": 2, "ETag": second["CopyPartResult"]["ETag"]}]})
        joined = self.s3.get_object(Bucket="processed", Key="copy/joined.bin")["Body"].read()
        self.assertEqual(joined, source[:5 * MiB] + source)

        other = self.s3.create_multipart_upload(Bucket="processed", Key="copy/bad.bin")
        status, code = self.error(self.s3.upload_part_copy, Bucket="processed",
                                  Key="copy/bad.bin", UploadId=other["UploadId"], PartNumber=1,
                                  CopySource="processed/copy/source.bin",
                                  CopySourceRange=f"bytes=0-{len(source)}")
        self.assertEqual((status, code), (400, "InvalidArgument"))
        self.assertEqual(self.error(self.s3.upload_part_copy, Bucket="processed",
                                    Key="copy/bad.bin", UploadId=other["UploadId"], PartNumber=1,
                                    CopySource="processed/copy/source.bin",
                                    CopySourceIfMatch='"0123"'), (412, "PreconditionFailed"))
        self.s3.abort_multipart_upload(Bucket="processed", Key="copy/bad.bin",
                                       UploadId=other["UploadId"])
        # Anonymous uploaders read nothing, so they copy nothing.
        anonymous = self.client()
        mine = anonymous.create_multipart_upload(Bucket="uploads", Key="copy/mine.jpg",
                                                 ContentType="image/jpeg")
        self.assertEqual(self.error(anonymous.upload_part_copy, Bucket="uploads",
                                    Key="copy/mine.jpg", UploadId=mine["UploadId"], PartNumber=1,
                                    CopySource="processed/copy/source.bin"),
                         (403, "AccessDenied"))
        anonymous.abort_multipart_upload(Bucket="uploads", Key="copy/mine.jpg",
                                         UploadId=mine["UploadId"])

    def test_list_multipart_uploads_with_a_delimiter(self):
        keys = ["d/a/1.jpg", "d/a/2.jpg", "d/b.jpg", "d/c/x.jpg"]
        ids = {k: self.s3.create_multipart_upload(Bucket="processed", Key=k)["UploadId"]
               for k in keys}
        listed = self.s3.list_multipart_uploads(Bucket="processed", Prefix="d/", Delimiter="/")
        self.assertEqual([u["Key"] for u in listed["Uploads"]], ["d/b.jpg"])
        self.assertEqual([p["Prefix"] for p in listed["CommonPrefixes"]], ["d/a/", "d/c/"])
        self.assertEqual(listed["Delimiter"], "/")
        pages = list(self.s3.get_paginator("list_multipart_uploads").paginate(
            Bucket="processed", Prefix="d/", Delimiter="/", PaginationConfig={"PageSize": 1}))
        self.assertEqual([p["Prefix"] for page in pages for p in page.get("CommonPrefixes", [])],
                         ["d/a/", "d/c/"])
        self.assertEqual([u["Key"] for page in pages for u in page.get("Uploads", [])],
                         ["d/b.jpg"])
        for key, upload_id in ids.items():
            self.s3.abort_multipart_upload(Bucket="processed", Key=key, UploadId=upload_id)

    def test_list_object_versions_of_an_unversioned_bucket(self):
        for key in ("v/a.jpg", "v/b.jpg", "v/sub/c.jpg"):
            self.s3.put_object(Bucket="processed", Key=key, Body=key.encode())
        listed = self.s3.list_object_versions(Bucket="processed", Prefix="v/", Delimiter="/")
        self.assertEqual([(v["Key"], v["VersionId"], v["IsLatest"], v["Size"])
                          for v in listed["Versions"]],
                         [("v/a.jpg", "null", True, 7), ("v/b.jpg", "null", True, 7)])
        self.assertEqual([p["Prefix"] for p in listed["CommonPrefixes"]], ["v/sub/"])
        self.assertNotIn("DeleteMarkers", listed)
        pages = list(self.s3.get_paginator("list_object_versions").paginate(
            Bucket="processed", Prefix="v/", PaginationConfig={"PageSize": 1}))
        self.assertEqual([v["Key"] for page in pages for v in page.get("Versions", [])],
                         ["v/a.jpg", "v/b.jpg", "v/sub/c.jpg"])
        self.assertEqual(pages[0]["NextVersionIdMarker"], "null")
        out = json.loads(self.aws("s3api", "list-object-versions", "--bucket", "processed",
                                  "--prefix", "v/sub/"))
        self.assertEqual([v["VersionId"] for v in out["Versions"]], ["null"])
        self.assertEqual(self.error(self.client().list_object_versions, Bucket="uploads"),
                         (403, "AccessDenied"))

    def test_xml_of_a_version_listing_names_the_owner(self):
        self.s3.put_object(Bucket="processed", Key="vx/a.jpg", Body=b"x")
        port = int(self.server.endpoint.rsplit(":", 1)[1])
        url = self.s3.generate_presigned_url("list_object_versions",
                                             Params={"Bucket": "processed", "Prefix": "vx/"})
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", url[len(self.server.endpoint):])
        body = conn.getresponse().read().decode()
        conn.close()
        self.assertTrue(body.startswith("<?xml"), body)
        self.assertRegex(body, r"<ListVersionsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">")
        self.assertIsNotNone(re.search(r"<Owner><ID>[^<]+</ID>", body), body)


if __name__ == "__main__":
    unittest.main(verbosity=2)
