"""An object store seen through the AWS SDK for Python (boto3), never through wattswarm's
client: what tests/s3.rs checks wattswarm's output against. Endpoint and credentials come
from the standard AWS_* variables. Usage:
    s3.py mb BUCKET                     create a bucket
    s3.py put FILE s3://BUCKET/KEY      upload a file
    s3.py get s3://BUCKET/PREFIX DIR    download every object under PREFIX into DIR
    s3.py ls s3://BUCKET/PREFIX         every key under PREFIX, one a line
    s3.py uploads s3://BUCKET/PREFIX    multipart uploads under PREFIX not completed"""
import os, sys

import boto3

s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=os.environ.get("AWS_REGION", "us-east-1"))


def split(url):
    bucket, _, key = url.removeprefix("s3://").partition("/")
    return bucket, key.strip("/")


def keys(url):
    bucket, prefix = split(url)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/" if prefix else ""):
        for o in page.get("Contents", []):
            yield bucket, o["Key"], o["Key"][len(prefix) + 1 :] if prefix else o["Key"]


cmd, args = sys.argv[1], sys.argv[2:]
if cmd == "mb":
    s3.create_bucket(Bucket=args[0])
elif cmd == "put":
    bucket, key = split(args[1])
    s3.upload_file(args[0], bucket, key)
elif cmd == "get":
    for bucket, key, rel in keys(args[0]):
        path = os.path.join(args[1], rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        s3.download_file(bucket, key, path)
elif cmd == "ls":
    for _, _, rel in keys(args[0]):
        print(rel)
elif cmd == "uploads":
    bucket, prefix = split(args[0])
    for u in s3.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads", []):
        print(u["Key"])
else:
    sys.exit(f"s3.py: unknown command {cmd}")
