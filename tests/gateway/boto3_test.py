"""boto3 against `imgflow serve`: the S3 API, presigned URLs, the three principals, and the
failures a client must see (bad signatures, expired URLs, skewed clocks, bad digests)."""

import base64
import datetime
import hashlib
import http.client
import os
import socket
import sys
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
from unittest import mock

import boto3
import botocore.auth
from botocore.config import Config
from botocore.exceptions import ClientError

sys.path.insert(0, os.path.dirname(__file__))
from gateway_support import ServerProcess, multipart_form  # noqa: E402


class GatewayTestBase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = ServerProcess(os.environ["IMGFLOW_BINARY"]).start()
        os.environ.update(cls.server.client_env())
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            os.environ.pop(name, None)

    @classmethod
    def tearDownClass(cls):
        code = cls.server.stop()
        cls.server.cleanup()
        assert code == 0, f"imgflow serve exited with {code}"

    def client(self, key=None, **config):
        key = key or self.server.admin
        return boto3.client("s3", endpoint_url=self.server.endpoint, region_name="us-east-1",
                            aws_access_key_id=key[0], aws_secret_access_key=key[1],
                            config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                                          retries={"max_attempts": 1},
                                          **config))

    def error_code(self, call, *args, **kwargs):
        with self.assertRaises(ClientError) as ctx:
            call(*args, **kwargs)
        return ctx.exception.response["Error"]["Code"]

    def anonymous(self, method, path, body=None, headers=None):
        """(status, body) of an unsigned request."""
        req = urllib.request.Request(self.server.endpoint + path, data=body, method=method,
                                     headers=headers or {})
        try:
            with urllib.request.urlopen(req) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()


