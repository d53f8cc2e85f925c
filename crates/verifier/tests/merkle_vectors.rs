//! The tree against the published RFC 6962 test vectors of an independent implementation: the
//! eight leaf inputs of Certificate Transparency's reference tests, with the roots of every
//! size, the hashes of every complete subtree and the inclusion and consistency proofs, as
//! published with transparency-dev/merkle (`testonly/constants.go` and the happy-path cases of
//! `testdata/inclusion` and `testdata/consistency`).

use fundtrail_verifier::merkle::{
    self, CompactRange, Hash, MerkleError, NodeId, consistency_proof, inclusion_proof, leaf_hash,
    verify_consistency, verify_inclusion,
};

fn h(text: &str) -> Hash {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).unwrap();
    out
}

fn leaf_inputs() -> Vec<Vec<u8>> {
    [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
    .iter()
    .map(|x| hex::decode(x).unwrap())
    .collect()
}

/// Roots by tree size, from the empty tree to eight leaves.
const ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// Every complete subtree of the eight-leaf tree, by level and index.
const NODES: [&[&str]; 4] = [
    &[
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    &[
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
    &[
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    &["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
];

/// (leaf index, tree size, proof) of the published inclusion cases.
fn inclusion_cases() -> Vec<(u64, u64, Vec<Hash>)> {
    let n = |level: usize, index: usize| h(NODES[level][index]);
    vec![
        (0, 1, vec![]),
        (0, 8, vec![n(0, 1), n(1, 1), n(2, 1)]),
        (5, 8, vec![n(0, 4), n(1, 3), n(2, 0)]),
        (2, 3, vec![n(1, 0)]),
        (1, 5, vec![n(0, 0), n(1, 1), n(0, 4)]),
    ]
}

/// (smaller size, larger size, proof) of the published consistency cases.
fn consistency_cases() -> Vec<(u64, u64, Vec<Hash>)> {
    let n = |level: usize, index: usize| h(NODES[level][index]);
    vec![
        (1, 1, vec![]),
        (1, 8, vec![n(0, 1), n(1, 1), n(2, 1)]),
        (6, 8, vec![n(1, 2), n(1, 3), n(2, 0)]),
        (2, 5, vec![n(1, 1), n(0, 4)]),
        (6, 7, vec![n(1, 2), n(0, 6), n(2, 0)]),
    ]
}

fn tree() -> (Vec<Hash>, std::collections::HashMap<NodeId, Hash>) {
    let leaves: Vec<Hash> = leaf_inputs().iter().map(|l| leaf_hash(l)).collect();
    let mut range = CompactRange::new();
    let mut nodes = std::collections::HashMap::new();
    for leaf in &leaves {
        nodes.extend(range.append(*leaf));
    }
    (leaves, nodes)
}

#[test]
fn the_roots_of_every_size_are_the_published_ones() {
    let (leaves, _) = tree();
    let mut range = CompactRange::new();
    assert_eq!(hex::encode(range.root()), ROOTS[0]);
    assert_eq!(hex::encode(merkle::root(&[])), ROOTS[0]);
    for (size, leaf) in leaves.iter().enumerate() {
        range.append(*leaf);
        assert_eq!(
            hex::encode(range.root()),
            ROOTS[size + 1],
            "size {}",
            size + 1
        );
        assert_eq!(hex::encode(merkle::root(&leaves[..=size])), ROOTS[size + 1]);
    }
}

#[test]
fn the_stored_subtrees_are_the_published_nodes() {
    let (_, nodes) = tree();
    assert_eq!(nodes.len(), 15);
    for (level, row) in NODES.iter().enumerate() {
        for (index, expected) in row.iter().enumerate() {
            let id = NodeId::new(u8::try_from(level).unwrap(), index as u64);
            assert_eq!(hex::encode(nodes[&id]), *expected, "{id:?}");
        }
    }
}

#[test]
fn inclusion_proofs_are_the_published_ones_and_verify() {
    let (leaves, nodes) = tree();
    for (index, size, expected) in inclusion_cases() {
        let proof = inclusion_proof(index, size, |id| nodes.get(&id).copied()).unwrap();
        assert_eq!(proof, expected, "leaf {index} of {size}");
        let leaf = leaves[usize::try_from(index).unwrap()];
        let root = h(ROOTS[usize::try_from(size).unwrap()]);
        assert_eq!(verify_inclusion(index, size, &leaf, &proof, &root), Ok(()));
    }
    // Every leaf of every size, against the published roots.
    for size in 1..=8u64 {
        for index in 0..size {
            let proof = inclusion_proof(index, size, |id| nodes.get(&id).copied()).unwrap();
            let leaf = leaves[usize::try_from(index).unwrap()];
            let root = h(ROOTS[usize::try_from(size).unwrap()]);
            assert_eq!(verify_inclusion(index, size, &leaf, &proof, &root), Ok(()));
        }
    }
}

#[test]
fn consistency_proofs_are_the_published_ones_and_verify() {
    let (_, nodes) = tree();
    for (from, to, expected) in consistency_cases() {
        let proof = consistency_proof(from, to, |id| nodes.get(&id).copied()).unwrap();
        assert_eq!(proof, expected, "{from} to {to}");
    }
    for to in 1..=8u64 {
        for from in 0..=to {
            let proof = consistency_proof(from, to, |id| nodes.get(&id).copied()).unwrap();
            let (a, b) = (
                h(ROOTS[usize::try_from(from).unwrap()]),
                h(ROOTS[usize::try_from(to).unwrap()]),
            );
            assert_eq!(
                verify_consistency(from, to, &a, &b, &proof),
                Ok(()),
                "{from} to {to}"
            );
        }
    }
}

#[test]
fn the_published_bad_cases_are_refused() {
    let (leaves, _) = tree();
    let root8 = h(ROOTS[8]);
    let (index, size, proof) = inclusion_cases().swap_remove(2);
    let leaf = leaves[5];
    // Wrong leaf, wrong index, wrong size, a proof hash changed, one missing, one added.
    assert!(verify_inclusion(index, size, &leaves[4], &proof, &root8).is_err());
    assert!(verify_inclusion(index ^ 2, size, &leaf, &proof, &root8).is_err());
    assert!(verify_inclusion(index, size * 2, &leaf, &proof, &root8).is_err());
    assert!(verify_inclusion(index, size / 2, &leaf, &proof, &root8).is_err());
    let mut modified = proof.clone();
    modified[1][3] ^= 1;
    assert!(matches!(
        verify_inclusion(index, size, &leaf, &modified, &root8),
        Err(MerkleError::RootMismatch { .. })
    ));
    assert!(matches!(
        verify_inclusion(index, size, &leaf, &proof[..2], &root8),
        Err(MerkleError::WrongLength {
            expected: 3,
            found: 2,
            ..
        })
    ));
    let mut padded = proof.clone();
    padded.push(root8);
    assert!(verify_inclusion(index, size, &leaf, &padded, &root8).is_err());
    assert!(verify_inclusion(index, size, &leaf, &proof, &h(ROOTS[7])).is_err());

    let (from, to, proof) = consistency_cases().swap_remove(2);
    let (a, b) = (h(ROOTS[6]), h(ROOTS[8]));
    assert!(
        verify_consistency(from, to, &b, &a, &proof).is_err(),
        "swapped roots"
    );
    assert!(verify_consistency(from, to, &h(ROOTS[5]), &b, &proof).is_err());
    assert!(verify_consistency(from - 1, to, &a, &b, &proof).is_err());
    assert!(verify_consistency(from, to, &a, &b, &proof[1..]).is_err());
    assert!(matches!(
        verify_consistency(to, from, &b, &a, &proof),
        Err(MerkleError::SizeOrder { .. })
    ));
    assert!(matches!(
        verify_consistency(8, 8, &a, &b, &[]),
        Err(MerkleError::SameSizeDifferentRoots { .. })
    ));
    assert!(verify_consistency(1, 1, &h(ROOTS[1]), &h(ROOTS[1]), &[h(ROOTS[1])]).is_err());
}
