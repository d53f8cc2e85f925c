//! `fundtrail audit include | consistency | receipts | witness | checkpoints | rebuild-tree`: the Merkle
//! tree's proofs, fetched from a server and checked here against the fund's published key, so
//! nothing the server says is taken on trust; and the witness that cosigns checkpoints.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use fundtrail_audit::witness::{self, Accepted, Witness, WitnessState};
use fundtrail_audit::{Source, follower};
use fundtrail_client::Session;
use fundtrail_proto::v1;
use fundtrail_verifier::note::{self, Checkpoint, LogKey};
use fundtrail_verifier::tree::{ConsistencyFile, InclusionFile};
use fundtrail_verifier::{ConsistencyProof, DonorEvents, TreeInclusionProof, parse_public_key};

/// The key tree checkpoints must carry, obtained out of band.
#[derive(Debug, Clone, Args)]
pub struct LogKeyArgs {
    /// The fund's published checkpoint key (64 hex digits).
    #[arg(long, value_name = "HEX", required_unless_present = "vkey")]
    public_key: Option<String>,
    /// The tree checkpoints' origin, as the fund publishes it (default: `fundtrail/` and the
    /// key's first 16 hex digits, what a server uses when none is configured).
    #[arg(long, conflicts_with = "vkey")]
    origin: Option<String>,
    /// The fund's verifier key, `<origin>+<key id>+<base64 key>`, instead of the two above.
    #[arg(long, conflicts_with = "public_key")]
    vkey: Option<String>,
}

impl LogKeyArgs {
    pub fn new(public_key: &[u8; 32], origin: Option<&str>) -> Self {
        Self {
            public_key: Some(hex::encode(public_key)),
            origin: origin.map(str::to_owned),
            vkey: None,
        }
    }

    pub fn key(&self) -> anyhow::Result<LogKey> {
        if let Some(vkey) = &self.vkey {
            return LogKey::parse_vkey(vkey).map_err(anyhow::Error::msg);
        }
        let Some(hex_key) = &self.public_key else {
            bail!("pass --public-key (or --vkey) with the fund's published key");
        };
        let public_key = parse_public_key(hex_key)?;
        let origin = self
            .origin
            .clone()
            .unwrap_or_else(|| fundtrail_audit::key::default_origin(&public_key));
        if !note::valid_key_name(&origin) {
            bail!("--origin {origin:?} is not a log origin");
        }
        Ok(LogKey::new(&origin, public_key))
    }
}

#[derive(Debug, Args)]
pub struct IncludeArgs {
    /// The position of the event whose inclusion to prove.
    #[arg(long)]
    position: u64,
    /// The size of the tree checkpoint to prove it under (default: the latest).
    #[arg(long, default_value_t = 0)]
    tree_size: u64,
    /// Also write the proof to this file (JSON; docs/audit.md's Python verifier reads it).
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    key: LogKeyArgs,
    #[command(flatten)]
    server: super::audit::ServerArg,
}

#[derive(Debug, Args)]
pub struct ConsistencyArgs {
    /// The smaller tree's size.
    #[arg(long)]
    from: u64,
    /// The larger tree checkpoint's size (default: the latest).
    #[arg(long, default_value_t = 0)]
    to: u64,
    /// Also write the proof to this file (JSON).
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    key: LogKeyArgs,
    #[command(flatten)]
    server: super::audit::ServerArg,
}

#[derive(Debug, Args)]
pub struct ReceiptsArgs {
    /// The donor (its IATI organisation identifier).
    #[arg(long)]
    donor: String,
    /// The size of the tree checkpoint to prove them under (default: the latest).
    #[arg(long, default_value_t = 0)]
    tree_size: u64,
    /// Also write every proof to this file, one JSON object a line.
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    key: LogKeyArgs,
    #[command(flatten)]
    server: super::audit::ServerArg,
}

