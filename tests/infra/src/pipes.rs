//! What the EventBridge Pipes of the template do to a DynamoDB stream record: the record
//! as DynamoDB JSON, the filter pattern's matching and the input template's rendering.

use aws_sdk_dynamodb::types::AttributeValue;
use regex::Regex;
use serde_json::{Map, Value, json};

/// A stream record's attribute value as DynamoDB JSON.
pub fn dynamodb_json(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        AttributeValue::Null(_) => json!({ "NULL": true }),
        AttributeValue::M(m) => json!({ "M": m.iter().map(|(k, v)| (k.clone(), dynamodb_json(v))).collect::<Map<_, _>>() }),
        AttributeValue::L(l) => json!({ "L": l.iter().map(dynamodb_json).collect::<Vec<_>>() }),
        AttributeValue::Ss(ss) => json!({ "SS": ss }),
        AttributeValue::Ns(ns) => json!({ "NS": ns }),
        other => panic!("no DynamoDB JSON for {other:?} in a history item"),
    }
}

pub fn stream_record(item: &migration_aws::store::Item) -> Value {
    let image: Map<String, Value> = item.iter().map(|(k, v)| (k.clone(), dynamodb_json(v))).collect();
    json!({ "eventName": "INSERT", "eventSource": "aws:dynamodb", "dynamodb": { "NewImage": image, "StreamViewType": "NEW_IMAGE" } })
}

/// EventBridge pattern matching, for the parts the pipes use: nested objects, lists of
/// literal values, `{"exists": bool}`.
pub fn matches(pattern: &Value, event: Option<&Value>) -> bool {
    match pattern {
        Value::Object(fields) => {
            let Some(Value::Object(event)) = event else { return false };
            fields.iter().all(|(k, p)| match p {
                // `"key": [{"exists": false}]` matches when the key is absent.
                Value::Array(options) if options.iter().any(|o| o.get("exists").is_some()) => {
                    options.iter().any(|o| matches_value(o, event.get(k)))
                }
                _ => matches(p, event.get(k)),
            })
        }
        Value::Array(options) => options.iter().any(|o| matches_value(o, event)),
        other => panic!("unsupported pattern {other}"),
    }
}

pub fn matches_value(option: &Value, value: Option<&Value>) -> bool {
    match option.get("exists").and_then(Value::as_bool) {
        Some(exists) => value.is_some() == exists,
        None => value == Some(option),
    }
}

/// Renders an input template the way Pipes does: `<$.path>` inside quotes is the value's
/// text, escaped for a JSON string; outside quotes it is inserted as it is.
pub fn render(template: &str, record: &Value) -> String {
    let placeholder = Regex::new(r"<\$\.([A-Za-z0-9_.\-]+)>").unwrap();
    let mut out = String::new();
    let mut last = 0;
    for m in placeholder.captures_iter(template) {
        let whole = m.get(0).unwrap();
        out.push_str(&template[last..whole.start()]);
        let value = m[1].split('.').try_fold(record, |v, key| v.get(key));
        let value = value.unwrap_or_else(|| panic!("{} is not in the record", &m[1]));
        let quoted = template[..whole.start()].ends_with('"');
        match (value, quoted) {
            (Value::String(s), true) => out.push_str(serde_json::to_string(s).unwrap().trim_matches('"')),
            (Value::String(s), false) => out.push_str(s),
            (other, _) => out.push_str(&other.to_string()),
        }
        last = whole.end();
    }
    out.push_str(&template[last..]);
    out
}
