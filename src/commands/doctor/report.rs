//! The report `doctor` prints: the outcome of each step, and its text and `--json` forms.
//!
//! Why it exists: the steps decide what to say, this module alone decides how it looks, so
//! the text layout, the JSON schema and the verdict line (and its exit status) are defined
//! once, whatever step produced them.

use std::time::Duration;

use serde_json::{Value, json};

use crate::error::Error;

/// The outcome of one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Warn,
    Fail,
    Skipped,
    /// The setup is right, but a person must act before the rest can be checked (sign in):
    /// the run's status is the step error's (6).
    Action,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Skipped => "skipped",
            Status::Action => "action",
        }
    }
}

/// One checked step: a one-line summary, ordered details, and for problems what to do.
#[derive(Debug)]
pub struct Step {
    /// Stable machine name: targets, region, endpoint, profile, credentials, cache, call.
    pub id: &'static str,
    pub status: Status,
    pub summary: String,
    /// Machine-readable facts (all in `--json`); the flag says whether the text report shows
    /// it too (most are already in the summary line).
    pub details: Vec<(&'static str, Value, bool)>,
    pub fix: Option<String>,
    /// The error behind a `Fail`; its exit code is the run's when it is the first failure.
    pub error: Option<Error>,
}

impl Step {
    pub(super) fn new(id: &'static str, status: Status, summary: impl Into<String>) -> Step {
        Step {
            id,
            status,
            summary: summary.into(),
            details: Vec::new(),
            fix: None,
            error: None,
        }
    }

    pub(super) fn failed(id: &'static str, error: Error) -> Step {
        let mut s = Step::new(id, Status::Fail, error.to_string());
        s.error = Some(error);
        s
    }

    pub(super) fn skipped(id: &'static str, because: &str) -> Step {
        Step::new(id, Status::Skipped, format!("skipped: {because}"))
    }

    /// A fact for `--json` only.
    pub(super) fn detail(mut self, key: &'static str, value: impl Into<Value>) -> Step {
        self.details.push((key, value.into(), false));
        self
    }

    /// A fact for `--json` and the text report.
    pub(super) fn note(mut self, key: &'static str, value: impl Into<Value>) -> Step {
        self.details.push((key, value.into(), true));
        self
    }

    pub(super) fn fix(mut self, fix: impl Into<String>) -> Step {
        self.fix = Some(fix.into());
        self
    }

    pub(super) fn passed(&self) -> bool {
        matches!(self.status, Status::Ok | Status::Warn)
    }
}

/// The whole report, in step order.
#[derive(Debug, Default)]
pub struct Report {
    pub steps: Vec<Step>,
}

impl Report {
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }

    /// The first step that failed or waits for a person: it decides the exit status.
    fn first_failure(&self) -> Option<&Step> {
        self.steps
            .iter()
            .find(|s| matches!(s.status, Status::Fail | Status::Action))
    }

    /// 0 when every step is ok or warn, else the exit code of the first failure's error.
    pub fn exit_code(&self) -> u8 {
        self.first_failure()
            .map_or(0, |s| s.error.as_ref().map_or(1, |e| e.exit_code() as u8))
    }

    fn verdict(&self) -> String {
        let warnings = self
            .steps
            .iter()
            .filter(|s| s.status == Status::Warn)
            .count();
        match self.first_failure() {
            Some(f) if f.status == Status::Action => format!(
                "{} needed at step '{}' (exit status {})",
                if self.exit_code() == crate::error::ExitCode::SignIn as u8 {
                    "sign-in"
                } else {
                    "action"
                },
                f.id,
                self.exit_code()
            ),
            Some(f) => format!(
                "failed at step '{}' (exit status {})",
                f.id,
                self.exit_code()
            ),
            None if warnings > 0 => format!(
                "all checks passed, with {warnings} warning{}",
                if warnings == 1 { "" } else { "s" }
            ),
            None => "all checks passed".to_owned(),
        }
    }

    /// The `--json` document.
    pub fn to_json(&self) -> Value {
        let steps: Vec<Value> = self
            .steps
            .iter()
            .map(|s| {
                let details: serde_json::Map<String, Value> = s
                    .details
                    .iter()
                    .map(|(k, v, _)| ((*k).to_owned(), v.clone()))
                    .collect();
                json!({
                    "step": s.id,
                    "status": s.status.as_str(),
                    "summary": s.summary,
                    "details": details,
                    "fix": s.fix,
                })
            })
            .collect();
        json!({
            "version": 1,
            "ok": self.first_failure().is_none(),
            "exit_code": self.exit_code(),
            "verdict": self.verdict(),
            "steps": steps,
        })
    }

    /// The readable report: one line per step, its details indented below it.
    pub fn to_text(&self) -> String {
        let mut out = String::from("redshift-idc-token doctor\n\n");
        for s in &self.steps {
            out.push_str(&format!(
                "{:<8} {:<12} {}\n",
                s.status.as_str(),
                s.id,
                s.summary
            ));
            for (k, v, _) in s.details.iter().filter(|d| d.2) {
                let v = match v {
                    Value::String(s) => s.clone(),
                    Value::Array(items) => items
                        .iter()
                        .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                        .collect::<Vec<_>>()
                        .join(", "),
                    other => other.to_string(),
                };
                out.push_str(&format!("{:22}{k}: {v}\n", ""));
            }
            if let Some(fix) = &s.fix {
                out.push_str(&format!("{:22}fix: {fix}\n", ""));
            }
        }
        out.push_str(&format!("\nresult: {}\n", self.verdict()));
        out
    }
}

/// `14m59s`, `2h05m`, `42s`.
pub(super) fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(human(Duration::from_secs(899)), "14m59s");
        assert_eq!(human(Duration::from_secs(7500)), "2h05m");
    }
}
