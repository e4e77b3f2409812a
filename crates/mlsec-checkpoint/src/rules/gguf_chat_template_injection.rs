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