#[derive(Debug, Args)]
pub struct WitnessArgs {
    /// Where the witness keeps the last checkpoint it accepted (JSON, made on the first run).
    #[arg(long)]
    state: PathBuf,
    /// The witness's ed25519 key file (64 hex digits of its seed; made when missing, 0600).
    #[arg(long)]
    key_file: PathBuf,
    /// The witness's name in its cosignature lines, e.g. `witness.example.org/w1`.
    #[arg(long)]
    name: String,
    /// Take the checkpoint to witness from the log (`kafka://…` or `nats://…`) rather than
    /// from the server; the consistency proof still comes from the server.
    #[arg(long, value_name = "URL")]
    from_log: Option<String>,
    #[command(flatten)]
    key: LogKeyArgs,
    #[command(flatten)]
    server: super::audit::ServerArg,
}

#[derive(Debug, Args)]
pub struct CheckpointsArgs {
    /// The log the fund publishes to, as its servers' `log` setting names it:
    /// `kafka://host:port[?topic=…]` or `nats://host:port[?stream=…&prefix=…]`.
    #[arg(long, value_name = "URL")]
    from_log: String,
    /// Also check, with the server's consistency proofs, that each tree kept extends the one
    /// before it.
    #[arg(long)]
    consistency: bool,
    #[command(flatten)]
    key: LogKeyArgs,
    #[command(flatten)]
    server: super::audit::ServerArg,
}

/// How long reading the log may wait for a broker.
const LOG_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

#[derive(Debug, Args)]
pub struct RebuildTreeArgs {
    /// The event store whose tree to make again from its events.
    #[arg(long)]
    store: String,
}

