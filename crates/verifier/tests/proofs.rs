//! Proofs a donor checks alone: each kind of tampering refused with a message naming what
//! failed, the signed-note format against its specification's example, and, for random trees,
//! every proof verifying and every single-bit change of it refused.

use ed25519_dalek::SigningKey;
use fundtrail_verifier::Envelope;
use fundtrail_verifier::chain::{self, GENESIS};
use fundtrail_verifier::merkle::{
    self, CompactRange, Hash, NodeId, consistency_proof, inclusion_proof, verify_consistency,
    verify_inclusion,
};
use fundtrail_verifier::note::{
    self, Checkpoint, CheckpointError, Cosignature, LogKey, Note, WitnessKey, open_checkpoint,
};
use fundtrail_verifier::tree::{
    ConsistencyProof, EventInclusion, InclusionFile, TreeInclusionProof, TreeProofError,
};
use proptest::prelude::*;
use std::collections::HashMap;
use uuid::Uuid;

const ORIGIN: &str = "fund.example/ledger";

fn history(n: u64) -> Vec<Envelope> {
    let mut prev = GENESIS;
    (1..=n)
        .map(|position| {
            let mut e = Envelope {
                position,
                event_id: Uuid::from_u128(u128::from(position)),
                stream: format!("pledge-{}", position % 3),
                version: position / 3,
                event_type: "fundtrail.v1.ContributionReceived".to_owned(),
                payload: position.to_be_bytes().to_vec(),
                metadata: b"m".to_vec(),
                recorded_at: i64::try_from(position).unwrap() * 1000,
                prev_hash: prev,
                hash: GENESIS,
            };
            e.hash = chain::link(&prev, &e).unwrap();
            prev = e.hash;
            e
        })
        .collect()
}

struct Tree {
    events: Vec<Envelope>,
    nodes: HashMap<NodeId, Hash>,
    root: Hash,
}

fn tree(n: u64) -> Tree {
    let events = history(n);
    let mut range = CompactRange::new();
    let mut nodes = HashMap::new();
    for e in &events {
        nodes.extend(range.append(merkle::event_leaf(&e.hash)));
    }
    Tree {
        events,
        nodes,
        root: range.root(),
    }
}

fn fund_key() -> SigningKey {
    SigningKey::from_bytes(&[11; 32])
}

fn log_key() -> LogKey {
    LogKey::new(ORIGIN, fund_key().verifying_key().to_bytes())
}

fn signed(origin: &str, size: u64, root: Hash, key: &SigningKey) -> String {
    let cp = Checkpoint {
        origin: origin.to_owned(),
        size,
        root,
        extensions: Vec::new(),
    };
    Note::sign(cp.body(), ORIGIN, key).render()
}

fn proof_of(t: &Tree, position: u64) -> TreeInclusionProof {
    let size = t.events.len() as u64;
    TreeInclusionProof {
        checkpoint: signed(ORIGIN, size, t.root, &fund_key()),
        event: EventInclusion {
            envelope: t.events[usize::try_from(position - 1).unwrap()].clone(),
            leaf_index: position - 1,
            tree_size: size,
            hashes: inclusion_proof(position - 1, size, |id| t.nodes.get(&id).copied()).unwrap(),
        },
    }
}

fn refusal(proof: &TreeInclusionProof) -> String {
    proof.verify(&log_key()).unwrap_err().to_string()
}

