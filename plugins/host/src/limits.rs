//! What one call may use. Tenants may lower the host's limits, never raise them.

use std::time::Duration;

/// Per-call limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Fuel for a call, plus `fuel_per_item` per customer of a scorer's batch. A simple scorer
    /// spends about 10,000 per customer (measured); the defaults leave ten times that.
    pub fuel_base: u64,
    pub fuel_per_item: u64,
    /// Wall-clock backstop, enforced by epoch interruption.
    pub timeout: Duration,
    /// Linear memory of the instance.
    pub memory_bytes: usize,
    /// What the host hands to the guest (the batch, or the value and record, and config).
    pub input_bytes: usize,
    /// What the guest may answer.
    pub output_bytes: usize,
    /// What the run record keeps of stdout and stderr.
    pub log_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            fuel_base: 10_000_000,
            fuel_per_item: 100_000,
            timeout: Duration::from_millis(1_000),
            memory_bytes: 16 * 1024 * 1024,
            input_bytes: 256 * 1024,
            output_bytes: 64 * 1024,
            log_bytes: 1024,
        }
    }
}

impl Limits {
    /// Each limit no higher than `cap`'s.
    #[must_use]
    pub fn at_most(self, cap: Limits) -> Limits {
        Limits {
            fuel_base: self.fuel_base.min(cap.fuel_base),
            fuel_per_item: self.fuel_per_item.min(cap.fuel_per_item),
            timeout: self.timeout.min(cap.timeout),
            memory_bytes: self.memory_bytes.min(cap.memory_bytes),
            input_bytes: self.input_bytes.min(cap.input_bytes),
            output_bytes: self.output_bytes.min(cap.output_bytes),
            log_bytes: self.log_bytes.min(cap.log_bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_only_go_down() {
        let host = Limits::default();
        let asked = Limits { fuel_base: u64::MAX, timeout: Duration::from_millis(10), ..host };
        let got = asked.at_most(host);
        assert_eq!(got.fuel_base, host.fuel_base);
        assert_eq!(got.timeout, Duration::from_millis(10));
    }
}
