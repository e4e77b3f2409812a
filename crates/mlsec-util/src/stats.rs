//! Order statistics over samples. Every function takes the samples by mutable slice (it
//! reorders them), orders with `total_cmp` (NaN sorts last, never a panic) and returns `None`
//! for an empty slice: callers decide what "no samples" means for them.

/// The median: the middle sample, or the mean of the two middle ones for an even count.
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let m = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[m]
    } else {
        (values[m - 1] + values[m]) / 2.0
    })
}

/// The upper median (the sample at index `len / 2` in sorted order), found by selection in
/// linear time: for large samples where averaging the two middle ones does not matter.
pub fn upper_median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mid = values.len() / 2;
    let (_, m, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
    Some(*m)
}

/// The median absolute deviation from `centre` (unscaled; multiply by 1.4826 for a robust
/// estimate of a normal standard deviation).
pub fn mad(values: &[f64], centre: f64) -> Option<f64> {
    let mut dev: Vec<f64> = values.iter().map(|x| (x - centre).abs()).collect();
    median(&mut dev)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_none_not_a_panic() {
        assert_eq!(median(&mut []), None);
        assert_eq!(upper_median(&mut []), None);
        assert_eq!(mad(&[], 0.0), None);
    }

    #[test]
    fn odd_even_and_nan() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(upper_median(&mut [4.0, 1.0, 2.0, 3.0]), Some(3.0));
        assert_eq!(median(&mut [f64::NAN, 1.0, 2.0]), Some(2.0));
        assert_eq!(mad(&[1.0, 2.0, 3.0, 4.0, 100.0], 3.0), Some(1.0));
    }
}
