//! Where the bytes being checked sit, and how a finding about them is located.

use mlsec_core::{Finding, Location, Pointer};

/// Where the bytes being analysed sit: the file, the archive member, and whether offsets in
/// the buffer are file offsets (`mapped`) or relative to the member/payload at `anchor`.
#[derive(Debug, Clone)]
pub struct Site {
    pub file: String,
    pub member: Option<String>,
    pub mapped: bool,
    /// File offset used as the location when offsets are not file offsets.
    pub anchor: u64,
    /// Offsets of the outer calls that handed this payload over, outermost first.
    pub nested: Vec<u64>,
}

impl Site {
    pub fn file(file: &str) -> Site {
        Site {
            file: file.to_owned(),
            member: None,
            mapped: true,
            anchor: 0,
            nested: Vec::new(),
        }
    }

    /// A finding at `offset` of this site (a file offset when `mapped`, else an offset in
    /// the member or payload, kept as evidence while the location is the `anchor`).
    pub fn finding(
        &self,
        rule: &'static mlsec_core::Rule,
        offset: u64,
        message: String,
    ) -> Finding {
        let mut loc = Location::file(&self.file);
        if let Some(m) = &self.member {
            loc = loc.with_pointer(Pointer::Member(m.clone()));
        }
        let span = if self.mapped { offset } else { self.anchor };
        let mut f = Finding::new(rule, loc.at_bytes(span, 1), message);
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

    /// The file offset a finding at `offset` of this site is located at.
    pub fn span(&self, offset: u64) -> u64 {
        if self.mapped { offset } else { self.anchor }
    }

    /// An offset in the site's own buffer (a zip, a member's bytes) as an offset of this site
    /// ([`Site::finding`]'s `offset`): shifted to a file offset when the buffer is mapped.
    pub fn at(&self, buffer_offset: u64) -> u64 {
        if self.mapped {
            self.anchor + buffer_offset
        } else {
            buffer_offset
        }
    }
}
