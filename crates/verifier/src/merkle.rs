//! The Merkle tree over the history: RFC 9162 §2.1 (the tree of RFC 6962), written from its
//! definition, with its inclusion and consistency proofs.
//!
//! ```text
//! leaf input(p)   = hash(p), the chain hash of the event at position p (32 bytes, §3)
//! leaf hash       = SHA-256(0x00 || leaf input)
//! node hash       = SHA-256(0x01 || left || right)
//! MTH({})         = SHA-256()                      (no events)
//! MTH(D[n])       = leaf hash(d0)                   for n = 1
//! MTH(D[n])       = node hash(MTH(D[0:k]), MTH(D[k:n]))   k = largest power of two < n
//! ```
//!
//! Leaf `i` (from 0) is the event at position `i + 1`, so the tree of size `n` covers exactly
//! positions 1 to `n`. A chain hash commits to every field of its event and to the chain before
//! it; the tree adds what the chain cannot give: a proof that one event is in a signed history
//! in `O(log n)` hashes, and a proof that a signed history extends an earlier one.
//!
//! The fund keeps every complete subtree ([`NodeId`]) and builds proofs from them; a verifier
//! needs only [`verify_inclusion`] and [`verify_consistency`], which follow RFC 9162 §2.1.3.2
//! and §2.1.4.2 step by step.

use sha2::{Digest, Sha256};

/// A SHA-256 value.
pub type Hash = [u8; 32];

/// SHA-256(0x00 || input).
pub fn leaf_hash(input: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(input);
    h.finalize().into()
}

/// SHA-256(0x01 || left || right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree, SHA-256 of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The leaf hash of an event: its chain hash is the leaf input.
pub fn event_leaf(chain_hash: &Hash) -> Hash {
    leaf_hash(chain_hash)
}

/// A complete subtree: the `2^level` leaves from `index << level` on. Level 0 is the leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    pub level: u8,
    pub index: u64,
}

impl NodeId {
    pub fn new(level: u8, index: u64) -> Self {
        Self { level, index }
    }

    /// The first leaf it covers.
    pub fn begin(self) -> u64 {
        self.index << self.level
    }

    /// One past the last leaf it covers.
    pub fn end(self) -> u64 {
        (self.index + 1) << self.level
    }
}

/// The largest power of two smaller than `n` (`n >= 2`): where RFC 9162 splits a tree.
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (n - 1).ilog2()
}

/// The complete subtrees that make up the leaves `begin..end`, left to right, each as large as
/// its alignment allows. For a range the tree itself splits off (as every range of a proof is),
/// these are the bits of its length from the highest, and its hash is [`fold`] of theirs.
pub fn subtrees(begin: u64, end: u64) -> Vec<NodeId> {
    let mut out = Vec::new();
    let mut at = begin;
    while at < end {
        let aligned = if at == 0 { 63 } else { at.trailing_zeros() };
        let fits = (end - at).ilog2();
        let level = aligned.min(fits);
        // Levels are below 64, so they fit in a byte.
        let level_byte = u8::try_from(level).unwrap_or(63);
        out.push(NodeId::new(level_byte, at >> level));
        at += 1 << level;
    }
    out
}

/// The hash of a range from its complete subtrees, left to right: each joined to the hash of
/// everything to its right, as RFC 9162's recursion joins them. `None` for no subtrees.
pub fn fold(hashes: &[Hash]) -> Option<Hash> {
    let (last, rest) = hashes.split_last()?;
    Some(rest.iter().rev().fold(*last, |acc, h| node_hash(h, &acc)))
}

/// The ranges of leaves whose hashes make the inclusion proof of leaf `index` in the tree of
/// `size` leaves, in proof order (RFC 9162 §2.1.3.1, PATH). Empty when `index >= size`.
pub fn inclusion_ranges(index: u64, size: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    if index < size {
        path(index, 0, size, &mut out);
    }
    out
}

fn path(m: u64, begin: u64, end: u64, out: &mut Vec<(u64, u64)>) {
    let n = end - begin;
    if n <= 1 {
        return;
    }
    let k = split(n);
    if m - begin < k {
        path(m, begin, begin + k, out);
        out.push((begin + k, end));
    } else {
        path(m, begin + k, end, out);
        out.push((begin, begin + k));
    }
}

/// The ranges of leaves whose hashes make the consistency proof from the tree of `from` leaves
/// to the tree of `to` (RFC 9162 §2.1.4.1, PROOF and SUBPROOF). Empty when there is nothing to
/// prove: `from` is 0 or not smaller than `to`.
pub fn consistency_ranges(from: u64, to: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    if from > 0 && from < to {
        subproof(from, 0, to, true, &mut out);
    }
    out
}

