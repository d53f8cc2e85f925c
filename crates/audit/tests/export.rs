//! Export files: an export verifies, and every kind of tampering with the file is named at
//! its position.

use fundtrail_audit::{CheckpointSigner, Source, audit, signer, storage};
use fundtrail_store::{AppendRequest, ExpectedVersion, NewEvent, StoreOptions};
use fundtrail_verifier::export::Record;
use fundtrail_verifier::{Envelope, Problem, Trust, chain};

async fn exported() -> (Vec<String>, CheckpointSigner) {
    let opened = storage::open("sqlite::memory:", StoreOptions::default())
        .await
        .unwrap();
    let signer = CheckpointSigner::from_seed([3; 32]);
    for i in 0..12u8 {
        let event = NewEvent::new(
            uuid::Uuid::now_v7(),
            "fundtrail.v1.Example",
            vec![i; 5],
            b"meta".to_vec(),
        );
        let stream = format!("pledge-{}", i % 3);
        opened
            .events
            .append(AppendRequest::new(
                stream,
                ExpectedVersion::Any,
                vec![event],
            ))
            .await
            .unwrap();
        if i == 7 || i == 11 {
            signer::sign_head(opened.events.as_ref(), &opened.checkpoints, &signer)
                .await
                .unwrap();
        }
    }
    let (summary, bytes) = audit::export(&Source::Store(opened), Vec::new(), "test", "now")
        .await
        .unwrap();
    assert_eq!((summary.events, summary.checkpoints), (12, 2));
    let text = String::from_utf8(bytes).unwrap();
    (text.lines().map(str::to_owned).collect(), signer)
}

fn verify(lines: &[String], key: [u8; 32]) -> fundtrail_verifier::Report {
    let text = lines.join("\n") + "\n";
    let v = fundtrail_verifier::verify_export(text.as_bytes(), Some(key));
    assert_eq!(v.trust, Trust::Given);
    v.report
}

fn event(line: &str) -> Envelope {
    match serde_json::from_str(line).unwrap() {
        Record::Event(e) => Envelope::try_from(&e).unwrap(),
        other => panic!("not an event: {other:?}"),
    }
}

fn line(e: &Envelope) -> String {
    serde_json::to_string(&Record::Event(e.into())).unwrap()
}

#[tokio::test]
async fn an_export_verifies_and_every_tampering_is_named() {
    let (lines, signer) = exported().await;
    let key = signer.public_key();
    let ok = verify(&lines, key);
    assert!(ok.is_ok(), "{:?}", ok.findings);
    assert_eq!((ok.last_position, ok.checkpoints_verified), (12, 2));
    // Line 0 is the header: position p is line p.
    let first = |lines: &[String]| verify(lines, key).findings[0].clone();

    let mut edited = lines.clone();
    let mut e = event(&edited[5]);
    e.payload[0] ^= 0xff;
    edited[5] = line(&e);
    let f = first(&edited);
    assert_eq!(
        (f.position, f.stream.as_deref()),
        (5, Some(e.stream.as_str()))
    );
    assert!(matches!(f.problem, Problem::HashMismatch { .. }));

    let mut deleted = lines.clone();
    deleted.remove(5);
    assert_eq!(first(&deleted).problem, Problem::OutOfOrder { found: 6 });

    let mut swapped = lines.clone();
    swapped.swap(5, 6);
    let f = first(&swapped);
    assert_eq!(
        (f.position, f.problem),
        (5, Problem::OutOfOrder { found: 6 })
    );

    let mut rehashed = lines.clone();
    let mut e = event(&rehashed[5]);
    e.payload[0] ^= 0xff;
    e.hash = chain::link(&e.prev_hash, &e).unwrap();
    rehashed[5] = line(&e);
    let f = first(&rehashed);
    assert_eq!(f.position, 6);
    assert!(matches!(f.problem, Problem::PrevHashMismatch { .. }));

    let checkpoint_line = lines
        .iter()
        .position(|l| l.contains("\"record\":\"checkpoint\""))
        .unwrap();
    let mut forged = lines.clone();
    forged[checkpoint_line] = {
        let mut v: serde_json::Value = serde_json::from_str(&lines[checkpoint_line]).unwrap();
        v["hash"] = serde_json::Value::from("11".repeat(32));
        v.to_string()
    };
    assert_eq!(first(&forged).problem, Problem::BadSignature);

    let mut replayed = lines.clone();
    let foreign = signer.sign(4, [9; 32], "then".to_owned());
    replayed.insert(
        checkpoint_line,
        serde_json::to_string(&Record::Checkpoint((&foreign).into())).unwrap(),
    );
    let f = first(&replayed);
    assert_eq!(f.position, 4);
    assert!(matches!(f.problem, Problem::CheckpointMismatch { .. }));

    let intruder = CheckpointSigner::from_seed([4; 32]);
    let mut untrusted = lines.clone();
    let theirs = intruder.sign(12, event(&lines[12]).hash, "now".to_owned());
    untrusted[checkpoint_line] =
        serde_json::to_string(&Record::Checkpoint((&theirs).into())).unwrap();
    assert!(matches!(
        first(&untrusted).problem,
        Problem::UntrustedKey { .. }
    ));

    // The last events cut off with their end record rewritten: the checkpoint at 12 notices.
    let mut cut: Vec<String> = lines.clone();
    cut.drain(11..=12);
    let end = cut.len() - 1;
    let last = event(&cut[10]);
    cut[end] = serde_json::to_string(&Record::End {
        events: 10,
        last_position: 10,
        last_hash: hex::encode(last.hash),
    })
    .unwrap();
    let f = first(&cut);
    assert_eq!(
        (f.position, f.problem),
        (12, Problem::Truncated { last: 10 })
    );

    let mut short = lines.clone();
    short.pop();
    assert!(matches!(first(&short).problem, Problem::Malformed(_)));
}
