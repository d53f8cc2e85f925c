//! `fundtrail attention`: the "needs attention" queue — events the fund's consumers moved past
//! without their effect — and re-driving one of them.

use std::time::Duration;

use anyhow::bail;
use clap::{Args, Subcommand, ValueEnum};
use fundtrail_proto::v1;

use super::Global;
use super::output::{self, Table};
use super::session::Session;

#[derive(Debug, Args)]
pub struct AttentionArgs {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: AttentionCommand,
}

#[derive(Debug, Subcommand)]
enum AttentionCommand {
    /// List what needs attention: events a process manager or the projector could not take
    /// into effect (an undecodable payload, a failure through every retry, a command a rule
    /// refused), oldest first.
    List(ListArgs),
    /// Ask the consumer that parked an item to handle its event again (administrators). The
    /// effect is written once however often an item is re-driven.
    Redrive(RedriveArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    Undecodable,
    Failed,
    Refused,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum State {
    Open,
    RedriveRequested,
    Resolved,
}

/// Which items to list.
#[derive(Debug, Clone, Default, Args)]
pub struct ListArgs {
    /// Only this consumer's items, e.g. pledges.matching or projector.
    #[arg(long)]
    pub consumer: Option<String>,
    /// Only items of this kind.
    #[arg(long, value_enum)]
    pub kind: Option<Kind>,
    /// Only items in this state (by default: open and re-drive requested).
    #[arg(long, value_enum, conflicts_with = "all")]
    pub state: Option<State>,
    /// Resolved items too.
    #[arg(long)]
    pub all: bool,
    /// Items after this id (the last id of the previous page).
    #[arg(long, default_value_t = 0)]
    pub after: u64,
    /// At most this many items (up to 1000).
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
}

#[derive(Debug, Args)]
struct RedriveArgs {
    /// The item's id, as `fundtrail attention list` shows it.
    id: u64,
    /// How long to wait for the consumer to handle it, in seconds; 0 to only ask.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    wait: u64,
}

impl ListArgs {
    fn request(&self) -> anyhow::Result<v1::ListAttentionItemsRequest> {
        if self.limit == 0 || self.limit > 1000 {
            bail!("--limit: from 1 to 1000");
        }
        Ok(v1::ListAttentionItemsRequest {
            consumer: self
                .consumer
                .as_deref()
                .map(str::trim)
                .unwrap_or_default()
                .to_owned(),
            kind: match self.kind {
                None => v1::AttentionKind::Unspecified,
                Some(Kind::Undecodable) => v1::AttentionKind::Undecodable,
                Some(Kind::Failed) => v1::AttentionKind::Failed,
                Some(Kind::Refused) => v1::AttentionKind::Refused,
            }
            .into(),
            state: match self.state {
                None => v1::AttentionState::Unspecified,
                Some(State::Open) => v1::AttentionState::Open,
                Some(State::RedriveRequested) => v1::AttentionState::RedriveRequested,
                Some(State::Resolved) => v1::AttentionState::Resolved,
            }
            .into(),
            include_resolved: self.all,
            after_id: self.after,
            limit: self.limit,
        })
    }
}

fn kind(item: &v1::AttentionItem) -> &'static str {
    match item.kind() {
        v1::AttentionKind::Undecodable => "undecodable",
        v1::AttentionKind::Failed => "failed",
        v1::AttentionKind::Refused => "refused",
        v1::AttentionKind::Unspecified => "?",
    }
}

fn state(item: &v1::AttentionItem) -> &'static str {
    match item.state() {
        v1::AttentionState::Open => "open",
        v1::AttentionState::RedriveRequested => "redrive requested",
        v1::AttentionState::Resolved => "resolved",
        v1::AttentionState::Unspecified => "?",
    }
}

fn short_type(event_type: &str) -> &str {
    event_type
        .strip_prefix("fundtrail.v1.")
        .unwrap_or(event_type)
}

/// What went wrong, on one line: the rule's code first when a rule refused.
fn why(item: &v1::AttentionItem) -> String {
    let cause = item.cause.split_whitespace().collect::<Vec<_>>().join(" ");
    if item.reason.is_empty() {
        cause
    } else {
        format!("{}: {cause}", item.reason)
    }
}

/// The items as a table for people.
pub fn table(items: &[v1::AttentionItem]) -> String {
    if items.is_empty() {
        return "nothing needs attention".to_owned();
    }
    let mut table = Table::new(&[
        ">ID",
        "CONSUMER",
        ">POSITION",
        "EVENT",
        "KIND",
        "STATE",
        ">ATTEMPTS",
        "LAST SEEN",
        "WHY",
    ]);
    for item in items {
        table.row(vec![
            item.id.to_string(),
            item.consumer.clone(),
            item.position.to_string(),
            short_type(&item.event_type).to_owned(),
            kind(item).to_owned(),
            state(item).to_owned(),
            item.attempts.to_string(),
            item.last_seen.clone(),
            why(item),
        ]);
    }
    table.render()
}

