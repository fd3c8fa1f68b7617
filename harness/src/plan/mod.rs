//! What to measure, decided before anything is timed: the scenario ([`scenario`]: TOML →
//! validated cells) and the model each cell runs ([`model`]: zoo name or checkpoint → a built
//! engine model, checked against the memory available).

pub mod estimate;
pub mod model;
pub mod scenario;
