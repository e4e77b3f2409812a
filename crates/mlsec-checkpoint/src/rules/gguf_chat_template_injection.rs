use mlsec_core::{Finding, Location, Pointer};
use mlsec_formats::gguf::{Kv, Value};

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags Jinja chat templates in GGUF metadata (`tokenizer.chat_template`,
    /// `tokenizer.chat_template.<name>` and any key ending in `chat_template`) whose code reaches
    /// Python objects: dunder names and attributes (`__class__`, `__subclasses__`, `__globals__`,
    /// `__builtins__`, `__import__`), `_`-prefixed attributes
    /// (`self._TemplateReference__context`), dunder names spelled by string literals, escapes or
    /// concatenation (`"__cla" ~ "ss__"`, `"\x5f\x5fclass\x5f\x5f"`, `["__","init","__"]|join`),
    /// the `attr` filter, `format` with `%c`, attributes of Jinja's global objects (`cycler`,
    /// `joiner`, `lipsum`, `namespace`, `self`) and of framework globals (`request`, `config`),
    /// `popen`/`system`/`eval` method calls, and characters mined from an object's string form.
    /// The template is lexed like Jinja does (text, comments and `{% raw %}` blocks are not
    /// code); the finding carries the offending snippet and its byte offset in the template.
    /// ## Why is this bad?
    /// Loaders render the template with Jinja when the model is used for chat. llama-cpp-python
    /// before 0.2.72 rendered it without a sandbox (CVE-2024-34359): a template walking
    /// `().__class__.__base__.__subclasses__()` to `os.popen` runs commands on the machine
    /// that loads the model. Sandboxed renderers have had escapes of the same shape. Chat
    /// templates of real models only read message fields and never need any of this.
    /// ## Remediation
    /// Do not load the model. Take the template from the original model's
    /// `tokenizer_config.json`, or update llama-cpp-python (≥ 0.2.72 renders in a sandbox).
    pub static GGUF_CHAT_TEMPLATE_INJECTION = "CKPT026", "gguf-chat-template-injection", Critical;
}

/// One metadata value: a string under a chat-template key, analysed by
/// [`crate::chat_template::check`]; located at the first offending construct, with how many
/// there are and up to ten distinct kinds.
pub(crate) fn check(kv: &Kv, file: &str) -> Option<Finding> {
    let is_template =
        kv.key.ends_with("chat_template") || kv.key.starts_with("tokenizer.chat_template.");
    let Value::String(text) = &kv.value else {
        return None;
    };
    if !is_template {
        return None;
    }
    let sites = crate::chat_template::check(text);
    let first = sites.first()?;
    let mut constructs: Vec<&str> = Vec::new();
    for s in &sites {
        if !constructs.contains(&s.construct.as_str()) && constructs.len() < 10 {
            constructs.push(&s.construct);
        }
    }
    let loc = Location::file(file)
        .with_pointer(Pointer::Field(kv.key.clone()))
        .at_bytes(kv.value_offset + first.offset as u64, 1);
    Some(
        Finding::new(
            &GGUF_CHAT_TEMPLATE_INJECTION,
            loc,
            format!(
                "chat template `{}` reaches Python objects: {}",
                kv.key, first.construct
            ),
        )
        .with_evidence("key", &kv.key)
        .with_evidence("template_offset", first.offset)
        .with_evidence("snippet", &first.snippet)
        .with_evidence("sites", sites.len())
        .with_evidence("constructs", constructs.join("; ")),
    )
}