#[test]
fn an_intact_proof_verifies_and_survives_its_file_form() {
    let t = tree(13);
    let proof = proof_of(&t, 6);
    let checkpoint = proof.verify(&log_key()).unwrap();
    assert_eq!((checkpoint.size, checkpoint.root), (13, t.root));
    let file = InclusionFile::from(&proof);
    let text = serde_json::to_string(&file).unwrap();
    assert!(
        text.starts_with(r#"{"record":"inclusion_proof","#),
        "{text}"
    );
    let read: InclusionFile = serde_json::from_str(&text).unwrap();
    assert_eq!(TreeInclusionProof::try_from(&read).unwrap(), proof);
}

#[test]
fn each_kind_of_tampering_is_refused_naming_what_failed() {
    let t = tree(13);
    let good = proof_of(&t, 6);

    // A leaf altered: the event's own fields no longer give its chain hash.
    let mut altered = good.clone();
    altered.event.envelope.payload[0] ^= 1;
    let why = refusal(&altered);
    assert!(
        why.contains("position 6") && why.contains("altered"),
        "{why}"
    );

    // A leaf altered and its hash recomputed: the path no longer leads to the signed root.
    let mut rehashed = good.clone();
    let e = &mut rehashed.event.envelope;
    e.payload[0] ^= 1;
    e.hash = chain::link(&e.prev_hash, e).unwrap();
    let why = refusal(&rehashed);
    assert!(
        why.contains("leads to root") && why.contains("the leaf"),
        "{why}"
    );

    // A proof node altered.
    let mut node = good.clone();
    node.event.hashes[1][0] ^= 0x80;
    let why = refusal(&node);
    assert!(why.contains("a hash of the proof"), "{why}");

    // The tree size the proof claims is not the checkpoint's.
    let mut size = good.clone();
    size.event.tree_size = 12;
    let why = refusal(&size);
    assert!(why.contains("wrong tree size"), "{why}");

    // A checkpoint of another log signed by the same key.
    let mut origin = good.clone();
    origin.checkpoint = signed("other.example/log", 13, t.root, &fund_key());
    let why = refusal(&origin);
    assert!(why.contains("wrong origin"), "{why}");

    // Signed by a key other than the fund's.
    let mut foreign = good.clone();
    foreign.checkpoint = signed(ORIGIN, 13, t.root, &SigningKey::from_bytes(&[12; 32]));
    let why = refusal(&foreign);
    assert!(why.contains("another key"), "{why}");

    // The checkpoint's text edited after signing.
    let mut edited = good.clone();
    edited.checkpoint = good.checkpoint.replacen("\n13\n", "\n14\n", 1);
    let why = refusal(&edited);
    assert!(why.contains("does not verify"), "{why}");

    // A hash missing from the proof.
    let mut truncated = good.clone();
    truncated.event.hashes.pop();
    let why = refusal(&truncated);
    assert!(why.contains("truncated"), "{why}");

    // A proof of another position presented for this event.
    let mut leaf = good;
    leaf.event.leaf_index = 4;
    let why = refusal(&leaf);
    assert!(why.contains("is leaf 5"), "{why}");
}

#[test]
fn consistency_proofs_refuse_a_history_that_does_not_extend_the_held_one() {
    let t = tree(20);
    let small = tree(9);
    let key = log_key();
    let from = signed(ORIGIN, 9, small.root, &fund_key());
    let to = signed(ORIGIN, 20, t.root, &fund_key());
    let proof = ConsistencyProof {
        from: Some(from.clone()),
        to: to.clone(),
        from_size: 9,
        hashes: consistency_proof(9, 20, |id| t.nodes.get(&id).copied()).unwrap(),
    };
    proof.verify(&key, None).unwrap();
    let held = open_checkpoint(&from, &key).unwrap().0;
    proof.verify(&key, Some(&held)).unwrap();

    // The same size with another root: a fork.
    let fork = Checkpoint {
        root: [1; 32],
        ..held.clone()
    };
    let why = proof.verify(&key, Some(&fork)).unwrap_err().to_string();
    assert!(why.contains("does not extend"), "{why}");

    let mut short = proof.clone();
    short.hashes.remove(0);
    assert!(matches!(
        short.verify(&key, None),
        Err(TreeProofError::Consistency { .. })
    ));
}

#[test]
fn the_signed_note_specification_example_verifies() {
    // c2sp.org/signed-note, "Verifier keys", example.
    let vkey = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
    let text = "This is an example message.\n\n\u{2014} example.com/foo \
                Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
    let key = LogKey::parse_vkey(vkey).unwrap();
    assert_eq!(key.vkey(), vkey);
    let parsed = Note::parse(text).unwrap();
    assert_eq!(parsed.text, "This is an example message.\n");
    assert_eq!(parsed.render(), text);
    parsed.verify("example.com/foo", &key.public_key).unwrap();
    let altered = Note::parse(&text.replace("example message", "exemplary message")).unwrap();
    assert!(matches!(
        altered.verify("example.com/foo", &key.public_key),
        Err(CheckpointError::BadSignature { .. })
    ));
    assert!(LogKey::parse_vkey(&vkey.replace("530d903a", "530d903b")).is_err());
}

#[test]
fn key_ids_follow_the_specification() {
    let key = log_key();
    let mut input = ORIGIN.as_bytes().to_vec();
    input.extend_from_slice(&[0x0a, 0x01]);
    input.extend_from_slice(&key.public_key);
    let digest = <sha2::Sha256 as sha2::Digest>::digest(&input);
    assert_eq!(key.key_id(), digest[..4]);
    let witness = WitnessKey {
        name: "witness.example/w".to_owned(),
        public_key: key.public_key,
    };
    assert_ne!(
        witness.key_id(),
        note::key_id("witness.example/w", 0x01, &key.public_key)
    );
}

#[test]
fn a_cosignature_covers_its_time_and_the_checkpoint() {
    let body = Checkpoint {
        origin: ORIGIN.to_owned(),
        size: 3,
        root: [3; 32],
        extensions: Vec::new(),
    }
    .body();
    let witness_key = SigningKey::from_bytes(&[21; 32]);
    let witness = WitnessKey {
        name: "witness.example/w".to_owned(),
        public_key: witness_key.verifying_key().to_bytes(),
    };
    let c = Cosignature::sign(&witness.name, &witness_key, 1_700_000_000, &body);
    assert_eq!(
        Cosignature::message(1_700_000_000, &body),
        format!("cosignature/v1\ntime 1700000000\n{ORIGIN}\n3\n{}\n", {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode([3u8; 32])
        })
    );
    c.verify(&witness, &body).unwrap();
    let later = Cosignature {
        timestamp: 1_700_000_001,
        ..c.clone()
    };
    assert!(later.verify(&witness, &body).is_err());
    // A cosignature line on the note leaves the fund's own signature checkable.
    let mut note = Note::sign(body, ORIGIN, &fund_key());
    note.signatures.push(c.to_signature());
    let (opened, _) = open_checkpoint(&note.render(), &log_key()).unwrap();
    assert_eq!(opened.size, 3);
}

fn flip(hash: &Hash, bit: usize) -> Hash {
    let mut out = *hash;
    out[bit / 8] ^= 1 << (bit % 8);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn proofs_verify_and_any_single_bit_flip_is_refused(
        n in 1u64..300,
        m_seed in any::<u64>(),
        p_seed in any::<u64>(),
        bit in 0usize..256,
        which in any::<usize>(),
    ) {
        let p = p_seed % n;
        let m = 1 + m_seed % n;
        let leaves: Vec<Hash> = (0..n).map(|i| merkle::leaf_hash(&i.to_le_bytes())).collect();
        let mut range = CompactRange::new();
        let mut nodes = HashMap::new();
        let mut roots = vec![range.root()];
        for leaf in &leaves {
            nodes.extend(range.append(*leaf));
            roots.push(range.root());
        }
        let root = roots[usize::try_from(n).unwrap()];
        let leaf = leaves[usize::try_from(p).unwrap()];
        let node = |id| nodes.get(&id).copied();

        let proof = inclusion_proof(p, n, node).unwrap();
        prop_assert!(verify_inclusion(p, n, &leaf, &proof, &root).is_ok());
        // One bit of the leaf, the root or one proof hash.
        let mut targets = proof.len() + 2;
        let pick = which % targets;
        let refused = if pick == 0 {
            verify_inclusion(p, n, &flip(&leaf, bit), &proof, &root)
        } else if pick == 1 {
            verify_inclusion(p, n, &leaf, &proof, &flip(&root, bit))
        } else {
            let mut bad = proof.clone();
            bad[pick - 2] = flip(&bad[pick - 2], bit);
            verify_inclusion(p, n, &leaf, &bad, &root)
        };
        prop_assert!(refused.is_err());
        // One bit of the leaf index. (The tree size is bound by the signed checkpoint, not
        // by the path: RFC 9162 paths of two sizes can coincide, so the client compares the
        // proof's size with the checkpoint's, as the tampering test shows.)
        let index_bit = 1u64 << (bit % 9);
        prop_assert!(verify_inclusion(p ^ index_bit, n, &leaf, &proof, &root).is_err());

        let old = roots[usize::try_from(m).unwrap()];
        let proof = consistency_proof(m, n, node).unwrap();
        prop_assert!(verify_consistency(m, n, &old, &root, &proof).is_ok());
        targets = proof.len() + 2;
        let pick = which % targets;
        let refused = if pick == 0 {
            verify_consistency(m, n, &flip(&old, bit), &root, &proof)
        } else if pick == 1 {
            verify_consistency(m, n, &old, &flip(&root, bit), &proof)
        } else {
            let mut bad = proof.clone();
            bad[pick - 2] = flip(&bad[pick - 2], bit);
            verify_consistency(m, n, &old, &root, &bad)
        };
        prop_assert!(refused.is_err());
    }
}
