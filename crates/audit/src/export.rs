//! Writing the export file whose format `fundtrail_verifier::export` defines and reads: one
//! record per line, in the order the format requires.

use std::io::Write;

use fundtrail_verifier::chain::GENESIS;
use fundtrail_verifier::export::{CHAIN, FORMAT, FORMAT_VERSION, Record};
use fundtrail_verifier::{Envelope, SignedCheckpoint};

/// Writes an export, record by record, in the order the format requires.
#[derive(Debug)]
pub struct ExportWriter<W: Write> {
    out: W,
    events: u64,
    last: (u64, [u8; 32]),
}

impl<W: Write> ExportWriter<W> {
    pub fn start(mut out: W, source: &str, exported_at: &str) -> std::io::Result<Self> {
        write_record(
            &mut out,
            &Record::Header {
                format: FORMAT.to_owned(),
                format_version: FORMAT_VERSION,
                chain: CHAIN.to_owned(),
                exported_at: exported_at.to_owned(),
                source: source.to_owned(),
            },
        )?;
        Ok(Self {
            out,
            events: 0,
            last: (0, GENESIS),
        })
    }

    pub fn event(&mut self, e: &Envelope) -> std::io::Result<()> {
        write_record(&mut self.out, &Record::Event(e.into()))?;
        self.events += 1;
        self.last = (e.position, e.hash);
        Ok(())
    }

    /// The last exported position.
    pub fn last_position(&self) -> u64 {
        self.last.0
    }

    pub fn checkpoint(&mut self, c: &SignedCheckpoint) -> std::io::Result<()> {
        write_record(&mut self.out, &Record::Checkpoint(c.into()))
    }

    pub fn public_key(&mut self, key: &[u8; 32]) -> std::io::Result<()> {
        write_record(
            &mut self.out,
            &Record::PublicKey {
                ed25519: hex::encode(key),
            },
        )
    }

    pub fn finish(mut self) -> std::io::Result<W> {
        write_record(
            &mut self.out,
            &Record::End {
                events: self.events,
                last_position: self.last.0,
                last_hash: hex::encode(self.last.1),
            },
        )?;
        self.out.flush()?;
        Ok(self.out)
    }
}

fn write_record(out: &mut impl Write, record: &Record) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, record)?;
    out.write_all(b"\n")
}
