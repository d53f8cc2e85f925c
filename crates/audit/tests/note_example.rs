//! The worked example of docs/audit.md, byte for byte: the tree checkpoint the fund's key signs
//! and the cosignature a witness adds, as independently computed with Python's `cryptography`
//! package. An auditor reproducing them has the formats right.

use fundtrail_audit::CheckpointSigner;
use fundtrail_audit::witness::Witness;
use fundtrail_verifier::note::{Checkpoint, Cosignature, open_checkpoint};

const ROOT_8: &str = "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328";

const NOTE: &str = "fund.example/ledger\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\n\
\u{2014} fund.example/ledger A1BxA36qTj85YmF8WVqTyDzImaIwcktWpadHwWQrnwgjiYE+nop2jrWW3IoFpGkPRVc9HapGR+CM3Zp2vYh2D/0AuAI=\n";

const COSIGNATURE: &str = "\u{2014} witness.example/w1 \
8uc3FwAAAABpVbkATi78lBj93fJ8tkQcTpj0FI+eIr152xUVxJFhmkD47dKUCvTJEngSn96KlJG//jHM3/KeXyhTOn9XFHPj4UTNCQ==\n";

#[test]
fn the_documented_checkpoint_and_cosignature_are_what_the_code_makes() {
    let signer = CheckpointSigner::from_seed([42; 32])
        .with_origin("fund.example/ledger")
        .unwrap();
    assert_eq!(
        hex::encode(signer.public_key()),
        "197f6b23e16c8532c6abc838facd5ea789be0c76b2920334039bfa8b3d368d61"
    );
    assert_eq!(
        signer.log_key().vkey(),
        "fund.example/ledger+03507103+ARl/ayPhbIUyxqvIOPrNXqeJvgx2spIDNAOb+os9No1h"
    );
    let mut root = [0u8; 32];
    hex::decode_to_slice(ROOT_8, &mut root).unwrap();
    assert_eq!(signer.sign_tree(8, root), NOTE);
    let (checkpoint, _) = open_checkpoint(NOTE, &signer.log_key()).unwrap();

    let witness = Witness::from_seed("witness.example/w1", [43; 32]).unwrap();
    assert_eq!(
        hex::encode(witness.key().public_key),
        "4508a07aa941707f3eb2db94c8897a80b2c1197476b6de213ac273df7d86c4ff"
    );
    let cosignature = witness.cosign(&checkpoint, 1_767_225_600);
    assert_eq!(cosignature.line(), COSIGNATURE);
    Cosignature::parse_line(COSIGNATURE)
        .unwrap()
        .verify(&witness.key(), &Checkpoint::body(&checkpoint))
        .unwrap();
}