fn write_json(path: &Path, lines: &[String]) -> anyhow::Result<()> {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

fn short(hash: &[u8]) -> String {
    hex::encode(hash)
}

/// Fetches the inclusion proof of `position` and checks it under the fund's key: the event's
/// fields, its leaf, the path and the signed root; and that it is the position asked for
/// under the checkpoint asked for.
pub async fn include(
    session: &Session,
    position: u64,
    tree_size: u64,
    key: &LogKey,
) -> anyhow::Result<(String, TreeInclusionProof)> {
    let answer = session
        .audit()
        .prove_tree_inclusion(v1::ProveTreeInclusionRequest {
            position,
            tree_size,
        })
        .await
        .map_err(|s| anyhow::anyhow!("{}: {}", s.code(), s.message()))?
        .into_inner();
    let proof = TreeInclusionProof::try_from(answer)?;
    let checkpoint = proof
        .verify(key)
        .with_context(|| format!("the proof of position {position} does not verify"))?;
    let e = &proof.event.envelope;
    if e.position != position {
        bail!(
            "the server answered with a proof of position {} instead of position {position}: \
             position {position} is not proven",
            e.position
        );
    }
    if tree_size != 0 && checkpoint.size != tree_size {
        bail!(
            "the server proved position {position} under the tree of size {} instead of {tree_size}",
            checkpoint.size
        );
    }
    let line = format!(
        "position {position} ({} v{} {}) is leaf {} of the tree of size {} signed by {} \
         (root {}): verified with {} hashes",
        e.stream,
        e.version,
        e.event_type,
        proof.event.leaf_index,
        checkpoint.size,
        key.origin,
        short(&checkpoint.root),
        proof.event.hashes.len()
    );
    Ok((line, proof))
}

/// Fetches the consistency proof from `from` to `to` (0: the latest) and checks it: both
/// checkpoints signed by the fund's key, and the larger tree extending the smaller.
pub async fn consistency(
    session: &Session,
    from: u64,
    to: u64,
    key: &LogKey,
    held: Option<&Checkpoint>,
) -> anyhow::Result<(String, ConsistencyProof)> {
    let answer = session
        .audit()
        .prove_consistency(v1::ProveConsistencyRequest {
            from_size: from,
            to_size: to,
        })
        .await
        .map_err(|s| anyhow::anyhow!("{}: {}", s.code(), s.message()))?
        .into_inner();
    let proof = ConsistencyProof::try_from(answer)?;
    if proof.from_size != from {
        bail!(
            "the server proved consistency from size {} instead of {from}",
            proof.from_size
        );
    }
    let (older, newer) = proof.verify(key, held).with_context(|| {
        format!("the tree does not verify as an extension of the tree of size {from}")
    })?;
    if to != 0 && newer.size != to {
        bail!(
            "the server proved consistency up to size {} instead of {to}",
            newer.size
        );
    }
    let line = format!(
        "the tree of size {} (root {}) extends the tree of size {} (root {}), both signed by \
         {}: verified with {} hashes",
        newer.size,
        short(&newer.root),
        older.size,
        short(&older.root),
        key.origin,
        proof.hashes.len()
    );
    Ok((line, proof))
}

/// A donor's own events with their proofs, page after page, each checked under the one
/// checkpoint, and each checked to be the donor's.
pub async fn receipts(
    session: &Session,
    donor: &str,
    tree_size: u64,
    key: &LogKey,
) -> anyhow::Result<(Vec<String>, Vec<TreeInclusionProof>)> {
    let mut after = 0;
    let mut proofs = Vec::new();
    let mut held: Option<(String, Checkpoint)> = None;
    loop {
        let answer = session
            .audit()
            .prove_donor_receipts(v1::ProveDonorReceiptsRequest {
                donor_id: donor.to_owned(),
                tree_size,
                after_position: after,
            })
            .await
            .map_err(|s| anyhow::anyhow!("{}: {}", s.code(), s.message()))?
            .into_inner();
        let page = DonorEvents::try_from(answer)?;
        let checkpoint = page
            .verify(key)
            .context("the donor's events do not verify")?;
        if let Some((_, first)) = &held
            && first != &checkpoint
        {
            bail!("the server changed checkpoints between pages");
        }
        for event in &page.events {
            let e = &event.envelope;
            if e.position <= after {
                bail!("the server repeated position {} across pages", e.position);
            }
            let own = fundtrail_projector::json::to_json(&e.event_type, &e.payload)
                .ok()
                .and_then(|json| serde_json::from_str::<serde_json::Value>(&json).ok())
                .is_some_and(|json| json.get("donorId").and_then(|d| d.as_str()) == Some(donor));
            if !own {
                bail!(
                    "the server sent position {} ({} {}), which is not donor {donor}'s",
                    e.position,
                    e.stream,
                    e.event_type
                );
            }
            after = e.position;
            proofs.push(TreeInclusionProof {
                checkpoint: page.checkpoint.clone(),
                event: event.clone(),
            });
        }
        held.get_or_insert((page.checkpoint.clone(), checkpoint));
        if page.next_after_position == 0 {
            break;
        }
        after = page.next_after_position;
    }
    let Some((_, checkpoint)) = held else {
        bail!("the server sent no checkpoint");
    };
    let mut lines: Vec<String> = proofs
        .iter()
        .map(|p| {
            let e = &p.event.envelope;
            format!(
                "position {} {} v{} {}",
                e.position, e.stream, e.version, e.event_type
            )
        })
        .collect();
    lines.push(format!(
        "{} events of donor {donor}, each verified under the tree of size {} (root {}) signed \
         by {}",
        proofs.len(),
        checkpoint.size,
        short(&checkpoint.root),
        key.origin
    ));
    Ok((lines, proofs))
}

/// One round of the witness: fetch the latest checkpoint, check it against the one held,
/// cosign it and hand the cosignature in. A fork is an error and nothing is cosigned.
pub async fn witness_once(
    session: &Session,
    state_path: &Path,
    witness: &Witness,
    key: &LogKey,
) -> anyhow::Result<String> {
    witness_note(session, state_path, witness, key, None).await
}

/// [`witness_once`] for the checkpoint `offered` (a note taken from the log), or the
/// server's latest when `None`.
pub async fn witness_note(
    session: &Session,
    state_path: &Path,
    witness: &Witness,
    key: &LogKey,
    offered: Option<String>,
) -> anyhow::Result<String> {
    let state = witness::load_state(state_path)?;
    let held = match &state {
        Some(state) => {
            if state.origin != key.origin || state.public_key != hex::encode(key.public_key) {
                bail!(
                    "{} witnesses the log {} with key {}, not {} with key {}",
                    state_path.display(),
                    state.origin,
                    state.public_key,
                    key.origin,
                    hex::encode(key.public_key)
                );
            }
            Some(
                note::open_checkpoint(&state.checkpoint, key)
                    .with_context(|| format!("the checkpoint kept in {}", state_path.display()))?
                    .0,
            )
        }
        None => None,
    };
    let latest_note = match offered {
        Some(note) => note,
        None => {
            session
                .audit()
                .get_tree_checkpoint(v1::GetTreeCheckpointRequest { tree_size: 0 })
                .await
                .map_err(|s| anyhow::anyhow!("{}: {}", s.code(), s.message()))?
                .into_inner()
                .note
        }
    };
    let (offered, _) = note::open_checkpoint(&latest_note, key)
        .context("the fund's latest tree checkpoint does not verify")?;
    let proof = match &held {
        Some(held) if held.size != offered.size => {
            let (from, to) = if held.size < offered.size {
                (held.size, offered.size)
            } else {
                (offered.size, held.size)
            };
            consistency_hashes(session, from, to).await?
        }
        _ => Vec::new(),
    };
    let accepted = witness::judge(held.as_ref(), &offered, &proof)?;
    witness::save_state(
        state_path,
        &WitnessState {
            origin: key.origin.clone(),
            public_key: hex::encode(key.public_key),
            checkpoint: latest_note.clone(),
        },
    )?;
    let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
    let cosignature = witness.cosign(&offered, now);
    session
        .audit()
        .submit_cosignature(v1::SubmitCosignatureRequest {
            tree_size: offered.size,
            cosignature: cosignature.line(),
            witness_public_key: witness.key().public_key.to_vec(),
        })
        .await
        .map_err(|s| anyhow::anyhow!("{}: {}", s.code(), s.message()))
        .context("handing in the cosignature")?;
    let how = match accepted {
        Accepted::First => "the first checkpoint this witness accepts of the log".to_owned(),
        Accepted::Unchanged => "the tree it accepted before, unchanged".to_owned(),
        Accepted::Extends { from } => format!("proven to extend the tree of size {from} it held"),
    };
    Ok(format!(
        "cosigned the tree of size {} (root {}) as {} at {now}: {how}",
        offered.size,
        short(&offered.root),
        witness.key().name
    ))
}

/// The server's consistency proof from `from` to `to`, unchecked: the caller judges it.
async fn consistency_hashes(
    session: &Session,
    from: u64,
    to: u64,
) -> anyhow::Result<Vec<[u8; 32]>> {
    session
        .audit()
        .prove_consistency(v1::ProveConsistencyRequest {
            from_size: from,
            to_size: to,
        })
        .await
        .map_err(|s| anyhow::anyhow!("{}: {}", s.code(), s.message()))?
        .into_inner()
        .hashes
        .into_iter()
        .map(|h| <[u8; 32]>::try_from(h.as_slice()))
        .collect::<Result<Vec<_>, _>>()
        .context("the server's consistency proof holds a hash that is not 32 bytes")
}

/// The fund's checkpoints as the log holds them: those of its key and origin kept, every
/// other message named with why it was refused. A fork (two trees of one size signed), or
/// with `--consistency` a kept tree that does not extend the one before, is an error.
pub async fn run_checkpoints(args: &CheckpointsArgs) -> anyhow::Result<Vec<String>> {
    let key = args.key.key()?;
    let session = if args.consistency {
        Some(Session::connect(&args.server.url()).await?)
    } else {
        None
    };
    checkpoints_from_log(&args.from_log, &key, session.as_ref()).await
}

/// [`run_checkpoints`]: what the log `log_url` holds of the fund's checkpoints under `key`,
/// each checked to extend the one before with the consistency proofs of `session` if given.
pub async fn checkpoints_from_log(
    log_url: &str,
    key: &LogKey,
    session: Option<&Session>,
) -> anyhow::Result<Vec<String>> {
    let label = fundtrail_telemetry::redact_url(log_url);
    let found = fundtrail_log::read_checkpoints(log_url, key, LOG_TIMEOUT)
        .await
        .with_context(|| format!("reading the checkpoints of {label}"))?;
    let mut lines: Vec<String> = found
        .refused
        .iter()
        .map(|r| format!("refused the message at {}: {}", r.at, r.reason))
        .collect();
    if let Some(fork) = found.refused.iter().find(|r| r.fork) {
        bail!(
            "{}\nthe log holds a fork: at {}, {}",
            lines.join("\n"),
            fork.at,
            fork.reason
        );
    }
    let mut previous: Option<&Checkpoint> = None;
    for (checkpoint, _) in found.accepted.values() {
        let signed = format!(
            "tree of size {} (root {}) signed by {}",
            checkpoint.size,
            short(&checkpoint.root),
            key.origin
        );
        if let (Some(session), Some(held)) = (session, previous) {
            let proof = consistency_hashes(session, held.size, checkpoint.size).await?;
            witness::judge(Some(held), checkpoint, &proof).with_context(|| {
                format!(
                    "the tree of size {} on the log does not extend the tree of size {}",
                    checkpoint.size, held.size
                )
            })?;
            lines.push(format!("{signed}: extends the tree of size {}", held.size));
        } else {
            lines.push(signed);
        }
        previous = Some(checkpoint);
    }
    lines.push(format!(
        "{} checkpoints of {} kept from {label}, {} messages refused",
        found.accepted.len(),
        key.origin,
        found.refused.len()
    ));
    Ok(lines)
}

pub async fn run_include(args: &IncludeArgs) -> anyhow::Result<Vec<String>> {
    let key = args.key.key()?;
    let session = Session::connect(&args.server.url()).await?;
    let (line, proof) = include(&session, args.position, args.tree_size, &key).await?;
    if let Some(out) = &args.out {
        write_json(out, &[serde_json::to_string(&InclusionFile::from(&proof))?])?;
    }
    Ok(vec![line])
}

pub async fn run_consistency(args: &ConsistencyArgs) -> anyhow::Result<Vec<String>> {
    let key = args.key.key()?;
    let session = Session::connect(&args.server.url()).await?;
    let (line, proof) = consistency(&session, args.from, args.to, &key, None).await?;
    if let Some(out) = &args.out {
        write_json(
            out,
            &[serde_json::to_string(&ConsistencyFile::from(&proof))?],
        )?;
    }
    Ok(vec![line])
}

pub async fn run_receipts(args: &ReceiptsArgs) -> anyhow::Result<Vec<String>> {
    let key = args.key.key()?;
    let session = Session::connect(&args.server.url()).await?;
    let (lines, proofs) = receipts(&session, args.donor.trim(), args.tree_size, &key).await?;
    if let Some(out) = &args.out {
        let records = proofs
            .iter()
            .map(|p| serde_json::to_string(&InclusionFile::from(p)))
            .collect::<Result<Vec<_>, _>>()?;
        write_json(out, &records)?;
    }
    Ok(lines)
}

pub async fn run_witness(args: &WitnessArgs) -> anyhow::Result<Vec<String>> {
    let key = args.key.key()?;
    let witness = Witness::load_or_generate(args.name.trim(), &args.key_file)?;
    let session = Session::connect(&args.server.url()).await?;
    let offered = match &args.from_log {
        None => None,
        Some(url) => {
            let label = fundtrail_telemetry::redact_url(url);
            let found = fundtrail_log::read_checkpoints(url, &key, LOG_TIMEOUT)
                .await
                .with_context(|| format!("reading the checkpoints of {label}"))?;
            if let Some(fork) = found.refused.iter().find(|r| r.fork) {
                bail!(
                    "the log {label} holds a fork: at {}, {}",
                    fork.at,
                    fork.reason
                );
            }
            let Some((_, note)) = found.latest() else {
                bail!("the log {label} holds no checkpoint of {}", key.origin);
            };
            Some(note.clone())
        }
    };
    Ok(vec![
        witness_note(&session, &args.state, &witness, &key, offered).await?,
    ])
}

pub async fn run_rebuild(args: &RebuildTreeArgs) -> anyhow::Result<Vec<String>> {
    let label = fundtrail_telemetry::redact_url(&args.store);
    let Source::Store(opened) = Source::store(&args.store)
        .await
        .with_context(|| format!("opening store {label}"))?
    else {
        bail!("{label} is not a store");
    };
    let size = follower::rebuild(opened.events.as_ref(), &opened.checkpoints).await?;
    Ok(vec![format!(
        "rebuilt the Merkle tree of store {label} from its events: {size} leaves"
    )])
}
