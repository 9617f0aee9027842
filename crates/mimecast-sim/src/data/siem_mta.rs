//! API 1.0 SIEM (MTA) log lines for `/api/audit/get-siem-logs`
//! (docs/mimecast-api.md#siem-mta-log-files-api-10 samples).
//!
//! WHY: each downloaded file holds one log type (the type is in the file name), so a record's
//! type is a function of the file it falls in: file `f` holds records `[f*k, (f+1)*k)` and has
//! type `TYPES[f % 5]`.

use serde_json::{json, Value};
use time::OffsetDateTime;

use super::{external, message_id, rng::Rng, subject, TenantInfo};
use crate::dates::format_mc_date;

/// File-name prefixes seen in real data (docs/mimecast-api.md#siem-mta-log-files-api-10):
/// `receipt_`, `process_`, `delivery_`, `jrnl_`, `ttp_url_`.
pub const TYPES: &[&str] = &["receipt", "process", "delivery", "jrnl", "ttp_url"];

/// Type of record `i` when files hold `per_file` records.
pub fn type_of(i: u64, per_file: u64) -> &'static str {
    TYPES[((i / per_file.max(1)) % TYPES.len() as u64) as usize]
}

pub fn record(seed: u64, t: &TenantInfo, i: u64, time: OffsetDateTime, ty: &str) -> Value {
    let mut r = Rng::for_record(seed, &t.name, "siem_mta", i);
    let acode = r.uid();
    let datetime = format_mc_date(time);
    let acc = t.account_code.clone();
    let sender = external(&mut r);
    let rcpt = t.user(&mut r);
    match ty {
        "receipt" => json!({
            "acc": acc, "Sender": sender, "datetime": datetime, "Rcpt": rcpt,
            "Act": *r.pick(&["Acc", "Acc", "Acc", "Rej"]), "IP": r.ip(), "aCode": acode,
            "Dir": *r.pick(&["Inbound", "Internal", "Outbound"]), "Subject": subject(&mut r),
            "MsgId": message_id(&mut r), "headerFrom": sender,
        }),
        "process" => {
            let att = r.below(3);
            let act = *r.pick(&["Acc", "Acc", "Hld", "Sdbx"]);
            json!({
                "Act": act, "AttCnt": att, "AttNames": if att == 0 { Value::Null } else { json!(format!("\"file{}.pdf\"", r.below(100))) },
                "AttSize": att * r.range(1000, 90_000),
                "Hld": if act == "Hld" { json!("Spm") } else { Value::Null },
                "MsgId": message_id(&mut r), "MsgSize": r.range(2_000, 400_000), "Sender": sender,
                "Subject": subject(&mut r), "aCode": acode, "acc": acc, "datetime": datetime,
            })
        }
        "delivery" => {
            let delivered = r.chance(85);
            json!({
                "acc": acc, "Delivered": delivered, "IP": r.ip(),
                "RejType": if delivered { Value::Null } else { json!("Recipient email address is possibly incorrect") },
                "RejCode": if delivered { Value::Null } else { json!("550") },
                "AttCnt": 0, "Dir": "Inbound", "ReceiptAck": if delivered { json!("250 2.6.0 Queued mail for delivery") } else { Value::Null },
                "MsgId": message_id(&mut r), "Subject": subject(&mut r), "Latency": r.range(50, 5000),
                "Sender": sender, "datetime": datetime, "Rcpt": rcpt, "AttSize": 0, "Attempt": 1,
                "RejInfo": if delivered { Value::Null } else { json!("5.4.1 Recipient address rejected: Access denied") },
                "TlsVer": "TLSv1.2", "Cphr": "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "Snt": r.range(100, 90_000),
                "aCode": acode, "UseTls": "Yes", "Route": "Office365",
            })
        }
        "jrnl" => json!({
            "acc": acc, "Sender": sender, "datetime": datetime, "Rcpt": rcpt, "RcptActType": "Jnl",
            "aCode": acode, "Dir": "Internal", "RcptHdrType": "Unknown",
        }),
        _ => {
            let bad = r.chance(40);
            json!({
                "acc": acc, "reason": if bad { "malicious" } else { "clean" }, "subject": subject(&mut r),
                "msgid": message_id(&mut r), "url": format!("http://{}/{}", r.pick(super::EXTERNAL_DOMAINS), r.hex(8)),
                "datetime": datetime, "route": "inbound", "sourceIp": r.ip(), "sender": sender, "recipient": rcpt,
                "action": if bad { "Block" } else { "Allow" },
                "urlCategory": if bad { "Phishing & Fraud" } else { "Business" },
                "credentialTheft": Value::Null, "senderDomain": sender.split('@').nth(1).unwrap_or_default(),
            })
        }
    }
}
