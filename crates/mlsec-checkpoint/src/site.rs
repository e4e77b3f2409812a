//! Where the bytes being checked sit ([`Site`], from the traversal), and how a finding about
//! them is located ([`Locate`]).

use mlsec_core::{Finding, Location, Pointer};

pub use mlsec_formats::walk::Site;

/// Findings located at a site.
pub trait Locate {
    /// A finding at `offset` of this site (a file offset when `mapped`, else an offset in
    /// the member or payload, kept as evidence while the location is the `anchor`).
    fn finding(&self, rule: &'static mlsec_core::Rule, offset: u64, message: String) -> Finding;
}

impl Locate for Site {
    fn finding(&self, rule: &'static mlsec_core::Rule, offset: u64, message: String) -> Finding {
        let mut loc = Location::file(&self.file);
        if let Some(m) = &self.member {
            loc = loc.with_pointer(Pointer::Member(m.clone()));
        }
        let mut f = Finding::new(rule, loc.at_bytes(self.span(offset), 1), message);
        if !self.mapped {
            f = f.with_evidence(
                if self.nested.is_empty() {
                    "member_offset"
                } else {
                    "payload_offset"
                },
                offset,
            );
        }
        if !self.nested.is_empty() {
            let chain: Vec<String> = self.nested.iter().map(|o| format!("{o:#x}")).collect();
            f = f.with_evidence("nested_in", chain.join(" > "));
        }
        f
    }
}
