//! API 2.0 SIEM batch events (Cloud Gateway), one generator for all ten event types
//! (docs/mimecast-api.md#siem-batch-cloud-gateway samples).
//!
//! WHY: batch files are gzip NDJSON of flat events with `timestamp` (epoch ms), `type`,
//! `subtype`, `aggregateId`, `processingId`, `accountId`; most numbers are strings, as in the
//! samples. `av`, `url protect` and `impersonation protect` field names are UNCONFIRMED.

use serde_json::{json, Map, Value};

use super::{external, message_id, rng::Rng, subject, TenantInfo, EXTERNAL_DOMAINS};

/// Event types, in the order `expected_records("siem_cg")` concatenates them.
pub const TYPES: &[&str] = &[
    "receipt",
    "process",
    "delivery",
    "av",
    "spam",
    "internal email protect",
    "impersonation protect",
    "url protect",
    "attachment protect",
    "journal",
];

fn s<T: ToString>(v: T) -> Value {
    Value::String(v.to_string())
}

pub fn record(seed: u64, t: &TenantInfo, ty: &str, i: u64, t_ms: i64) -> Value {
    let mut r = Rng::for_record(seed, &t.name, &format!("siem_cg:{ty}"), i);
    let secs = t_ms.div_euclid(1000);
    let mut m = Map::new();
    m.insert("accountId".into(), s(&t.account_code));
    m.insert("aggregateId".into(), s(format!("{}_{secs}", r.uid())));
    m.insert(
        "processingId".into(),
        s(format!("{}{}_{secs}", r.uid(), r.uid())),
    );
    m.insert("timestamp".into(), json!(t_ms));
    m.insert("type".into(), s(ty));
    let sender = external(&mut r);
    let rcpt = t.user(&mut r);
    let direction = *r.pick(&["Inbound", "Inbound", "Outbound", "Internal"]);
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_string(), v);
    };
    match ty {
        "receipt" => {
            let rejected = r.chance(15);
            let action = if rejected { "Rej" } else { "Acc" };
            put("action", s(action));
            put("subtype", s(action));
            put("direction", s(direction));
            put("messageId", s(message_id(&mut r)));
            put("numberAttachments", s(r.below(3)));
            put("receiptErrors", Value::Null);
            put("recipients", s(&rcpt));
            put("rejectionCode", if rejected { s("0") } else { Value::Null });
            put(
                "rejectionInfo",
                if rejected {
                    s("Rejected by header based Blocked Senders")
                } else {
                    Value::Null
                },
            );
            put(
                "rejectionType",
                if rejected {
                    s("Header Rejected")
                } else {
                    Value::Null
                },
            );
            put("senderEnvelope", s(&sender));
            put("senderHeader", s(&sender));
            put("senderIp", s(r.ip()));
            put("spamDetectionLevel", s(r.range(1, 9)));
            put("spamInfo", s("[]"));
            put(
                "spamProcessingDetail",
                s(
                    r#"{"spf":{"allow":true,"info":"ALLOW"},"dkim":{"allow":true,"info":"UNKNOWN"},"dmarc":{"allow":true,"info":"ALLOW"}}"#,
                ),
            );
            put("spamScore", s(r.below(40)));
            put("subject", s(subject(&mut r)));
            put("tlsCipher", s("TLS_AES_256_GCM_SHA384"));
            put("tlsVersion", s("TLSv1.3"));
            put("virusFound", Value::Null);
        }
        "process" => {
            let action = *r.pick(&["Acc", "Acc", "Hld", "Sdbx"]);
            let att = r.below(3);
            put("action", s(action));
            put("subtype", s(action));
            put(
                "attachments",
                if att == 0 {
                    Value::Null
                } else {
                    s(format!("file{}.pdf", r.below(100)))
                },
            );
            put("emailSize", s(r.range(2_000, 200_000)));
            put(
                "holdReason",
                if action == "Hld" {
                    s("Spm")
                } else {
                    Value::Null
                },
            );
            put("messageId", s(message_id(&mut r)));
            put("numberAttachments", s(att));
            put("senderEnvelope", s(&sender));
            put("subject", s(subject(&mut r)));
            put("totalSizeAttachments", s(att * r.range(1_000, 50_000)));
        }
        "delivery" => {
            let ok = r.chance(90);
            put("Hostname", s(format!("mx.{}", r.pick(EXTERNAL_DOMAINS))));
            put("delivered", s(ok));
            put("subtype", s(ok));
            put("deliveryAttempts", s(r.range(1, 3)));
            put("deliveryErrors", Value::Null);
            put("deliveryTime", s(r.range(100, 5_000)));
            put("destinationIp", s(r.ip()));
            put("direction", s(direction));
            put("emailSize", s(r.range(2_000, 200_000)));
            put("messageId", s(message_id(&mut r)));
            put("numberAttachments", s("0"));
            put("recipients", s(&rcpt));
            put("rejectionCode", Value::Null);
            put("rejectionInfo", Value::Null);
            put("rejectionType", Value::Null);
            put(
                "route",
                s(*r.pick(&["Accept and drop messages", "Office365", "Default route"])),
            );
            put("senderEnvelope", s(&sender));
            put("subject", s(subject(&mut r)));
            put("tlsCipher", Value::Null);
            put("tlsUsed", s("No"));
            put("tlsVersion", Value::Null);
            put("totalSizeAttachments", s("0"));
        }
        "av" | "attachment protect" => {
            let ext = *r.pick(&["pdf", "docx", "xlsm", "zip", "exe"]);
            put("subtype", Value::Null);
            put("fileExtension", s(ext));
            put(
                "fileName",
                s(format!(
                    "{}.{ext}",
                    r.pick(&["zero-day", "invoice", "scan", "report"])
                )),
            );
            put("md5", s(r.hex(32)));
            put("sha1", s(r.hex(40)));
            put("sha256", s(r.hex(64)));
            if ty == "av" {
                put(
                    "virusFound",
                    s(*r.pick(&["Eicar-Test-Signature", "Trojan.Generic", "W97M.Downloader"])),
                );
                put("messageId", s(message_id(&mut r)));
                put("recipients", s(&rcpt));
                put("senderEnvelope", s(&sender));
                put("subject", s(subject(&mut r)));
            }
        }
        "spam" => {
            put("subtype", Value::Null);
            put("messageId", s(message_id(&mut r)));
            put("recipients", s(&rcpt));
            put("route", s("Inbound"));
            put(
                "senderDomain",
                s(sender.split('@').nth(1).unwrap_or_default()),
            );
            put("senderEnvelope", s(&sender));
            put("senderHeader", s(&sender));
            put("senderIp", s(r.ip()));
            put("subject", s(subject(&mut r)));
        }
        "internal email protect" => {
            put("subtype", Value::Null);
            put("messageId", s(message_id(&mut r)));
            put("monitoredDomainSource", Value::Null);
            put("recipients", s(&rcpt));
            put("route", s("Internal"));
            put("scanResults", s("Blocked URL Category"));
            put("senderEnvelope", s(t.user(&mut r)));
            put("similarDomain", Value::Null);
            put("subject", s(subject(&mut r)));
            put(
                "urlCategory",
                s(*r.pick(&["Compromised", "Phishing & Fraud", "Malware & Spyware"])),
            );
        }
        "impersonation protect" => {
            put("subtype", Value::Null);
            put("action", s(*r.pick(&["none", "hold", "bounce"])));
            put("definition", s("IP - 1 hit (Tag email)"));
            put("hits", s(r.range(1, 3)));
            put("messageId", s(message_id(&mut r)));
            put("recipients", s(&rcpt));
            put("senderEnvelope", s(&sender));
            put("senderIp", s(r.ip()));
            put("similarDomain", s(format!("{}-secure.example", t.name)));
            put("subject", s(subject(&mut r)));
            put("taggedMalicious", s(r.chance(50)));
        }
        "url protect" => {
            let bad = r.chance(40);
            put("subtype", Value::Null);
            put("action", s(if bad { "Block" } else { "Allow" }));
            put("messageId", s(message_id(&mut r)));
            put("recipients", s(&rcpt));
            put("route", s("Inbound"));
            put("scanResult", s(if bad { "malicious" } else { "clean" }));
            put("senderEnvelope", s(&sender));
            put("subject", s(subject(&mut r)));
            put(
                "url",
                s(format!(
                    "https://{}/{}",
                    r.pick(EXTERNAL_DOMAINS),
                    r.hex(10)
                )),
            );
            put(
                "urlCategory",
                s(if bad { "Phishing & Fraud" } else { "Business" }),
            );
        }
        _ => {
            // journal
            put("subtype", Value::Null);
            put("direction", s(direction));
            put("recipients", s(&rcpt));
            put("senderEnvelope", s(&sender));
        }
    }
    Value::Object(m)
}
