//! Counters for load tests: statements executed by kind, SQL API answers by status, and
//! requests in flight (now and at the peak) by the kind of credential presented, so a
//! benchmark can read what a run cost Snowflake and how hard a client pressed on it
//! (`GET /_emulator/stats`; `DELETE` resets the peaks). Counts only, never content.

use std::collections::BTreeMap;

use serde::Serialize;

/// What the emulator counted since it started.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Statements executed (resends answered from a first execution excluded), by kind
    /// (`ALTER USER ROTATE PAT`, `SELECT`, ...).
    pub statements: BTreeMap<String, u64>,
    /// Submits (`POST /api/v2/statements`), by credential (`KEYPAIR_JWT`,
    /// `PROGRAMMATIC_ACCESS_TOKEN`, `OAUTH`).
    pub submits: BTreeMap<String, u64>,
    /// Answers to `POST /api/v2/statements`, by HTTP status.
    pub answers: BTreeMap<u16, u64>,
    /// Submits being served now, by credential (`KEYPAIR_JWT`,
    /// `PROGRAMMATIC_ACCESS_TOKEN`, `OAUTH`).
    pub in_flight: BTreeMap<String, u32>,
    /// The most submits served at once since the last reset, by credential.
    pub peak_in_flight: BTreeMap<String, u32>,
}

impl Stats {
    /// One execution of a statement of `kind`.
    pub fn executed(&mut self, kind: &str) {
        *self.statements.entry(kind.to_owned()).or_default() += 1;
    }

    /// A submit with `credential` begins.
    pub fn begin(&mut self, credential: &str) {
        *self.submits.entry(credential.to_owned()).or_default() += 1;
        let now = self.in_flight.entry(credential.to_owned()).or_default();
        *now += 1;
        let now = *now;
        let peak = self
            .peak_in_flight
            .entry(credential.to_owned())
            .or_default();
        *peak = (*peak).max(now);
    }

    /// A submit with `credential` was answered with `status`.
    pub fn end(&mut self, credential: &str, status: u16) {
        if let Some(now) = self.in_flight.get_mut(credential) {
            *now = now.saturating_sub(1);
        }
        *self.answers.entry(status).or_default() += 1;
    }

    /// Starts the peaks again from what is in flight now.
    pub fn reset_peaks(&mut self) {
        self.peak_in_flight = self.in_flight.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peaks_follow_concurrent_submits_and_reset_to_the_present() {
        let mut stats = Stats::default();
        stats.begin("KEYPAIR_JWT");
        stats.begin("KEYPAIR_JWT");
        stats.begin("PROGRAMMATIC_ACCESS_TOKEN");
        stats.end("KEYPAIR_JWT", 200);
        stats.begin("KEYPAIR_JWT");
        stats.end("KEYPAIR_JWT", 429);
        assert_eq!(stats.peak_in_flight["KEYPAIR_JWT"], 2);
        assert_eq!(stats.submits["KEYPAIR_JWT"], 3);
        assert_eq!(stats.in_flight["KEYPAIR_JWT"], 1);
        assert_eq!(stats.answers[&200], 1);
        assert_eq!(stats.answers[&429], 1);
        stats.reset_peaks();
        assert_eq!(stats.peak_in_flight["KEYPAIR_JWT"], 1);
        stats.executed("SELECT");
        stats.executed("SELECT");
        assert_eq!(stats.statements["SELECT"], 2);
    }
}