/// The items `args` asks for.
pub async fn list(session: &Session, args: &ListArgs) -> anyhow::Result<Vec<v1::AttentionItem>> {
    let request = args.request()?;
    let response = session.answer(
        session
            .attention()
            .list_attention_items(session.request(request))
            .await,
        None,
    )?;
    Ok(response.items)
}

/// How a re-drive ended, in words.
pub fn describe(item: &v1::AttentionItem) -> String {
    let what = format!(
        "item {} ({} at position {}, {})",
        item.id,
        item.consumer,
        item.position,
        short_type(&item.event_type)
    );
    match item.state() {
        v1::AttentionState::Resolved => format!(
            "resolved {what}: it took effect after {} attempts",
            item.attempts
        ),
        v1::AttentionState::RedriveRequested => {
            format!("re-drive requested for {what}; its consumer handles it between events")
        }
        _ => format!(
            "{what} is still open after {} attempts: {}",
            item.attempts,
            why(item)
        ),
    }
}

/// Asks for a re-drive of item `id` and, given a `wait`, waits that long for its consumer to
/// settle it. Answers with the item as it last stood.
pub async fn redrive(
    session: &Session,
    id: u64,
    wait: Option<Duration>,
) -> anyhow::Result<v1::AttentionItem> {
    if id == 0 {
        bail!("an item's id is a positive number, as `fundtrail attention list` shows it");
    }
    let requested = session.answer(
        session
            .attention()
            .redrive_attention_item(session.request(v1::RedriveAttentionItemRequest { id }))
            .await,
        None,
    )?;
    let Some(wait) = wait else {
        return Ok(requested);
    };
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let item = session.answer(
            session
                .attention()
                .get_attention_item(session.request(v1::GetAttentionItemRequest { id }))
                .await,
            None,
        )?;
        if item.state() != v1::AttentionState::RedriveRequested {
            return Ok(item);
        }
        if tokio::time::Instant::now() >= deadline {
            bail!(
                "{} did not handle item {id} within {} s: is a server running it? The request \
                 stays; it is handled when the consumer next runs",
                item.consumer,
                wait.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub async fn run(args: AttentionArgs) -> anyhow::Result<()> {
    let json = args.global.json;
    let session = args.global.session().await?;
    match args.command {
        AttentionCommand::List(list_args) => {
            let items = list(&session, &list_args).await?;
            let response = v1::ListAttentionItemsResponse { items };
            output::show(
                json,
                "fundtrail.v1.ListAttentionItemsResponse",
                &response,
                |r| table(&r.items),
            )
        }
        AttentionCommand::Redrive(redrive_args) => {
            let wait = (redrive_args.wait > 0).then(|| Duration::from_secs(redrive_args.wait));
            let item = redrive(&session, redrive_args.id, wait).await?;
            output::show(json, "fundtrail.v1.AttentionItem", &item, describe)?;
            if item.state() == v1::AttentionState::Open {
                bail!("item {} still needs attention", item.id);
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item() -> v1::AttentionItem {
        v1::AttentionItem {
            id: 7,
            consumer: "pledges.matching".into(),
            position: 12,
            event_type: "fundtrail.v1.ContributionReceived".into(),
            kind: v1::AttentionKind::Refused.into(),
            reason: "MATCHING_CAP_EXCEEDED".into(),
            cause: "the pool's cap is 100.00 USD;\nonly 0.00 USD is left to match".into(),
            attempts: 1,
            state: v1::AttentionState::Open.into(),
            ..Default::default()
        }
    }

    #[test]
    fn items_read_as_a_table_with_the_rules_code() {
        let text = table(&[item()]);
        let row = text.lines().nth(1).unwrap();
        for part in [
            "7",
            "pledges.matching",
            "12",
            "ContributionReceived",
            "refused",
            "open",
            "MATCHING_CAP_EXCEEDED: the pool's cap is 100.00 USD; only 0.00 USD is left",
        ] {
            assert!(row.contains(part), "{part} in {row}");
        }
        assert_eq!(table(&[]), "nothing needs attention");
    }

    #[test]
    fn outcomes_say_what_became_of_the_item() {
        assert!(describe(&item()).contains("still open after 1 attempts"));
        let resolved = v1::AttentionItem {
            state: v1::AttentionState::Resolved.into(),
            attempts: 2,
            ..item()
        };
        assert!(describe(&resolved).starts_with("resolved item 7"));
    }

    #[test]
    fn limits_are_checked_before_asking() {
        let bad = ListArgs {
            limit: 0,
            ..ListArgs::default()
        };
        assert!(bad.request().is_err());
        let all = ListArgs {
            all: true,
            limit: 10,
            ..ListArgs::default()
        };
        assert!(all.request().unwrap().include_resolved);
    }
}
