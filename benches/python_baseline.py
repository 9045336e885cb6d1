"""The Python baseline: what a Python implementation of a function would pay at cold start.

It imports boto3, builds the Rust floor's five clients (DynamoDB,
Organizations in us-east-1, STS, Support, Step Functions) once, then runs the Lambda
Runtime API loop itself (GET next, POST response `{}`) with the standard library, as a
lower bound of the AWS Python runtime (whose own bootstrap does more before the handler).
"""

import http.client
import json
import os

import boto3

dynamodb = boto3.client("dynamodb")
organizations = boto3.client("organizations", region_name="us-east-1")
sts = boto3.client("sts")
support = boto3.client("support")
stepfunctions = boto3.client("stepfunctions")


def handler(event, context):
    return {}


def main():
    host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port))
    base = "/2018-06-01/runtime/invocation"
    while True:
        conn.request("GET", f"{base}/next")
        resp = conn.getresponse()
        event = json.loads(resp.read())
        request_id = resp.getheader("Lambda-Runtime-Aws-Request-Id")
        body = json.dumps(handler(event, None))
        conn.request("POST", f"{base}/{request_id}/response", body=body,
                     headers={"Content-Type": "application/json"})
        conn.getresponse().read()


if __name__ == "__main__":
    main()