fn subproof(m: u64, begin: u64, end: u64, whole: bool, out: &mut Vec<(u64, u64)>) {
    let n = end - begin;
    if m == n {
        if !whole {
            out.push((begin, end));
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof(m, begin, begin + k, whole, out);
        out.push((begin + k, end));
    } else {
        subproof(m - k, begin + k, end, false, out);
        out.push((begin, begin + k));
    }
}

/// Every complete subtree the hashes of `ranges` are made of, each once.
pub fn nodes_of(ranges: &[(u64, u64)]) -> Vec<NodeId> {
    let mut ids: Vec<NodeId> = ranges
        .iter()
        .flat_map(|&(begin, end)| subtrees(begin, end))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// A complete subtree a proof needs and the node source does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the tree has no node at level {} index {} (leaves {} to {})", .0.level, .0.index, .0.begin(), .0.end() - 1)]
pub struct MissingNode(pub NodeId);

/// The hashes of `ranges`, from a source of complete subtrees.
pub fn range_hashes(
    ranges: &[(u64, u64)],
    node: impl Fn(NodeId) -> Option<Hash>,
) -> Result<Vec<Hash>, MissingNode> {
    ranges
        .iter()
        .map(|&(begin, end)| {
            let hashes = subtrees(begin, end)
                .into_iter()
                .map(|id| node(id).ok_or(MissingNode(id)))
                .collect::<Result<Vec<_>, _>>()?;
            // A proof's ranges are never empty.
            Ok(fold(&hashes).unwrap_or_else(empty_root))
        })
        .collect()
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves.
pub fn inclusion_proof(
    index: u64,
    size: u64,
    node: impl Fn(NodeId) -> Option<Hash>,
) -> Result<Vec<Hash>, MissingNode> {
    range_hashes(&inclusion_ranges(index, size), node)
}

/// The consistency proof from the tree of `from` leaves to the tree of `to`.
pub fn consistency_proof(
    from: u64,
    to: u64,
    node: impl Fn(NodeId) -> Option<Hash>,
) -> Result<Vec<Hash>, MissingNode> {
    range_hashes(&consistency_ranges(from, to), node)
}

/// The root of a tree over `leaves` (leaf hashes), computed by RFC 9162's recursion itself:
/// the reference the stored subtrees are tested against.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = usize::try_from(split(n as u64)).unwrap_or(n / 2);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The complete subtrees of the tree's left part `0..size`: what is needed to go on appending
/// leaves and to compute its root, `O(log size)` hashes (a compact range).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CompactRange {
    size: u64,
    hashes: Vec<Hash>,
}

impl CompactRange {
    /// The range of the empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// The subtrees a compact range of `size` leaves holds, left to right.
    pub fn ids(size: u64) -> Vec<NodeId> {
        subtrees(0, size)
    }

    /// A range from the hashes of [`CompactRange::ids`]; `None` when their count is wrong.
    pub fn from_hashes(size: u64, hashes: Vec<Hash>) -> Option<Self> {
        (hashes.len() == size.count_ones() as usize).then_some(Self { size, hashes })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root of the tree of `size` leaves.
    pub fn root(&self) -> Hash {
        fold(&self.hashes).unwrap_or_else(empty_root)
    }

    /// Appends a leaf hash; returns every subtree it completed, the leaf first and then each
    /// parent it closed, so that the caller can keep them.
    pub fn append(&mut self, leaf: Hash) -> Vec<(NodeId, Hash)> {
        let mut id = NodeId::new(0, self.size);
        let mut hash = leaf;
        let mut completed = vec![(id, hash)];
        let mut size = self.size;
        // Each trailing one of the old size is a left sibling the new leaf completes.
        while size & 1 == 1 {
            let Some(left) = self.hashes.pop() else {
                break;
            };
            hash = node_hash(&left, &hash);
            id = NodeId::new(id.level + 1, id.index >> 1);
            completed.push((id, hash));
            size >>= 1;
        }
        self.hashes.push(hash);
        self.size += 1;
        completed
    }
}

/// Why a Merkle proof does not prove what it claims.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    #[error("leaf {index} is not in a tree of {size} leaves")]
    LeafOutOfRange { index: u64, size: u64 },
    #[error(
        "the {kind} proof has {found} hashes where {expected} are needed{}",
        if .found < .expected { " (a truncated proof)" } else { " (hashes added to the proof)" }
    )]
    WrongLength {
        kind: &'static str,
        expected: usize,
        found: usize,
    },
    #[error(
        "the inclusion proof of leaf {index} leads to root {} but the tree of size {size} has \
         root {}: a hash of the proof, the leaf or the tree size is not what was signed",
        hex::encode(.computed), hex::encode(.expected)
    )]
    RootMismatch {
        index: u64,
        size: u64,
        computed: Hash,
        expected: Hash,
    },
    #[error(
        "a consistency proof goes from a tree to one at least as large, not from {from} to {to}"
    )]
    SizeOrder { from: u64, to: u64 },
    #[error(
        "the trees of size {size} have different roots, {} and {}: two different histories",
        hex::encode(.first), hex::encode(.second)
    )]
    SameSizeDifferentRoots {
        size: u64,
        first: Hash,
        second: Hash,
    },
    #[error(
        "the consistency proof from {from} to {to} leads to root {} for the tree of size \
         {size}, whose root is {}: the larger tree does not extend the smaller one, or a hash \
         of the proof is not what was signed",
        hex::encode(.computed), hex::encode(.expected)
    )]
    ConsistencyMismatch {
        from: u64,
        to: u64,
        size: u64,
        computed: Hash,
        expected: Hash,
    },
}

