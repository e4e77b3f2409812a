//! The trigger-like-unit statistic on hand-made per-probe unit maxima.

use mlsec_inspect::activations::{Stats, TRIGGER_MIN_SAMPLES, trigger_units};
use mlsec_inspect::probe::Rng;

/// `n` probes × `units` units of ordinary activity (uniform in [0, 2)), then `edit` applied.
fn stats(n: usize, units: usize, edit: impl Fn(usize, usize, f32) -> f32) -> Stats {
    let mut rng = Rng::new(9);
    let mut s = Stats {
        units,
        ..Stats::default()
    };
    for i in 0..n {
        for u in 0..units {
            s.unit_max.push(edit(i, u, 2.0 * rng.uniform()));
        }
    }
    s
}

#[test]
fn a_unit_silent_except_on_two_probes_is_flagged() {
    let s = stats(64, 16, |i, u, v| match (u, i) {
        (7, 10 | 40) => 60.0,
        (7, _) => 0.0,
        _ => v,
    });
    let found = trigger_units(&s, 64);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].unit, 7);
    assert_eq!(found[0].hot, [10, 40]);
    assert!(found[0].peer_ratio > 10.0);
}

#[test]
fn ordinary_sparse_or_frequent_units_are_not_flagged() {
    let cases: Vec<(&str, Stats)> = vec![
        ("all ordinary", stats(64, 16, |_, _, v| v)),
        // Fires on a few probes, but no harder than its peers.
        (
            "sparse, ordinary size",
            stats(64, 16, |i, u, v| {
                if u == 3 {
                    if i < 2 { 1.9 } else { 0.0 }
                } else {
                    v
                }
            }),
        ),
        // Extreme, but on half the probes: a feature, not a trigger.
        (
            "frequent",
            stats(64, 16, |i, u, v| {
                if u == 3 {
                    if i % 2 == 0 { 60.0 } else { 0.0 }
                } else {
                    v
                }
            }),
        ),
        // Extreme on 5 of 64 probes: more than 5 % (rounded up: 4).
        (
            "too many",
            stats(64, 16, |i, u, v| {
                if u == 3 {
                    if i < 5 { 60.0 } else { 0.0 }
                } else {
                    v
                }
            }),
        ),
    ];
    for (what, s) in cases {
        assert!(trigger_units(&s, 64).is_empty(), "{what}");
    }
    // Too few probes for the statistic.
    let n = TRIGGER_MIN_SAMPLES - 1;
    let s = stats(n, 16, |i, u, v| {
        if u == 7 {
            if i == 0 { 60.0 } else { 0.0 }
        } else {
            v
        }
    });
    assert!(trigger_units(&s, n).is_empty());
    // ... and the same with enough probes is found.
    let n = TRIGGER_MIN_SAMPLES;
    let s = stats(n, 16, |i, u, v| {
        if u == 7 {
            if i == 0 { 60.0 } else { 0.0 }
        } else {
            v
        }
    });
    assert_eq!(trigger_units(&s, n).len(), 1);
}