class Boto3Test(GatewayTestBase):
    def test_put_get_list_delete(self):
        s3 = self.client()
        keys = ["b3/a.jpg", "b3/dir/b c.jpg", "b3/dir/plus+sign.jpg", "b3/ünïcødé.jpg", "b3/amp&<x>.jpg"]
        for k in keys:
            s3.put_object(Bucket="uploads", Key=k, Body=k.encode(), ContentType="image/jpeg")
        for k in keys:
            self.assertEqual(s3.get_object(Bucket="uploads", Key=k)["Body"].read(), k.encode())
        listed = s3.list_objects_v2(Bucket="uploads", Prefix="b3/")
        self.assertEqual(sorted(o["Key"] for o in listed["Contents"]), sorted(keys))
        grouped = s3.list_objects_v2(Bucket="uploads", Prefix="b3/", Delimiter="/")
        self.assertEqual([p["Prefix"] for p in grouped["CommonPrefixes"]], ["b3/dir/"])
        paged = s3.list_objects_v2(Bucket="uploads", Prefix="b3/", MaxKeys=2)
        self.assertTrue(paged["IsTruncated"])
        rest = s3.list_objects_v2(Bucket="uploads", Prefix="b3/",
                                  ContinuationToken=paged["NextContinuationToken"])
        self.assertEqual(len(paged["Contents"]) + len(rest["Contents"]), len(keys))
        v1 = s3.list_objects(Bucket="uploads", Prefix="b3/")
        self.assertEqual(len(v1["Contents"]), len(keys))
        deleted = s3.delete_objects(Bucket="uploads",
                                    Delete={"Objects": [{"Key": k} for k in keys[:2]]})
        self.assertEqual(sorted(d["Key"] for d in deleted["Deleted"]), sorted(keys[:2]))
        s3.delete_object(Bucket="uploads", Key=keys[2])
        self.assertEqual(self.error_code(s3.head_object, Bucket="uploads", Key=keys[2]), "404")
        self.assertEqual(self.error_code(s3.get_object, Bucket="uploads", Key=keys[2]), "NoSuchKey")
        self.assertEqual(self.error_code(s3.get_object, Bucket="nope", Key="x"), "NoSuchBucket")

    def test_range_and_conditionals(self):
        s3 = self.client()
        put = s3.put_object(Bucket="uploads", Key="cond/x.jpg", Body=b"0123456789")
        r = s3.get_object(Bucket="uploads", Key="cond/x.jpg", Range="bytes=2-5")
        self.assertEqual(r["Body"].read(), b"2345")
        self.assertEqual(r["ContentRange"], "bytes 2-5/10")
        self.assertEqual(s3.get_object(Bucket="uploads", Key="cond/x.jpg",
                                       Range="bytes=-3")["Body"].read(), b"789")
        self.assertEqual(self.error_code(s3.get_object, Bucket="uploads", Key="cond/x.jpg",
                                         Range="bytes=20-30"), "InvalidRange")
        self.assertEqual(self.error_code(s3.get_object, Bucket="uploads", Key="cond/x.jpg",
                                         IfNoneMatch=put["ETag"]), "304")
        self.assertEqual(self.error_code(s3.get_object, Bucket="uploads", Key="cond/x.jpg",
                                         IfMatch='"00000000000000000000000000000000"'),
                         "PreconditionFailed")
        self.assertEqual(s3.get_object(Bucket="uploads", Key="cond/x.jpg",
                                       IfMatch=put["ETag"])["Body"].read(), b"0123456789")
        future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
        self.assertEqual(self.error_code(s3.get_object, Bucket="uploads", Key="cond/x.jpg",
                                         IfModifiedSince=future), "304")

    def test_copy_and_multipart_record_events(self):
        s3 = self.client()
        s3.put_object(Bucket="processed", Key="src.jpg", Body=b"copy me")
        before = self.server.pending_events()
        s3.copy_object(Bucket="uploads", Key="copied.jpg",
                       CopySource={"Bucket": "processed", "Key": "src.jpg"})
        self.assertEqual(s3.get_object(Bucket="uploads", Key="copied.jpg")["Body"].read(), b"copy me")
        mpu = s3.create_multipart_upload(Bucket="uploads", Key="mp/big.bin")
        part1 = os.urandom(5 * 1024 * 1024)
        part2 = b"tail"
        e1 = s3.upload_part(Bucket="uploads", Key="mp/big.bin", UploadId=mpu["UploadId"],
                            PartNumber=1, Body=part1)["ETag"]
        e2 = s3.upload_part(Bucket="uploads", Key="mp/big.bin", UploadId=mpu["UploadId"],
                            PartNumber=2, Body=part2)["ETag"]
        parts = s3.list_parts(Bucket="uploads", Key="mp/big.bin", UploadId=mpu["UploadId"])
        self.assertEqual([p["PartNumber"] for p in parts["Parts"]], [1, 2])
        done = s3.complete_multipart_upload(
            Bucket="uploads", Key="mp/big.bin", UploadId=mpu["UploadId"],
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
        self.assertTrue(done["ETag"].endswith('-2"'))
        self.assertEqual(s3.get_object(Bucket="uploads", Key="mp/big.bin")["Body"].read(), part1 + part2)
        # Copy and CompleteMultipartUpload into the source bucket each record one event.
        self.assertEqual(self.server.pending_events(), before + 2)
        small = s3.create_multipart_upload(Bucket="uploads", Key="mp/small.bin")
        f1 = s3.upload_part(Bucket="uploads", Key="mp/small.bin", UploadId=small["UploadId"],
                            PartNumber=1, Body=b"a")["ETag"]
        f2 = s3.upload_part(Bucket="uploads", Key="mp/small.bin", UploadId=small["UploadId"],
                            PartNumber=2, Body=b"b")["ETag"]
        self.assertEqual(self.error_code(
            s3.complete_multipart_upload, Bucket="uploads", Key="mp/small.bin",
            UploadId=small["UploadId"],
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": f1}, {"PartNumber": 2, "ETag": f2}]}),
            "EntityTooSmall")
        s3.abort_multipart_upload(Bucket="uploads", Key="mp/small.bin", UploadId=small["UploadId"])
        self.assertEqual(self.error_code(s3.list_parts, Bucket="uploads", Key="mp/small.bin",
                                         UploadId=small["UploadId"]), "NoSuchUpload")

    def test_list_parts_pages_and_list_multipart_uploads(self):
        s3 = self.client()
        key = "mp/paged.bin"
        mpu = s3.create_multipart_upload(Bucket="processed", Key=key)
        for n in range(1, 6):
            s3.upload_part(Bucket="processed", Key=key, UploadId=mpu["UploadId"], PartNumber=n,
                           Body=b"x")
        numbers, marker = [], 0
        while True:
            page = s3.list_parts(Bucket="processed", Key=key, UploadId=mpu["UploadId"], MaxParts=2,
                                 PartNumberMarker=marker)
            self.assertLessEqual(len(page["Parts"]), 2)
            numbers += [p["PartNumber"] for p in page["Parts"]]
            if not page["IsTruncated"]:
                break
            marker = page["NextPartNumberMarker"]
        self.assertEqual(numbers, [1, 2, 3, 4, 5])
        # boto3's paginator follows the same markers.
        paginated = [p["PartNumber"] for page in s3.get_paginator("list_parts").paginate(
            Bucket="processed", Key=key, UploadId=mpu["UploadId"], PaginationConfig={"PageSize": 2})
            for p in page.get("Parts", [])]
        self.assertEqual(paginated, [1, 2, 3, 4, 5])

        other = s3.create_multipart_upload(Bucket="processed", Key="mp/other.bin")
        second = s3.create_multipart_upload(Bucket="processed", Key=key)
        listed = s3.list_multipart_uploads(Bucket="processed", Prefix="mp/")
        self.assertEqual([(u["Key"], u["UploadId"]) for u in listed["Uploads"]],
                         sorted([("mp/other.bin", other["UploadId"]), (key, mpu["UploadId"]),
                                 (key, second["UploadId"])]))
        self.assertFalse(listed["IsTruncated"])
        ids = [u["UploadId"] for page in s3.get_paginator("list_multipart_uploads").paginate(
            Bucket="processed", Prefix="mp/", PaginationConfig={"PageSize": 1})
            for u in page.get("Uploads", [])]
        self.assertEqual(ids, [u["UploadId"] for u in listed["Uploads"]])
        for upload in listed["Uploads"]:
            s3.abort_multipart_upload(Bucket="processed", Key=upload["Key"],
                                      UploadId=upload["UploadId"])
        self.assertEqual(s3.list_multipart_uploads(Bucket="processed", Prefix="mp/").get("Uploads", []),
                         [])

    def test_sigv2_presigned_url_is_refused(self):
        status, body = self.anonymous("GET", "/processed/x.jpg?AWSAccessKeyId=A&Signature=x&Expires=1")
        self.assertEqual(status, 400)
        self.assertIn(b"<Code>InvalidRequest</Code>", body)

    def test_presigned_get_and_put(self):
        s3 = self.client()
        put_url = s3.generate_presigned_url("put_object", Params={"Bucket": "processed", "Key": "pre/x.webp"},
                                            ExpiresIn=300)
        status, body = self.anonymous("PUT", put_url[len(self.server.endpoint):], body=b"presigned body")
        self.assertEqual(status, 200, body)
        get_url = s3.generate_presigned_url("get_object", Params={"Bucket": "processed", "Key": "pre/x.webp"},
                                            ExpiresIn=300)
        with urllib.request.urlopen(get_url) as r:
            self.assertEqual(r.read(), b"presigned body")

    def test_function_role_is_least_privilege(self):
        admin = self.client()
        fn = self.client(self.server.function)
        admin.put_object(Bucket="uploads", Key="fn/in.jpg", Body=b"source")
        self.assertEqual(fn.get_object(Bucket="uploads", Key="fn/in.jpg")["Body"].read(), b"source")
        fn.put_object(Bucket="processed", Key="fn/out.jpg", Body=b"variant")
        self.assertEqual(self.error_code(fn.put_object, Bucket="uploads", Key="fn/x.jpg", Body=b"x"),
                         "AccessDenied")
        self.assertEqual(self.error_code(fn.list_objects_v2, Bucket="uploads"), "AccessDenied")
        self.assertEqual(self.error_code(fn.delete_object, Bucket="uploads", Key="fn/in.jpg"),
                         "AccessDenied")
        self.assertEqual(self.error_code(fn.list_buckets), "AccessDenied")

    def test_get_and_put_with_path_like_keys_stay_in_bucket(self):
        s3 = self.client()
        key = "../../../escape.jpg"
        s3.put_object(Bucket="uploads", Key=key, Body=b"inside")
        self.assertEqual(s3.get_object(Bucket="uploads", Key=key)["Body"].read(), b"inside")
        self.assertIn(key, [o["Key"] for o in s3.list_objects_v2(Bucket="uploads")["Contents"]])
        self.assertNotIn("Contents", s3.list_objects_v2(Bucket="processed", Prefix="../"))
        for root, _, files in os.walk(self.server.tmp):
            self.assertNotIn("escape.jpg", files, root)


class PostUploadTest(GatewayTestBase):
    def post(self, url, fields, data, file_type="image/jpeg", name="photo.jpg"):
        body, content_type = multipart_form(fields, name, data, file_type)
        return self.anonymous("POST", url[len(self.server.endpoint):], body,
                              {"Content-Type": content_type})

    def test_presigned_post_with_policy(self):
        s3 = self.client()
        before = self.server.pending_events()
        post = s3.generate_presigned_post("uploads", "post/${filename}",
                                          Fields={"Content-Type": "image/jpeg"},
                                          Conditions=[{"Content-Type": "image/jpeg"},
                                                      ["starts-with", "$key", "post/"],
                                                      ["content-length-range", 1, 1000]],
                                          ExpiresIn=300)
        data = os.urandom(600)
        status, body = self.post(post["url"], post["fields"], data)
        self.assertEqual(status, 204, body)
        self.assertEqual(s3.get_object(Bucket="uploads", Key="post/photo.jpg")["Body"].read(), data)
        self.assertEqual(self.server.pending_events(), before + 1)
        status, body = self.post(post["url"], post["fields"], os.urandom(2000))
        self.assertEqual(status, 400, body)
        self.assertIn(b"EntityTooLarge", body)
        tampered = dict(post["fields"], key="elsewhere/x.jpg")
        status, body = self.post(post["url"], tampered, data)
        self.assertEqual(status, 403, body)
        self.assertEqual(self.server.pending_events(), before + 1)

    def post_without_following(self, url, fields, data):
        """(status, headers, body) of a form POST; a redirect is returned, not followed."""
        body, content_type = multipart_form(fields, "photo.jpg", data, "image/jpeg")
        parsed = urllib.parse.urlsplit(url)
        conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
        try:
            conn.request("POST", parsed.path, body=body, headers={"Content-Type": content_type})
            r = conn.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            conn.close()

    def test_presigned_post_with_success_action_redirect(self):
        s3 = self.client()
        redirect = "https://app.example/uploaded?from=form"
        post = s3.generate_presigned_post("uploads", "post/redirect ${filename}",
                                          Fields={"success_action_redirect": redirect},
                                          Conditions=[{"success_action_redirect": redirect},
                                                      ["starts-with", "$key", "post/"]],
                                          ExpiresIn=300)
        data = os.urandom(300)
        status, headers, body = self.post_without_following(post["url"], post["fields"], data)
        self.assertEqual(status, 303, body)
        etag = '"' + hashlib.md5(data).hexdigest() + '"'
        self.assertEqual(headers["Location"],
                         redirect + "&bucket=uploads&key=post%2Fredirect%20photo.jpg&etag="
                         + urllib.parse.quote(etag, safe=""))
        self.assertEqual(s3.get_object(Bucket="uploads", Key="post/redirect photo.jpg")["Body"].read(),
                         data)
        # A redirect the policy does not cover is refused, as S3 refuses any uncovered field.
        uncovered = s3.generate_presigned_post("uploads", "post/x.jpg", ExpiresIn=300)
        fields = dict(uncovered["fields"], success_action_redirect="https://evil.example/")
        status, _, body = self.post_without_following(uncovered["url"], fields, data)
        self.assertEqual(status, 403, body)

    def test_anonymous_form_post_of_an_image(self):
        status, body = self.post(self.server.endpoint + "/uploads",
                                 {"key": "anonpost/${filename}", "success_action_status": "201"},
                                 b"\xff\xd8\xffdata", name="cat.jpg")
        self.assertEqual(status, 201, body)
        self.assertIn(b"<Key>anonpost/cat.jpg</Key>", body)
        status, _ = self.post(self.server.endpoint + "/uploads", {"key": "anonpost/x.txt"}, b"text",
                              file_type="text/plain")
        self.assertEqual(status, 403)
        status, _ = self.post(self.server.endpoint + "/processed", {"key": "x.jpg"}, b"jpeg")
        self.assertEqual(status, 403)


class AnonymousTest(GatewayTestBase):
    def test_anonymous_may_only_upload_images_to_source(self):
        before = self.server.pending_events()
        status, _ = self.anonymous("PUT", "/uploads/anon/cat.jpg", b"\xff\xd8\xff jpeg",
                                   {"Content-Type": "image/jpeg"})
        self.assertEqual(status, 200)
        self.assertEqual(self.server.pending_events(), before + 1)
        status, body = self.anonymous("PUT", "/uploads/anon/evil.html", b"<html>",
                                      {"Content-Type": "text/html"})
        self.assertEqual(status, 403)
        self.assertIn(b"<Code>AccessDenied</Code>", body)
        for method, path in [("GET", "/uploads/anon/cat.jpg"), ("GET", "/uploads"),
                             ("GET", "/uploads?list-type=2"), ("DELETE", "/uploads/anon/cat.jpg"),
                             ("HEAD", "/uploads/anon/cat.jpg"), ("GET", "/")]:
            self.assertEqual(self.anonymous(method, path)[0], 403, f"{method} {path}")
        for method, path, body in [("PUT", "/processed/x.jpg", b"x"), ("GET", "/processed/x.jpg", None),
                                   ("GET", "/processed?list-type=2", None),
                                   ("DELETE", "/processed/x.jpg", None)]:
            headers = {"Content-Type": "image/jpeg"} if body else {}
            self.assertEqual(self.anonymous(method, path, body, headers)[0], 403, f"{method} {path}")
        self.assertEqual(self.server.pending_events(), before + 1)

    def test_truncated_upload_stores_nothing_and_records_no_event(self):
        before = self.server.pending_events()
        port = int(self.server.endpoint.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"PUT /uploads/trunc/half.jpg HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\n" + b"x" * 5000)
            sock.shutdown(socket.SHUT_WR)
            sock.settimeout(10)
            try:
                sock.recv(4096)
            except OSError:
                pass
        s3 = self.client()
        self.assertEqual(self.error_code(s3.head_object, Bucket="uploads", Key="trunc/half.jpg"), "404")
        self.assertEqual(self.server.pending_events(), before)

    def test_operational_endpoints(self):
        self.assertEqual(self.anonymous("GET", "/_imgflow/health")[0], 200)
        self.assertEqual(self.anonymous("GET", "/_imgflow/ready")[0], 200)
        status, body = self.anonymous("GET", "/_imgflow/metrics")
        self.assertEqual(status, 200)
        self.assertIn(b'imgflow_http_requests_total{status="200"}', body)


class NegativeTest(GatewayTestBase):
    def test_wrong_secret_is_signature_does_not_match(self):
        bad = self.client((self.server.admin[0], "x" * 40))
        self.assertEqual(self.error_code(bad.list_objects_v2, Bucket="uploads"), "SignatureDoesNotMatch")
        # A large PUT (botocore sends Expect: 100-continue) is refused before its body is sent.
        self.assertEqual(self.error_code(bad.put_object, Bucket="uploads", Key="big.jpg",
                                         Body=os.urandom(3 * 1024 * 1024)), "SignatureDoesNotMatch")
        unknown = self.client(("IFUNKNOWNKEY00000000", "x" * 40))
        self.assertEqual(self.error_code(unknown.list_objects_v2, Bucket="uploads"), "InvalidAccessKeyId")

    def test_expired_presigned_url(self):
        s3 = self.client()
        s3.put_object(Bucket="processed", Key="exp.jpg", Body=b"x")
        real = datetime.datetime

        class TenSecondsAgo(real):
            @classmethod
            def utcnow(cls):
                return real.utcnow() - datetime.timedelta(seconds=10)

        # Signed ten seconds ago for one second: expired now, without waiting for it.
        with mock.patch.object(botocore.auth.datetime, "datetime", TenSecondsAgo):
            url = s3.generate_presigned_url("get_object",
                                            Params={"Bucket": "processed", "Key": "exp.jpg"},
                                            ExpiresIn=1)
        with self.assertRaises(urllib.error.HTTPError) as ctx:
            urllib.request.urlopen(url)
        self.assertEqual(ctx.exception.code, 403)
        self.assertIn(b"<Code>AccessDenied</Code>", ctx.exception.read())

    def test_request_signed_twenty_minutes_ago_is_too_skewed(self):
        real = datetime.datetime

        class Past(real):
            @classmethod
            def utcnow(cls):
                return real.utcnow() - datetime.timedelta(minutes=20)

        s3 = self.client()
        with mock.patch.object(botocore.auth.datetime, "datetime", Past):
            code = self.error_code(s3.list_objects_v2, Bucket="uploads")
        self.assertEqual(code, "RequestTimeTooSkewed")

    def test_bad_content_md5_is_bad_digest(self):
        s3 = self.client()
        wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
        self.assertEqual(self.error_code(s3.put_object, Bucket="uploads", Key="md5.jpg", Body=b"body",
                                         ContentMD5=wrong), "BadDigest")
        self.assertEqual(self.error_code(s3.head_object, Bucket="uploads", Key="md5.jpg"), "404")
        self.assertEqual(self.error_code(s3.put_object, Bucket="uploads", Key="md5.jpg", Body=b"body",
                                         ContentMD5="notbase64"), "InvalidDigest")

    def test_unsupported_operation_is_not_implemented(self):
        s3 = self.client()
        self.assertEqual(self.error_code(s3.get_bucket_tagging, Bucket="uploads"), "NotImplemented")


if __name__ == "__main__":
    unittest.main(verbosity=2)
