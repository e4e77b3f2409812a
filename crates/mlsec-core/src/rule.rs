use crate::Severity;

/// A detector's identity and documentation, declared once with [`declare_rule!`](crate::declare_rule).
///
/// The same declaration feeds `mlsec explain`, `mlsec rules`, SARIF `rules[]` and the generated
/// `docs/rules.md`, so the three can never disagree.
#[derive(Debug)]
pub struct Rule {
    /// Stable id: a subcommand prefix (`ADV`, `INSP`, `POIS`, `EXPG`, `CKPT`, `TRTN`) and three
    /// digits. Never reused for another meaning.
    pub id: &'static str,
    /// Kebab-case name, e.g. `pickle-unsafe-import`.
    pub name: &'static str,
    /// Severity unless the policy file overrides it or the detector grades the occurrence.
    pub default_severity: Severity,
    /// The rule's doc comment, Markdown with `## What it does`, `## Why is this bad?` and
    /// `## Remediation` sections.
    pub docs: &'static str,
}

/// The prefixes a rule id may start with, one per subcommand.
pub const RULE_PREFIXES: [&str; 6] = ["ADV", "INSP", "POIS", "EXPG", "CKPT", "TRTN"];

impl Rule {
    /// The parsed documentation sections.
    pub fn parsed_docs(&self) -> RuleDocs {
        RuleDocs::parse(self.docs)
    }

    /// One line saying what the rule flags: the first sentence of `## What it does`.
    pub fn summary(&self) -> String {
        let what = self.parsed_docs().what_it_does;
        let para = what.split("\n\n").next().unwrap_or_default();
        let line = para.split_whitespace().collect::<Vec<_>>().join(" ");
        match line.find(". ") {
            Some(end) => line[..=end].trim_end().to_owned(),
            None => line,
        }
    }

    /// Checks the conventions every rule must follow; returns what is wrong.
    pub fn convention_errors(&self) -> Vec<String> {
        let mut errors = Vec::new();
        let well_formed = RULE_PREFIXES.iter().any(|prefix| {
            self.id.strip_prefix(prefix).is_some_and(|digits| {
                digits.len() == 3 && digits.bytes().all(|b| b.is_ascii_digit())
            })
        });
        if !well_formed {
            errors.push(format!(
                "{}: id must be a known prefix and three digits",
                self.id
            ));
        }
        let kebab = !self.name.is_empty()
            && !self.name.starts_with('-')
            && !self.name.ends_with('-')
            && !self.name.contains("--")
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !kebab {
            errors.push(format!(
                "{}: name `{}` is not kebab-case",
                self.id, self.name
            ));
        }
        let docs = self.parsed_docs();
        for (section, text) in [
            ("What it does", &docs.what_it_does),
            ("Why is this bad?", &docs.why_bad),
            ("Remediation", &docs.remediation),
        ] {
            if text.trim().is_empty() {
                errors.push(format!(
                    "{}: doc section `## {section}` is missing or empty",
                    self.id
                ));
            }
        }
        errors
    }
}

/// The sections of a rule's doc comment.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RuleDocs {
    pub what_it_does: String,
    pub why_bad: String,
    pub example: String,
    pub remediation: String,
}

impl RuleDocs {
    /// Splits a doc comment into its `## ` sections. Unknown sections are ignored.
    pub fn parse(docs: &str) -> RuleDocs {
        let mut out = RuleDocs::default();
        let mut current: Option<&mut String> = None;
        for raw in docs.lines() {
            let line = raw.strip_prefix(' ').unwrap_or(raw);
            if let Some(title) = line.strip_prefix("## ") {
                current = match title.trim() {
                    "What it does" => Some(&mut out.what_it_does),
                    "Why is this bad?" => Some(&mut out.why_bad),
                    "Example" => Some(&mut out.example),
                    "Remediation" | "Fix" => Some(&mut out.remediation),
                    _ => None,
                };
                continue;
            }
            if let Some(section) = current.as_deref_mut() {
                section.push_str(line);
                section.push('\n');
            }
        }
        for section in [
            &mut out.what_it_does,
            &mut out.why_bad,
            &mut out.example,
            &mut out.remediation,
        ] {
            *section = section.trim().to_owned();
        }
        out
    }
}

/// Declares a rule: id, kebab-case name, default severity, and its documentation taken from
/// the doc comment.
///
/// ```
/// mlsec_core::declare_rule! {
///     /// ## What it does
///     /// Flags something.
///     /// ## Why is this bad?
///     /// Because.
///     /// ## Remediation
///     /// Do not.
///     pub static EXAMPLE = "CKPT999", "example-rule", Low;
/// }
/// assert_eq!(EXAMPLE.id, "CKPT999");
/// assert_eq!(EXAMPLE.summary(), "Flags something.");
/// ```
#[macro_export]
macro_rules! declare_rule {
    (
        $(#[doc = $doc:literal])*
        $vis:vis static $ident:ident = $id:literal, $name:literal, $severity:ident;
    ) => {
        $(#[doc = $doc])*
        $vis static $ident: $crate::Rule = $crate::Rule {
            id: $id,
            name: $name,
            default_severity: $crate::Severity::$severity,
            docs: concat!($($doc, "\n"),*),
        };
    };
}

#[cfg(test)]
mod tests {
    crate::declare_rule! {
        /// ## What it does
        /// Flags a thing. More detail follows.
        ///
        /// Second paragraph.
        /// ## Why is this bad?
        /// Reasons.
        /// ## Remediation
        /// Fix it.
        static GOOD = "TRTN900", "good-rule", Medium;
    }

    crate::declare_rule! {
        /// ## What it does
        /// Nothing else.
        static BAD = "XYZ01", "Bad_Name", Low;
    }

    #[test]
    fn docs_are_parsed_into_sections() {
        let docs = GOOD.parsed_docs();
        assert!(docs.what_it_does.starts_with("Flags a thing."));
        assert_eq!(docs.why_bad, "Reasons.");
        assert_eq!(docs.remediation, "Fix it.");
        assert_eq!(GOOD.summary(), "Flags a thing.");
        assert!(GOOD.convention_errors().is_empty());
    }

    #[test]
    fn conventions_catch_bad_rules() {
        let errors = BAD.convention_errors();
        assert_eq!(errors.len(), 4, "{errors:?}");
    }
}
