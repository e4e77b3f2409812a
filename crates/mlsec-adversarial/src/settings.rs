//! What an evaluation is: every setting that decides its numbers. A run resolves each one from
//! the command line, else from the baseline it is compared with, else from the default, so
//! `--model M --baseline B` alone repeats exactly the evaluation recorded in `B`.
//!
//! The settings split in two. The *selection* (attacks, ε, CW's L2 budgets) may be narrowed on
//! the command line: `--attack fgsm --epsilon 0.03` against a baseline of FGSM and PGD at two
//! budgets runs and compares only `fgsm@0.03`. Everything else is the evaluation's *identity*:
//! a value that differs from the baseline's makes the comparison meaningless, so it is an error
//! (or, with `--update-baseline`, the start of a new baseline).

use serde::{Deserialize, Serialize};

use crate::{Args, AttackKind, Targeted};

/// The defaults, stated once (the flags' help text repeats them).
pub const DEFAULT_ATTACKS: &[AttackKind] = &[AttackKind::Fgsm];
pub const DEFAULT_EPSILON: &[f32] = &[0.03];
pub const DEFAULT_L2_BUDGETS: &[f32] = &[0.5, 1.0, 2.0];
pub const DEFAULT_X_KEY: &str = "x";
pub const DEFAULT_Y_KEY: &str = "y";

/// Every setting that decides the attacks' numbers, defaults resolved. `input_range` stays
/// `None` until the run resolves it from the model's metadata or the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub attacks: Vec<AttackKind>,
    pub epsilon: Vec<f32>,
    pub l2_budget: Vec<f32>,
    pub steps: usize,
    /// PGD's step size α; `None` is 2.5·ε/steps.
    pub step_size: Option<f32>,
    pub restarts: usize,
    pub cw: CwSettings,
    pub seed: u64,
    pub early_stop: bool,
    pub targeted: Option<Targeted>,
    pub input_range: Option<[f32; 2]>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CwSettings {
    pub steps: usize,
    pub binary_steps: usize,
    pub initial_const: f64,
    pub learning_rate: f64,
    pub confidence: f64,
}

/// Which labelled data an evaluation ran on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataRef {
    /// As written in the baseline: relative to the baseline file's directory when it can be.
    pub path: String,
    pub x_key: String,
    pub y_key: String,
    pub limit: Option<usize>,
    pub samples: usize,
    pub sha256: String,
}

fn sorted(mut v: Vec<f32>) -> Vec<f32> {
    v.sort_by(f32::total_cmp);
    v.dedup();
    v
}

impl Settings {
    /// The command line over `recorded` (a baseline's settings) over the defaults.
    pub fn resolve(args: &Args, recorded: Option<&Settings>) -> Settings {
        let pick = |given: &Option<Vec<f32>>, rec: Option<&Vec<f32>>, default: &[f32]| {
            sorted(
                given
                    .clone()
                    .or_else(|| rec.cloned())
                    .unwrap_or_else(|| default.to_vec()),
            )
        };
        let mut attacks = args
            .attack
            .clone()
            .or_else(|| recorded.map(|r| r.attacks.clone()))
            .unwrap_or_else(|| DEFAULT_ATTACKS.to_vec());
        attacks.sort();
        attacks.dedup();
        let rec_cw = recorded.map(|r| &r.cw);
        Settings {
            attacks,
            epsilon: pick(&args.epsilon, recorded.map(|r| &r.epsilon), DEFAULT_EPSILON),
            l2_budget: pick(
                &args.l2_budget,
                recorded.map(|r| &r.l2_budget),
                DEFAULT_L2_BUDGETS,
            ),
            steps: args.steps.or(recorded.map(|r| r.steps)).unwrap_or(20),
            step_size: args.step_size.or(recorded.and_then(|r| r.step_size)),
            restarts: args.restarts.or(recorded.map(|r| r.restarts)).unwrap_or(1),
            cw: CwSettings {
                steps: args.cw_steps.or(rec_cw.map(|c| c.steps)).unwrap_or(1000),
                binary_steps: args
                    .cw_binary_steps
                    .or(rec_cw.map(|c| c.binary_steps))
                    .unwrap_or(9),
                initial_const: args
                    .cw_initial_const
                    .or(rec_cw.map(|c| c.initial_const))
                    .unwrap_or(1e-3),
                learning_rate: args
                    .cw_learning_rate
                    .or(rec_cw.map(|c| c.learning_rate))
                    .unwrap_or(0.01),
                confidence: args
                    .cw_confidence
                    .or(rec_cw.map(|c| c.confidence))
                    .unwrap_or(0.0),
            },
            seed: args.seed.or(recorded.map(|r| r.seed)).unwrap_or(0),
            early_stop: !args.no_early_stop && recorded.is_none_or(|r| r.early_stop),
            targeted: args.targeted.or(recorded.and_then(|r| r.targeted)),
            input_range: args
                .input_range
                .map(|(lo, hi)| [lo, hi])
                .or(recorded.and_then(|r| r.input_range)),
        }
    }

