use mlsec_core::{Finding, Location};

use super::Cx;
use crate::detector::{Alarm, AlarmKind, Signal};
use crate::record::Stat;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a rank whose gradient statistic (loss, norm, cosine to the mean, leave-one-out
    /// cosine, sign agreement, L1/L2 shape, cosine to the running mean gradient, and that
    /// cosine in the metric of the gradient noise, `cos_ref_white`, from the hook's gradient
    /// sketches) departed from the other ranks' at the same steps: a two-sided CUSUM on its
    /// cross-sectional z-score crossed the calibrated threshold.
    ///
    /// Statistics are transformed to be near-Gaussian (log for norms and loss, atanh for
    /// cosines, logit for fractions), centred on the median of the other non-quarantined ranks
    /// at the same step (so what training does to every rank alike does not alarm) and on the
    /// rank's own persistent offset (its data shard), divided by the cross-rank scale (an
    /// exponentially weighted mean of the in-control squared residuals of recent steps),
    /// winsorised at ±4, and accumulated with k = 0.5. The evidence gives the statistic, its
    /// value, z, the CUSUM value and the threshold, the other ranks' median and the scale.
    /// ## Why is this bad?
    /// A poisoning worker in data-parallel training changes what it contributes to the
    /// all-reduce: boosted or zeroed gradients, sign flips, inner-product manipulation, slow
    /// drifts, or "A Little Is Enough" gradients that look *too close* to the mean. Each moves
    /// at least one of these statistics for the attacking rank only.
    /// ## Example
    /// `rank 5 grad_norm shifted high (cusum 14.2 > 12.0)`: rank 5 sends gradients about
    /// five times larger than its peers since step 60.
    /// ## Remediation
    /// Quarantine the rank (exclude it from the all-reduce or restart it on another host),
    /// inspect its data shard and host, and roll back to a checkpoint from before the first
    /// alarm if the shift was not benign.
    pub static GRADIENT_STATISTIC_SHIFT = "POIS001", "gradient-statistic-shift", High;
}

/// What a shift alarm carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Shift {
    pub stat: Stat,
    /// The raw value at the alarm step.
    pub value: f64,
    /// The (unwinsorised) z-score at the alarm step.
    pub z: f64,
    /// The CUSUM value that crossed the threshold.
    pub cusum: f64,
    pub threshold: f64,
    /// `true` when the statistic drifted up (the upper CUSUM fired).
    pub high: bool,
    /// The median of the other ranks (transformed) used as centre at this step.
    pub centre: f64,
    /// The cross-rank scale (transformed units) z was measured in.
    pub scale: f64,
    /// Ranks the value was compared with (the other non-quarantined ranks).
    pub compared: u32,
    /// Only two ranks were compared: the pair diverged, and this rank was named because its
    /// value moved more against its own recent level (not by the cross-section).
    pub paired: bool,
}

/// Every chart that crossed the threshold at this step (the detector's `Signal`s) is an
/// alarm, except when both ranks of a compared pair crossed: their residuals are mirror images,
/// so one alarm names the rank whose value moved more against its own recent level.
///
/// Strength: how far the rank is from the others now, |z| unwinsorised (capped at 10¹²), where
/// the CUSUMs of all crossing ranks may be saturated alike: with 3 ranks the attacker's honest
/// peers deviate half as much, the other way, and may cross in the same step.
pub(crate) fn check(cx: &mut Cx, out: &mut Vec<(f64, Alarm)>) {
    let signals = cx.signals;
    for group in signals.chunk_by(|a, b| a.stat == b.stat) {
        let named = match group {
            [a, b] if a.both_of_pair => {
                // Signals come in rank order: a tie names the lower rank.
                if b.departure.total_cmp(&a.departure).is_gt() {
                    std::slice::from_ref(b)
                } else {
                    std::slice::from_ref(a)
                }
            }
            _ => group,
        };
        for s in named {
            out.push((s.z.abs().min(1e12), alarm(cx, s)));
        }
    }
}

fn alarm(cx: &Cx, s: &Signal) -> Alarm {
    let shift = Shift {
        stat: s.stat,
        value: s.value,
        z: s.z,
        cusum: s.cusum,
        threshold: cx.config.threshold,
        // A pair's charts are mirror images: the direction is the sign of this rank's z.
        high: if s.paired { s.z >= 0.0 } else { s.high },
        centre: s.centre,
        scale: s.scale,
        compared: s.compared,
        paired: s.paired,
    };
    let source = cx.records.get(&s.rank).map(|(_, source)| *source);
    cx.alarm(s.rank, AlarmKind::Shift(shift), source)
}

impl Shift {
    /// The finding; `first` is the attribution suffix of the message (or empty).
    pub(crate) fn finding(&self, rank: u32, location: Location, first: &str) -> Finding {
        let dir = if self.high { "high" } else { "low" };
        let how = if self.paired {
            " against the only other rank (2 ranks: named for moving more against its own recent level)"
        } else {
            " against the other ranks"
        };
        Finding::new(
            &GRADIENT_STATISTIC_SHIFT,
            location,
            format!(
                "rank {rank} {} shifted {dir}{how} (cusum {:.2} > {:.2}){first}",
                self.stat.name(),
                self.cusum,
                self.threshold
            ),
        )
        .with_evidence("statistic", self.stat.name())
        .with_evidence("value", format!("{:.4}", self.value))
        .with_evidence("z", format!("{:.2}", self.z))
        .with_evidence("cusum", format!("{:.2}", self.cusum))
        .with_evidence("threshold", format!("{:.2}", self.threshold))
        .with_evidence("direction", dir)
        .with_evidence("cross_rank_median", format!("{:.5}", self.centre))
        .with_evidence("cross_rank_scale", format!("{:.5}", self.scale))
        .with_evidence("ranks_compared", self.compared)
        .with_evidence(
            "attribution_basis",
            if self.paired {
                "own recent level (2 ranks)"
            } else {
                "cross-rank"
            },
        )
    }
}
