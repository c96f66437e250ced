//! The import report: per service, each ECS setting, what it became, and how faithful that is.

use std::fmt::Write as _;

/// How faithfully one ECS setting was carried over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// The scaler (or KEDA) does what ECS did.
    Exact,
    /// Written, but it behaves differently; why.
    Approximate(String),
    /// Not carried over as it is, or carried over in a form that cannot work after the move:
    /// what the user must decide.
    Decide(String),
}

impl Status {
    /// Whether the setting was carried over exactly.
    pub fn is_exact(&self) -> bool {
        matches!(self, Status::Exact)
    }

    fn text(&self) -> String {
        match self {
            Status::Exact => "exact".to_owned(),
            Status::Approximate(why) => format!("approximate: {why}"),
            Status::Decide(what) => format!("decide: {what}"),
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The ECS setting.
    pub setting: String,
    /// What it became.
    pub became: String,
    /// How faithfully.
    pub status: Status,
}

/// The report of one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// `service/<cluster>/<service>`.
    pub resource_id: String,
    /// `<namespace>/<name>` of what was written.
    pub written_as: String,
    /// The rows, in the order of the ECS configuration.
    pub rows: Vec<Row>,
}

impl Report {
    /// A report without rows.
    pub fn new(resource_id: &str, written_as: &str) -> Self {
        Self {
            resource_id: resource_id.to_owned(),
            written_as: written_as.to_owned(),
            rows: Vec::new(),
        }
    }

    /// Adds a row.
    pub fn push(&mut self, setting: impl Into<String>, became: impl Into<String>, status: Status) {
        self.rows.push(Row {
            setting: setting.into(),
            became: became.into(),
            status,
        });
    }

    /// Counts of exact, approximate and to-decide rows.
    pub fn counts(&self) -> (usize, usize, usize) {
        self.rows
            .iter()
            .fold((0, 0, 0), |(e, a, d), row| match row.status {
                Status::Exact => (e + 1, a, d),
                Status::Approximate(_) => (e, a + 1, d),
                Status::Decide(_) => (e, a, d + 1),
            })
    }

    /// Whether every row is exact.
    pub fn is_exact(&self) -> bool {
        self.rows.iter().all(|row| row.status.is_exact())
    }

    /// The report as a Markdown section.
    pub fn to_markdown(&self) -> String {
        let (exact, approximate, decide) = self.counts();
        let mut out = String::new();
        let _ = writeln!(out, "## {} -> {}", self.resource_id, self.written_as);
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{exact} exact, {approximate} approximate, {decide} to decide."
        );
        let _ = writeln!(out);
        let _ = writeln!(out, "| ECS setting | became | translation |");
        let _ = writeln!(out, "|---|---|---|");
        for row in &self.rows {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                cell(&row.setting),
                cell(&row.became),
                cell(&row.status.text())
            );
        }
        out
    }
}

/// Text safe inside a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The whole report: a title, the notes that concern every service, then one section per
/// service.
pub fn render(reports: &[Report], notes: &[String]) -> String {
    let mut out = String::from("# ecs-scaler import report\n\n");
    let (mut exact, mut approximate, mut decide) = (0, 0, 0);
    for report in reports {
        let (e, a, d) = report.counts();
        exact += e;
        approximate += a;
        decide += d;
    }
    let _ = writeln!(
        out,
        "{} service(s): {exact} setting(s) exact, {approximate} approximate, {decide} to decide.",
        reports.len()
    );
    out.push('\n');
    for note in notes {
        let _ = writeln!(out, "- {note}");
    }
    if !notes.is_empty() {
        out.push('\n');
    }
    for report in reports {
        out.push_str(&report.to_markdown());
        out.push('\n');
    }
    out
}
