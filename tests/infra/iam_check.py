"""Evaluates the AWS calls the functions made (tests/infra/tests/iam.rs records them) against
the IAM policies CloudFormation will create for them (the SAM template, translated by
scripts/translate_template.py), with moto's IAM policy evaluator.

Fails when
  - a recorded call is not allowed by its principal's policy (a function's inline
    policies; the customer role's Optimized policy for calls made through it), or
  - a function's policy (or the customer role's Optimized policy) allows a (statement,
    action) that no recorded call of that principal used: a grant no path exercises.
Usage: python iam_check.py TRANSLATED.json CALLS.json PARAMETERS.json CUSTOMER-ROLE.json  (in .venv-moto)

What this does not check: policy conditions (moto's evaluator checks only the condition
keys it is given values for, and the recorder records none, so every condition passes: the
TagResource statement's aws:TagKeys limit is not proven here), and the managed policies and
the dead-letter-queue statement SAM adds for the Lambda service itself (logs, X-Ray,
sqs:SendMessage to the stack's queue), which the code never calls.
"""

import json
import re
import sys

from moto.iam.access_control import IAMPolicy, PermissionResult

NO_VALUE = object()


class Resolver:
    """Just enough of CloudFormation's intrinsic functions for IAM policies."""

    def __init__(self, template, params):
        self.template = template
        self.params = params
        self.conditions = {}

    def physical(self, logical):
        res = self.template["Resources"][logical]
        kind = res["Type"]
        if logical in self.params:
            return self.params[logical]
        if kind == "AWS::IAM::Role":
            return res["Properties"].get("RoleName", logical)
        return logical

    def get_att(self, logical, attribute):
        kind = self.template["Resources"][logical]["Type"]
        region, account, partition = self.params["AWS::Region"], self.params["AWS::AccountId"], self.params["AWS::Partition"]
        name = self.physical(logical)
        if attribute == "Arn":
            if kind == "AWS::DynamoDB::Table":
                return f"arn:{partition}:dynamodb:{region}:{account}:table/{name}"
            if kind == "AWS::SQS::Queue":
                return f"arn:{partition}:sqs:{region}:{account}:{name}"
            if kind == "AWS::S3::Bucket":
                return f"arn:{partition}:s3:::{name}"
            if kind == "AWS::KMS::Key":
                return f"arn:{partition}:kms:{region}:{account}:key/{name}"
            if kind == "AWS::Events::EventBus":
                return f"arn:{partition}:events:{region}:{account}:event-bus/{name}"
            return f"arn:{partition}:test:{region}:{account}:{kind}/{name}"
        if attribute == "StreamArn":
            return self.get_att(logical, "Arn") + "/stream/test"
        return f"{logical}.{attribute}"

    def condition(self, name):
        if name not in self.conditions:
            self.conditions[name] = bool(self.resolve(self.template["Conditions"][name]))
        return self.conditions[name]

    def ref(self, name):
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.params:
            return self.params[name]
        if name in self.template.get("Parameters", {}):
            default = self.template["Parameters"][name].get("Default")
            if default is None:
                sys.exit(f"parameter {name} has no test value and no default")
            return default
        return self.physical(name)

    def sub(self, text, variables):
        def one(m):
            key = m.group(1)
            if key.startswith("!"):
                return "${" + key[1:] + "}"
            if key in variables:
                return str(variables[key])
            if "." in key:
                logical, attribute = key.split(".", 1)
                return self.get_att(logical, attribute)
            return str(self.ref(key))
        return re.sub(r"\$\{([^}]+)\}", one, text)

    def resolve(self, v):
        if isinstance(v, list):
            return [x for x in (self.resolve(i) for i in v) if x is not NO_VALUE]
        if not isinstance(v, dict):
            return v
        if len(v) == 1:
            (key, arg), = v.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                logical, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.get_att(logical, attribute)
            if key == "Fn::Sub":
                if isinstance(arg, str):
                    return self.sub(arg, {})
                text, variables = arg
                return self.sub(text, {k: self.resolve(x) for k, x in variables.items()})
            if key == "Fn::Join":
                delimiter, items = arg
                if not isinstance(delimiter, str):
                    sys.exit(f"Fn::Join with a delimiter that is not a literal: {delimiter}")
                return delimiter.join(str(i) for i in self.resolve(items))
            if key == "Fn::Split":
                delimiter, text = arg
                return self.resolve(text).split(delimiter)
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::If":
                name, yes, no = arg
                return self.resolve(yes if self.condition(name) else no)
            if key == "Fn::Equals":
                a, b = self.resolve(arg)
                return a == b
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(x) for x in arg)
            if key == "Fn::Or":
                return any(self.resolve(x) for x in arg)
            if key == "Condition":
                return self.condition(arg)
        return {k: x for k, x in ((k, self.resolve(x)) for k, x in v.items()) if x is not NO_VALUE}