    /// Why a comparison of a run with these settings against `recorded` would be meaningless:
    /// an identity setting differs, or the selection asks for something the baseline lacks.
    pub fn mismatches(&self, recorded: &Settings) -> Vec<String> {
        let mut out = Vec::new();
        let mut same = |name: &str, a: String, b: String| {
            if a != b {
                out.push(format!("{name} is {a}, the baseline's {b}"));
            }
        };
        same(
            "--steps",
            self.steps.to_string(),
            recorded.steps.to_string(),
        );
        same(
            "--step-size",
            format!("{:?}", self.step_size),
            format!("{:?}", recorded.step_size),
        );
        same(
            "--restarts",
            self.restarts.to_string(),
            recorded.restarts.to_string(),
        );
        same(
            "the CW parameters",
            format!("{:?}", self.cw),
            format!("{:?}", recorded.cw),
        );
        same("--seed", self.seed.to_string(), recorded.seed.to_string());
        same(
            "early stopping",
            self.early_stop.to_string(),
            recorded.early_stop.to_string(),
        );
        same(
            "--targeted",
            format!("{:?}", self.targeted),
            format!("{:?}", recorded.targeted),
        );
        same(
            "--input-range",
            format!("{:?}", self.input_range),
            format!("{:?}", recorded.input_range),
        );
        for a in &self.attacks {
            if !recorded.attacks.contains(a) {
                out.push(format!(
                    "the baseline has no `{}` results (it has {})",
                    a.name(),
                    recorded
                        .attacks
                        .iter()
                        .map(|a| a.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        let has_linf = self.attacks.iter().any(|a| *a != AttackKind::Cw);
        let missing = |now: &[f32], rec: &[f32]| -> Vec<String> {
            now.iter()
                .filter(|e| !rec.contains(e))
                .map(f32::to_string)
                .collect()
        };
        let eps = missing(&self.epsilon, &recorded.epsilon);
        if has_linf && !eps.is_empty() {
            out.push(format!(
                "the baseline has no results at ε = {} (it has {:?})",
                eps.join(", "),
                recorded.epsilon
            ));
        }
        let l2 = missing(&self.l2_budget, &recorded.l2_budget);
        if self.attacks.contains(&AttackKind::Cw) && !l2.is_empty() {
            out.push(format!(
                "the baseline has no CW results at L2 = {} (it has {:?})",
                l2.join(", "),
                recorded.l2_budget
            ));
        }
        out
    }

    /// PGD's step size α at budget `eps`: `--step-size`, else 2.5·ε/steps (Madry et al.).
    pub fn pgd_step_size(&self, eps: f32) -> f32 {
        self.step_size
            .unwrap_or(2.5 * eps / self.steps.max(1) as f32)
    }
}

/// `path` as seen from `base` (a directory): relative when both resolve on this machine, so a
/// baseline and its data can move together (a repository checked out elsewhere); otherwise
/// absolute.
pub fn relative_to(path: &std::path::Path, base: &std::path::Path) -> String {
    use std::path::{Component, PathBuf};
    let (Ok(path), Ok(base)) = (path.canonicalize(), base.canonicalize()) else {
        return path.display().to_string();
    };
    let p: Vec<Component> = path.components().collect();
    let b: Vec<Component> = base.components().collect();
    let common = p.iter().zip(&b).take_while(|(x, y)| x == y).count();
    if common == 0 {
        return path.display().to_string();
    }
    let mut rel = PathBuf::new();
    for _ in common..b.len() {
        rel.push("..");
    }
    for c in &p[common..] {
        rel.push(c.as_os_str());
    }
    if rel.as_os_str().is_empty() {
        rel.push(".");
    }
    rel.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_walk_up_and_down() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("ci")).unwrap();
        std::fs::create_dir_all(root.join("data/digits")).unwrap();
        assert_eq!(
            relative_to(&root.join("data/digits"), &root.join("ci")),
            "../data/digits"
        );
        assert_eq!(relative_to(&root.join("data/digits"), root), "data/digits");
        assert_eq!(relative_to(root, root), ".");
        // Nothing to resolve: as given.
        assert_eq!(
            relative_to(std::path::Path::new("no/such"), root),
            "no/such"
        );
    }
}