/// The root that an inclusion proof leads to from `leaf` (RFC 9162 §2.1.3.2).
pub fn root_from_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
) -> Result<Hash, MerkleError> {
    if index >= size {
        return Err(MerkleError::LeafOutOfRange { index, size });
    }
    let expected = inclusion_ranges(index, size).len();
    if proof.len() != expected {
        return Err(MerkleError::WrongLength {
            kind: "inclusion",
            expected,
            found: proof.len(),
        });
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    // The length check above makes the path end exactly at the root.
    debug_assert_eq!(sn, 0);
    Ok(r)
}

/// Checks that `leaf` is leaf `index` of the tree of `size` leaves whose root is `root`.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), MerkleError> {
    let computed = root_from_inclusion(index, size, leaf, proof)?;
    if computed == *root {
        Ok(())
    } else {
        Err(MerkleError::RootMismatch {
            index,
            size,
            computed,
            expected: *root,
        })
    }
}

/// Checks that the tree of `to` leaves with root `to_root` extends the tree of `from` leaves
/// with root `from_root` (RFC 9162 §2.1.4.2; an empty tree is a prefix of every tree).
pub fn verify_consistency(
    from: u64,
    to: u64,
    from_root: &Hash,
    to_root: &Hash,
    proof: &[Hash],
) -> Result<(), MerkleError> {
    if from > to {
        return Err(MerkleError::SizeOrder { from, to });
    }
    let expected = consistency_ranges(from, to).len();
    if proof.len() != expected {
        return Err(MerkleError::WrongLength {
            kind: "consistency",
            expected,
            found: proof.len(),
        });
    }
    if from == to {
        return if from_root == to_root {
            Ok(())
        } else {
            Err(MerkleError::SameSizeDifferentRoots {
                size: from,
                first: *from_root,
                second: *to_root,
            })
        };
    }
    if from == 0 {
        return Ok(());
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if from.is_power_of_two() {
        path.push(*from_root);
    }
    path.extend_from_slice(proof);
    let (mut fn_, mut sn) = (from - 1, to - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    debug_assert_eq!(sn, 0);
    let mismatch = |size, computed, expected| MerkleError::ConsistencyMismatch {
        from,
        to,
        size,
        computed,
        expected,
    };
    if fr != *from_root {
        return Err(mismatch(from, fr, *from_root));
    }
    if sr != *to_root {
        return Err(mismatch(to, sr, *to_root));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    #[test]
    fn the_compact_range_keeps_the_roots_of_the_recursion() {
        let all = leaves(70);
        let mut range = CompactRange::new();
        let mut stored = std::collections::HashMap::new();
        assert_eq!(range.root(), empty_root());
        for (i, leaf) in all.iter().enumerate() {
            for (id, hash) in range.append(*leaf) {
                let begin = usize::try_from(id.begin()).unwrap();
                let end = usize::try_from(id.end()).unwrap();
                assert_eq!(hash, root(&all[begin..end]), "{id:?}");
                stored.insert(id, hash);
            }
            assert_eq!(range.root(), root(&all[..=i]));
            let ids = CompactRange::ids(range.size());
            let again =
                CompactRange::from_hashes(range.size(), ids.iter().map(|id| stored[id]).collect())
                    .unwrap();
            assert_eq!(again, range);
        }
    }

    #[test]
    fn ranges_of_a_proof_decompose_into_stored_subtrees() {
        assert_eq!(
            subtrees(0, 13),
            [NodeId::new(3, 0), NodeId::new(2, 2), NodeId::new(0, 12)]
        );
        assert_eq!(subtrees(8, 12), [NodeId::new(2, 2)]);
        assert_eq!(inclusion_ranges(0, 1), []);
        assert_eq!(inclusion_ranges(6, 7), [(4, 6), (0, 4)]);
        assert_eq!(consistency_ranges(6, 8), [(4, 6), (6, 8), (0, 4)]);
    }
}
