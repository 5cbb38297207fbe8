//! The table of steps: which crate and binary each step is, and its chapter. One place, so
//! `run`, `step` and `test` agree (later steps append a row).

pub struct StepInfo {
    pub number: u8,
    pub title: &'static str,
    /// The package that holds the step (and its integration tests).
    pub package: &'static str,
    /// The binary that serves it.
    pub binary: &'static str,
    pub chapter: &'static str,
}

pub const STEPS: &[StepInfo] = &[StepInfo {
    number: 0,
    title: "the baseline monolith",
    package: "common",
    binary: "shop",
    chapter: "docs/00-baseline.md",
}];

pub fn find(number: u8) -> anyhow::Result<&'static StepInfo> {
    STEPS.iter().find(|s| s.number == number).ok_or_else(|| {
        let known: Vec<String> = STEPS.iter().map(|s| s.number.to_string()).collect();
        anyhow::anyhow!(
            "step {number} does not exist yet; steps available: {}",
            known.join(", ")
        )
    })
}
