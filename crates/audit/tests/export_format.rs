//! The export file, byte for byte: auditors' tools written against docs/audit.md read exactly
//! this, so the writer may not drift from it.

use fundtrail_audit::CheckpointSigner;
use fundtrail_audit::export::ExportWriter;
use fundtrail_verifier::{Envelope, chain};

const EXPECTED: [&str; 5] = [
    r#"{"record":"header","format":"fundtrail-audit-export","format_version":1,"chain":"sha256-chain-v1 (ARCHITECTURE.md §3)","exported_at":"2025-01-02T00:00:00Z","source":"store sqlite://x"}"#,
    r#"{"record":"event","position":1,"event_id":"00112233-4455-6677-8899-aabbccddeeff","stream":"pledge-abc","version":0,"event_type":"fundtrail.v1.PledgeRecorded","recorded_at":1700000000000000,"payload":"CAH/","metadata":"bWV0YQA=","prev_hash":"0000000000000000000000000000000000000000000000000000000000000000","hash":"1bb1dc3db855182d157740d0467cb7f7eb26037c786f5b788e293e5276c2487e"}"#,
    r#"{"record":"checkpoint","position":1,"hash":"1bb1dc3db855182d157740d0467cb7f7eb26037c786f5b788e293e5276c2487e","signature":"9bf1b3f40497e784d972485409e19ac2fecd484d37000d57be2fd765345621282359c2513cba26a5d7c0bfebc96a42486742f0c5a4d9132cc341f77030413703","signed_at":"2025-01-01T00:00:00.000000Z","public_key":"ed4928c628d1c2c6eae90338905995612959273a5c63f93636c14614ac8737d1"}"#,
    r#"{"record":"public_key","ed25519":"ed4928c628d1c2c6eae90338905995612959273a5c63f93636c14614ac8737d1"}"#,
    r#"{"record":"end","events":1,"last_position":1,"last_hash":"1bb1dc3db855182d157740d0467cb7f7eb26037c786f5b788e293e5276c2487e"}"#,
];

#[test]
fn the_writer_writes_the_documented_records() {
    let mut e = Envelope {
        position: 1,
        event_id: uuid::Uuid::from_u128(0x0011_2233_4455_6677_8899_aabb_ccdd_eeff),
        stream: "pledge-abc".to_owned(),
        version: 0,
        event_type: "fundtrail.v1.PledgeRecorded".to_owned(),
        payload: vec![0x08, 0x01, 0xff],
        metadata: b"meta\x00".to_vec(),
        recorded_at: 1_700_000_000_000_000,
        prev_hash: chain::GENESIS,
        hash: chain::GENESIS,
    };
    e.hash = chain::link(&e.prev_hash, &e).unwrap();
    let signer = CheckpointSigner::from_seed([3; 32]);
    let cp = signer.sign(1, e.hash, "2025-01-01T00:00:00.000000Z".to_owned());
    let mut w =
        ExportWriter::start(Vec::new(), "store sqlite://x", "2025-01-02T00:00:00Z").unwrap();
    w.event(&e).unwrap();
    w.checkpoint(&cp).unwrap();
    w.public_key(&signer.public_key()).unwrap();
    let written = String::from_utf8(w.finish().unwrap()).unwrap();
    let expected = EXPECTED.join("\n") + "\n";
    assert_eq!(written, expected);
    let verified = fundtrail_verifier::verify_export(written.as_bytes(), Some(signer.public_key()));
    assert!(verified.report.is_ok(), "{:?}", verified.report.findings);
}
