//! One rule per file.

mod gradient_statistic_shift;
mod non_finite_statistic;
mod rank_heartbeat_lost;
mod stale_gradient_replay;

pub use gradient_statistic_shift::GRADIENT_STATISTIC_SHIFT;
pub use non_finite_statistic::NON_FINITE_STATISTIC;
pub use rank_heartbeat_lost::RANK_HEARTBEAT_LOST;
pub use stale_gradient_replay::STALE_GRADIENT_REPLAY;