def as_list(v):
    return v if isinstance(v, list) else [v]


def function_policies(template, resolver):
    """function name -> [policy documents] of its execution role's inline policies."""
    out = {}
    for rid, res in template["Resources"].items():
        if res["Type"] != "AWS::Lambda::Function":
            continue
        name = resolver.resolve(res["Properties"]["FunctionName"])
        function = name.removeprefix(resolver.params["AWS::StackName"] + "-")
        role_id = res["Properties"]["Role"]["Fn::GetAtt"][0]
        role = template["Resources"][role_id]["Properties"]
        docs = [resolver.resolve(p["PolicyDocument"]) for p in role.get("Policies", [])]
        # SAM's own statements for the Lambda service (the dead-letter queue's SendMessage)
        # are not the code's calls.
        queue = resolver.get_att("DeadLetterQueue", "Arn")
        docs = [
            d
            for d in docs
            if not all(
                s.get("Action") in ("sqs:SendMessage", ["sqs:SendMessage"]) and as_list(s.get("Resource")) == [queue]
                for s in as_list(d["Statement"])
            )
        ]
        out[function] = docs
    return out


def customer_role_policies(path, params):
    """The customer role's inline policies with AccessLevel Optimized: what the system calls
    through the role must be allowed by the narrower of the two levels."""
    template = json.load(open(path))
    resolver = Resolver(template, dict(params, AccessLevel="Optimized", ExternalId="test-external-id"))
    role = next(r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Role")
    return [p["PolicyDocument"] for p in resolver.resolve(role["Properties"]["Policies"])]


def main():
    template_path, calls_path, params_path, customer_path = sys.argv[1:5]
    template = json.load(open(template_path))
    calls = json.load(open(calls_path))
    params = json.load(open(params_path))
    resolver = Resolver(template, params)
    policies = function_policies(template, resolver)
    customer = customer_role_policies(customer_path, params)

    policies["customer-role"] = customer
    failures = []
    used = set()  # (principal, document, statement, action pattern)
    for call in calls:
        principal, action, resource = call["principal"], call["action"], call["resource"]
        docs = policies.get(principal)
        if docs is None:
            failures.append(f"{principal}: calls were recorded for a function the template does not have")
            continue
        results = [IAMPolicy(json.dumps(d)).is_action_permitted(action, resource) for d in docs]
        if PermissionResult.DENIED in results or PermissionResult.PERMITTED not in results:
            failures.append(f"DENIED  {principal}: {action} on {resource} ({call['operation']})")
            continue
        for di, doc in enumerate(docs):
            for si, statement in enumerate(as_list(doc["Statement"])):
                for pattern in as_list(statement.get("Action", [])):
                    one = {"Version": "2012-10-17", "Statement": [dict(statement, Action=pattern)]}
                    if IAMPolicy(json.dumps(one)).is_action_permitted(action, resource) == PermissionResult.PERMITTED:
                        used.add((principal, di, si, pattern))

    granted = 0
    for principal, docs in sorted(policies.items()):
        for di, doc in enumerate(docs):
            for si, statement in enumerate(as_list(doc["Statement"])):
                if statement["Effect"] != "Allow":
                    continue
                for pattern in as_list(statement["Action"]):
                    granted += 1
                    if (principal, di, si, pattern) not in used:
                        sid = statement.get("Sid", f"statement {si}")
                        failures.append(f"UNUSED  {principal}: {sid} grants {pattern} on {statement['Resource']}, which no path of {principal} calls")

    by_principal = {}
    for c in calls:
        by_principal.setdefault(c["principal"], set()).add(c["action"])
    print(f"IAM check: {len(calls)} recorded requests of {len(by_principal)} principals against {granted} granted (statement, action) pairs")
    for p, actions in sorted(by_principal.items()):
        print(f"  {p}: {', '.join(sorted(actions))}")
    if failures:
        print("\n".join(failures))
        sys.exit(1)
    print("every request allowed, every grant used")


if __name__ == "__main__":
    main()
