//! FGSM and PGD against torchattacks 3.5.1 on the max-pool architectures of
//! `testdata/adversarial/grad/` (`scripts/adversarial/make_grad_models.py`): a digits CNN, a
//! max-pool branch meeting a linear skip, 2×2 pooling on a 7×7 map, a ResNet-style stem with a
//! 3×3/2 pool, batch norm and a residual block. Every sample is attacked (torchattacks attacks
//! misclassified points too), PGD starts from the same points (the stored unit noise) and runs
//! every step (`early_stop: false`), so the adversarial examples themselves must be the same.

mod grad;

use grad::{Case, MODELS};
use mlsec_adversarial::attacks::{self, Goal, Noise, Pgd};

/// torchattacks' settings in the script.
const EPS: f64 = 0.1;
const PGD_STEPS: usize = 10;

/// How many components of `ours` differ from `theirs` by more than 1e-6, and the largest
/// difference (measured: none, largest 0 -- bit-identical on every model).
fn differing(ours: &[f32], theirs: &[f32]) -> (usize, f32) {
    assert_eq!(ours.len(), theirs.len());
    ours.iter().zip(theirs).fold((0, 0f32), |(n, m), (a, b)| {
        let d = (a - b).abs();
        (n + usize::from(d > 1e-6), m.max(d))
    })
}

#[test]
#[allow(clippy::print_stderr)] // the measured differences, visible with --nocapture
fn fgsm_and_pgd_match_torchattacks_on_max_pool_architectures() {
    for name in MODELS {
        let case = Case::load(name, &["pgd_unit", "fgsm", "pgd"]);
        let (setup, x, y) = (case.setup(), &case.x, &case.y);
        let all = vec![true; y.len()];
        let fgsm = attacks::fgsm(&setup, x, y, &all, y, Goal::Untargeted, EPS as f32).unwrap();
        let (n, max) = differing(&fgsm.adv, &case.floats("fgsm"));
        eprintln!("{name} fgsm: {n} components differ, max {max:e}");
        assert_eq!(
            n, 0,
            "{name}: FGSM differs from torchattacks in {n} components (max {max})"
        );
        let p = Pgd {
            eps: EPS as f32,
            steps: PGD_STEPS,
            alpha: (2.5 * EPS / PGD_STEPS as f64) as f32,
            restarts: 1,
            noise: Noise::Given {
                unit: case.floats("pgd_unit"),
                seed: 0,
            },
            early_stop: false,
        };
        let pgd = attacks::pgd(&setup, x, y, &all, y, Goal::Untargeted, &p).unwrap();
        let (n, max) = differing(&pgd.adv, &case.floats("pgd"));
        eprintln!("{name} pgd: {n} components differ, max {max:e}");
        assert_eq!(
            n, 0,
            "{name}: PGD differs from torchattacks in {n} components (max {max})"
        );
    }
}
