//! Executed statements kept for status polling, cancellation and idempotent retries
//! (same `requestId` with `retry=true` returns the first result instead of running
//! again). Results may hold a PAT secret, exactly as Snowflake keeps a result
//! retrievable by handle; they are never logged or exposed by the admin endpoints.

use std::collections::{HashMap, VecDeque};

use jiff::Timestamp;
use serde::Serialize;

use super::config::ResultPartitions;
use super::sql::{ResultSet, SqlError};

/// How a statement ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    Success(ResultSet),
    Failure(SqlError),
    Cancelled,
}

/// What keeps a statement "running" (async 202 path).
#[derive(Debug, Clone, Default)]
pub struct Pending {
    pub ready_at: Option<Timestamp>,
    pub polls_left: Option<u32>,
}

/// A stored statement.
#[derive(Debug, Clone)]
pub struct StoredStatement {
    pub handle: String,
    pub request_id: String,
    pub user: String,
    pub created_on: Timestamp,
    pub outcome: Outcome,
    pub pending: Option<Pending>,
}

/// A request-log line: which statement kind ran for a `requestId`, and how often.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RequestLogEntry {
    pub request_id: String,
    pub statement_handle: String,
    /// Who ran it (the session's user).
    pub user: String,
    /// Statement kind (e.g. `ALTER USER ADD PAT`), never the SQL text.
    pub statement: String,
    pub executions: u32,
    /// Submits of this `requestId` that carried `retry=true` and reached the SQL API
    /// (answered from the first execution, or executed when no earlier attempt got
    /// through), so tests can tell a resend from a fresh request and see that a
    /// permanent failure was not resent.
    pub resends: u32,
}

/// How many statements (and log lines) are kept; older ones are forgotten so a
/// long-running demo emulator does not grow without bound. Retries and polls happen
/// within seconds, far inside this window.
pub const RETAINED_STATEMENTS: usize = 10_000;

/// The most recent [`RETAINED_STATEMENTS`] statements, and how their results are cut
/// into partitions when answered (the same for the first answer, polls and resends).
#[derive(Debug, Default)]
pub struct StatementStore {
    by_handle: HashMap<String, StoredStatement>,
    by_request: HashMap<String, String>,
    order: VecDeque<String>,
    log: VecDeque<RequestLogEntry>,
    partitions: ResultPartitions,
}

impl StatementStore {
    /// An empty store answering results cut as `partitions` says.
    pub fn new(partitions: ResultPartitions) -> Self {
        Self {
            partitions,
            ..Self::default()
        }
    }

    /// How results are cut into partitions.
    pub fn partitions(&self) -> &ResultPartitions {
        &self.partitions
    }

    pub fn insert(&mut self, statement: StoredStatement, label: &str) {
        while self.order.len() >= RETAINED_STATEMENTS {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some(old) = self.by_handle.remove(&oldest)
                && self.by_request.get(&old.request_id) == Some(&oldest)
            {
                self.by_request.remove(&old.request_id);
            }
            self.log.pop_front();
        }
        self.order.push_back(statement.handle.clone());
        self.by_request
            .insert(statement.request_id.clone(), statement.handle.clone());
        self.log.push_back(RequestLogEntry {
            request_id: statement.request_id.clone(),
            statement_handle: statement.handle.clone(),
            user: statement.user.clone(),
            statement: label.to_owned(),
            executions: 1,
            resends: 0,
        });
        self.by_handle.insert(statement.handle.clone(), statement);
    }

    /// Counts a `retry=true` submit of `request_id` on its latest log line.
    pub fn note_resend(&mut self, request_id: &str) {
        if let Some(entry) = self
            .log
            .iter_mut()
            .rev()
            .find(|e| e.request_id == request_id)
        {
            entry.resends += 1;
        }
    }

    /// Resends counted for `request_id` (see [`RequestLogEntry::resends`]).
    pub fn resends_for(&self, request_id: &str) -> u32 {
        self.log
            .iter()
            .filter(|e| e.request_id == request_id)
            .map(|e| e.resends)
            .sum()
    }

    /// The handle of the statement submitted with `request_id`.
    pub fn handle_for_request(&self, request_id: &str) -> Option<&str> {
        self.by_request.get(request_id).map(String::as_str)
    }

    pub fn get(&self, handle: &str) -> Option<&StoredStatement> {
        self.by_handle.get(handle)
    }

    pub fn get_mut(&mut self, handle: &str) -> Option<&mut StoredStatement> {
        self.by_handle.get_mut(handle)
    }

    /// Executions per `requestId`, summed over log lines.
    pub fn executions_for(&self, request_id: &str) -> u32 {
        self.log
            .iter()
            .filter(|e| e.request_id == request_id)
            .map(|e| e.executions)
            .sum()
    }

    pub fn log(&self) -> Vec<RequestLogEntry> {
        self.log.iter().cloned().collect()
    }
}

impl Pending {
    /// True while the statement should still answer 202. Counts one poll.
    pub fn still_running(&mut self, now: Timestamp) -> bool {
        let waiting_time = self.ready_at.is_some_and(|at| now < at);
        let waiting_polls = match self.polls_left.as_mut() {
            Some(left) if *left > 0 => {
                *left -= 1;
                true
            }
            _ => false,
        };
        waiting_time || waiting_polls
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::sql::ResultSet;

    fn statement(i: usize) -> StoredStatement {
        StoredStatement {
            handle: format!("h{i}"),
            request_id: format!("r{i}"),
            user: "U".into(),
            created_on: Timestamp::UNIX_EPOCH,
            outcome: Outcome::Success(ResultSet::status("ok")),
            pending: None,
        }
    }

    #[test]
    fn old_statements_are_forgotten_beyond_the_window() {
        let mut store = StatementStore::default();
        for i in 0..=RETAINED_STATEMENTS {
            store.insert(statement(i), "SELECT");
        }
        assert!(store.get("h0").is_none());
        assert!(store.handle_for_request("r0").is_none());
        assert!(store.get(&format!("h{RETAINED_STATEMENTS}")).is_some());
        assert_eq!(store.log().len(), RETAINED_STATEMENTS);
        assert_eq!(store.executions_for("r1"), 1);
    }

    #[test]
    fn resends_are_counted_per_request_id() {
        let mut store = StatementStore::default();
        store.insert(statement(1), "SELECT");
        store.insert(statement(2), "SELECT");
        store.note_resend("r1");
        store.note_resend("r1");
        store.note_resend("unknown");
        assert_eq!(store.resends_for("r1"), 2);
        assert_eq!(store.resends_for("r2"), 0);
        assert_eq!(store.executions_for("r1"), 1);
    }
}
