//! The witness accepts a tree only when it extends the one it holds, and refuses forks: two
//! checkpoints of the same size with different roots, a larger tree that does not extend the
//! held one, and a smaller tree that is not a prefix of it.

use std::collections::HashMap;

use fundtrail_audit::witness::{self, Accepted, Refusal, Witness, WitnessState};
use fundtrail_verifier::merkle::{self, CompactRange, Hash, NodeId, consistency_proof};
use fundtrail_verifier::note::{Checkpoint, Note, open_checkpoint};

const ORIGIN: &str = "fund.example/ledger";

/// A tree over `n` leaves derived from `seed`: two seeds make two histories.
struct History {
    nodes: HashMap<NodeId, Hash>,
    roots: Vec<Hash>,
}

fn history(seed: u8, n: u64) -> History {
    let mut range = CompactRange::new();
    let mut nodes = HashMap::new();
    let mut roots = vec![range.root()];
    for i in 0..n {
        let mut input = vec![seed];
        input.extend_from_slice(&i.to_be_bytes());
        nodes.extend(range.append(merkle::leaf_hash(&input)));
        roots.push(range.root());
    }
    History { nodes, roots }
}

impl History {
    fn checkpoint(&self, size: u64) -> Checkpoint {
        Checkpoint {
            origin: ORIGIN.to_owned(),
            size,
            root: self.roots[usize::try_from(size).unwrap()],
            extensions: Vec::new(),
        }
    }

    fn proof(&self, from: u64, to: u64) -> Vec<Hash> {
        consistency_proof(from, to, |id| self.nodes.get(&id).copied()).unwrap()
    }
}

#[test]
fn a_growing_history_is_accepted_and_cosigned() {
    let h = history(1, 40);
    let held = h.checkpoint(10);
    assert_eq!(witness::judge(None, &held, &[]), Ok(Accepted::First));
    assert_eq!(
        witness::judge(Some(&held), &h.checkpoint(10), &[]),
        Ok(Accepted::Unchanged)
    );
    assert_eq!(
        witness::judge(Some(&held), &h.checkpoint(40), &h.proof(10, 40)),
        Ok(Accepted::Extends { from: 10 })
    );

    let w = Witness::from_seed("witness.example/w1", [31; 32]).unwrap();
    let offered = h.checkpoint(40);
    let cosignature = w.cosign(&offered, 1_700_000_000);
    cosignature.verify(&w.key(), &offered.body()).unwrap();
    // On the fund's note, next to the fund's signature.
    let fund = ed25519_dalek::SigningKey::from_bytes(&[30; 32]);
    let mut note = Note::sign(offered.body(), ORIGIN, &fund);
    note.signatures.push(cosignature.to_signature());
    let key = fundtrail_verifier::LogKey::new(ORIGIN, fund.verifying_key().to_bytes());
    assert_eq!(open_checkpoint(&note.render(), &key).unwrap().0, offered);
}

#[test]
fn two_checkpoints_of_the_same_size_with_different_roots_are_a_fork() {
    let ours = history(1, 20);
    let theirs = history(2, 20);
    let refused = witness::judge(Some(&ours.checkpoint(20)), &theirs.checkpoint(20), &[]);
    assert!(
        matches!(refused, Err(Refusal::SameSizeFork { size: 20, .. })),
        "{refused:?}"
    );
    assert!(refused.unwrap_err().to_string().starts_with("FORK"));
}

#[test]
fn a_larger_tree_that_does_not_extend_the_held_one_is_a_fork() {
    let ours = history(1, 20);
    let theirs = history(2, 30);
    // Whatever proof the log sends: its own, or ours.
    for proof in [theirs.proof(20, 30), ours.proof(12, 20)] {
        let refused = witness::judge(Some(&ours.checkpoint(20)), &theirs.checkpoint(30), &proof);
        assert!(
            matches!(
                refused,
                Err(Refusal::NotAnExtension {
                    held: 20,
                    offered: 30,
                    ..
                })
            ),
            "{refused:?}"
        );
    }
}

#[test]
fn a_smaller_tree_is_never_cosigned_and_one_that_is_not_a_prefix_is_a_fork() {
    let ours = history(1, 20);
    let theirs = history(2, 20);
    let held = ours.checkpoint(20);
    let refused = witness::judge(Some(&held), &theirs.checkpoint(12), &theirs.proof(12, 20));
    assert!(
        matches!(
            refused,
            Err(Refusal::NotAPrefix {
                held: 20,
                offered: 12,
                ..
            })
        ),
        "{refused:?}"
    );
    assert!(refused.unwrap_err().to_string().starts_with("FORK"));
    // An honest older checkpoint is refused too, but not called a fork.
    let refused = witness::judge(Some(&held), &ours.checkpoint(12), &ours.proof(12, 20));
    assert_eq!(
        refused,
        Err(Refusal::Older {
            held: 20,
            offered: 12
        })
    );
}

#[test]
fn another_log_is_refused() {
    let h = history(1, 5);
    let other = Checkpoint {
        origin: "other.example/log".to_owned(),
        ..h.checkpoint(5)
    };
    assert!(matches!(
        witness::judge(Some(&h.checkpoint(3)), &other, &h.proof(3, 5)),
        Err(Refusal::OtherLog { .. })
    ));
}

#[test]
fn the_state_is_replaced_whole_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("witness.json");
    assert_eq!(witness::load_state(&path).unwrap(), None);
    let state = WitnessState {
        origin: ORIGIN.to_owned(),
        public_key: "ab".repeat(32),
        checkpoint: "note\n".to_owned(),
    };
    witness::save_state(&path, &state).unwrap();
    assert_eq!(witness::load_state(&path).unwrap(), Some(state));
    std::fs::write(&path, "{").unwrap();
    assert!(witness::load_state(&path).is_err());
    assert!(Witness::from_seed("a witness", [1; 32]).is_err());
}
