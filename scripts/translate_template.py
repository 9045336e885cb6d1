"""Translates infra/template.yaml into the CloudFormation template AWS itself validates.

`sam deploy` sends the SAM template to CloudFormation, whose AWS::Serverless transform is the
aws-sam-translator library; cfn-lint (1.5x) no longer runs that transform and checks SAM
resources against SAM's schema instead, so a statement inside a function's `Policies` is
never seen as the IAM policy CloudFormation creates. This script does what `sam package` and
the transform do, offline:

- the state machine's `DefinitionUri` becomes its `Definition` (the JSON file, inlined);
- the HTTP API's `AWS::Include` of openapi.yaml becomes the OpenAPI body itself;
- every `CodeUri` becomes an S3 location (what `sam package` uploads);
- aws-sam-translator (the pinned version in .venv-sam) turns the SAM resources into
  CloudFormation, with the resources' Metadata (checkov's justified skips) passed through.

Usage: python scripts/translate_template.py infra/template.yaml OUT.json  (in .venv-sam)
       python scripts/translate_template.py --decode-only infra/customer-role.yaml OUT.json
"""

import json
import os
import sys

from cfnlint.decode import decode
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

# The managed policies SAM attaches by name (the basic execution role, X-Ray for `Tracing:
# Active`); the translator would otherwise ask IAM for the whole list.
MANAGED = {
    "AWSLambdaBasicExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "AWSXrayWriteOnlyAccess": "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
    "AWSXRayDaemonWriteAccess": "arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess",
    "AWSLambdaRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaRole",
}


def load(path):
    template, errors = decode(path)
    if errors:
        sys.exit(f"{path}: {errors}")
    return json.loads(json.dumps(template, default=str))


def inline(template, base):
    for rid, res in template["Resources"].items():
        props = res.get("Properties", {})
        kind = res.get("Type")
        if kind == "AWS::Serverless::StateMachine" and "DefinitionUri" in props:
            with open(os.path.join(base, props.pop("DefinitionUri"))) as f:
                props["Definition"] = json.load(f)
        if kind in ("AWS::Serverless::HttpApi", "AWS::Serverless::Api"):
            body = props.get("DefinitionBody", {})
            include = body.get("Fn::Transform") if isinstance(body, dict) else None
            if include and include.get("Name") == "AWS::Include":
                props["DefinitionBody"] = load(os.path.join(base, include["Parameters"]["Location"]))
        if kind == "AWS::Serverless::Function" and isinstance(props.get("CodeUri"), str):
            props["CodeUri"] = f"s3://cam-migration-artifacts/{rid}.zip"
    return template


def role_skips(template, translated):
    """checkov skips a SAM function states for the role SAM generates for it
    (`Metadata: checkov_role: skip: [...]`, each with its comment), moved onto that role."""
    for rid, res in template["Resources"].items():
        skips = res.get("Metadata", {}).get("checkov_role", {}).get("skip")
        if res.get("Type") != "AWS::Serverless::Function" or not skips:
            continue
        role = translated["Resources"].get(f"{rid}Role")
        if role is None or role["Type"] != "AWS::IAM::Role":
            sys.exit(f"{rid}: checkov_role skips, but SAM generated no {rid}Role")
        role.setdefault("Metadata", {}).setdefault("checkov", {}).setdefault("skip", []).extend(skips)
        translated["Resources"][rid].get("Metadata", {}).pop("checkov_role", None)


def main():
    if sys.argv[1] == "--decode-only":
        # A plain CloudFormation template (the customer's role): only the long form as JSON.
        source, out = sys.argv[2], sys.argv[3]
        os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
        with open(out, "w") as f:
            json.dump(load(source), f, indent=1, sort_keys=True)
        print(f"    {source} -> {out}")
        return
    source, out = sys.argv[1], sys.argv[2]
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    template = inline(load(source), os.path.dirname(source))
    translated = Translator(managed_policy_map=MANAGED, sam_parser=Parser()).translate(
        template, parameter_values={}, passthrough_metadata=True
    )
    role_skips(template, translated)
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    with open(out, "w") as f:
        json.dump(translated, f, indent=1, sort_keys=True)
    kinds = {}
    for res in translated["Resources"].values():
        kinds[res["Type"]] = kinds.get(res["Type"], 0) + 1
    print(f"    {source} -> {out}: {sum(kinds.values())} CloudFormation resources, no SAM type left"
          if not any(k.startswith("AWS::Serverless::") for k in kinds) else f"SAM types left: {kinds}")


if __name__ == "__main__":
    main()
