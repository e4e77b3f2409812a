//! The `tritonserver` command line given with `--launch-args` or `--launch-args-file`: flags as
//! `--name=value` or `--name value`, from a plain command, a shell script with `\` line
//! continuations, or a Dockerfile/compose exec array (`["tritonserver", "--flag=v"]`).

/// One flag of the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    pub name: String,
    pub value: Option<String>,
    /// 1-based line in the launch file (1 for `--launch-args`).
    pub line: u32,
}

/// A parsed launch command.
#[derive(Debug, Clone)]
pub struct Launch {
    /// What findings point at: the launch file as given, or `<launch-args>`.
    pub source: String,
    pub flags: Vec<Flag>,
    /// Whether the text was read from a file (then flags carry line numbers).
    pub from_file: bool,
}

/// Why launch arguments cannot be checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LaunchError {
    #[error("no `tritonserver` command found in the launch arguments")]
    NoCommand,
}

impl Launch {
    pub fn parse(
        text: &str,
        source: impl Into<String>,
        from_file: bool,
    ) -> Result<Launch, LaunchError> {
        if !text.contains("tritonserver") {
            return Err(LaunchError::NoCommand);
        }
        let mut words: Vec<(String, u32)> = Vec::new();
        for (i, raw_line) in text.lines().enumerate() {
            let line = raw_line.trim_start();
            if line.starts_with('#') {
                continue;
            }
            for word in split_words(line) {
                let word = word
                    .trim_matches(|c| matches!(c, '[' | ']' | ','))
                    .trim_matches(|c| c == '"' || c == '\'')
                    .to_owned();
                if !word.is_empty() && word != "\\" {
                    words.push((word, i as u32 + 1));
                }
            }
        }
        // Flags are those of the `tritonserver` command (not of a wrapper before it).
        let start = words
            .iter()
            .position(|(w, _)| w.rsplit('/').next() == Some("tritonserver"))
            .map_or(0, |i| i + 1);
        let mut flags = Vec::new();
        let mut i = start;
        while i < words.len() {
            let (word, line) = &words[i];
            if let Some(body) = word.strip_prefix("--") {
                let (name, value) = match body.split_once('=') {
                    Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
                    None => {
                        let next = words.get(i + 1).filter(|(w, _)| !w.starts_with('-'));
                        if let Some((v, _)) = next {
                            i += 1;
                            (body.to_owned(), Some(v.clone()))
                        } else {
                            (body.to_owned(), None)
                        }
                    }
                };
                flags.push(Flag {
                    name,
                    value,
                    line: *line,
                });
            }
            i += 1;
        }
        Ok(Launch {
            source: source.into(),
            flags,
            from_file,
        })
    }

    /// The last value of a flag (`tritonserver` keeps the last).
    pub fn get(&self, name: &str) -> Option<&Flag> {
        self.flags.iter().rev().find(|f| f.name == name)
    }

    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Flag> + 'a {
        self.flags.iter().filter(move |f| f.name == name)
    }

    /// A boolean flag's value with Triton's default.
    pub fn bool(&self, name: &str, default: bool) -> bool {
        match self.get(name).and_then(|f| f.value.as_deref()) {
            Some(v) => matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "on" | "yes"),
            None if self.get(name).is_some() => true,
            None => default,
        }
    }

    /// The APIs restricted on a protocol (`--http-restricted-api=<api>[,<api>]:<key>=<value>`).
    pub fn restricted(&self, flag: &str) -> Vec<String> {
        self.all(flag)
            .filter_map(|f| f.value.as_deref())
            .filter_map(|v| v.split_once(':'))
            .flat_map(|(apis, _)| apis.split(',').map(|a| a.trim().to_owned()))
            .collect()
    }
}

/// Splits a line into words, honouring single and double quotes.
fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => {
                quote = None;
            }
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => quote = Some(c),
            (None, c) if c.is_whitespace() => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            (None, c) => cur.push(c),
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands_scripts_and_exec_arrays() {
        let l = Launch::parse(
            "tritonserver --model-repository=/models --model-control-mode explicit \\\n  --allow-metrics=false \\\n  --http-restricted-api=model-repository,shared-memory:admin-key=secret",
            "run.sh",
            true,
        )
        .unwrap();
        assert_eq!(
            l.get("model-control-mode").unwrap().value.as_deref(),
            Some("explicit")
        );
        assert_eq!(l.get("allow-metrics").unwrap().line, 2);
        assert!(!l.bool("allow-metrics", true));
        assert_eq!(
            l.restricted("http-restricted-api"),
            ["model-repository", "shared-memory"]
        );
        let d = Launch::parse(
            "CMD [\"tritonserver\", \"--model-repository=/m\", \"--rate-limit=execution_count\"]",
            "Dockerfile",
            true,
        )
        .unwrap();
        assert_eq!(
            d.get("rate-limit").unwrap().value.as_deref(),
            Some("execution_count")
        );
        assert!(Launch::parse("python serve.py", "x", false).is_err());
        let wrapped = Launch::parse(
            "timeout --signal=TERM 1h /opt/tritonserver/bin/tritonserver --rate-limit=off",
            "x",
            false,
        )
        .unwrap();
        assert_eq!(wrapped.flags.len(), 1, "{:?}", wrapped.flags);
    }
}
