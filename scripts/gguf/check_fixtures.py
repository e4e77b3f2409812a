"""Cross-checks the GGUF fixtures written by `cargo xtask testdata gguf` with the reference
reader and renderer:

- every clean, template and malicious fixture is read by `gguf.GGUFReader` (gguf-py, the
  llama.cpp project's Python package), which must list the same metadata keys and tensors, with
  the tensor bytes we wrote;
- every broken fixture is refused by GGUFReader (an exception), and the out-of-bounds fixture
  too (its data lies past the end of the file);
- the benign templates render with jinja2's `ImmutableSandboxedEnvironment` (what transformers
  and llama-cpp-python >= 0.2.72 use) on a short conversation;
- the malicious templates, rendered the way llama-cpp-python < 0.2.72 did (a plain
  `jinja2.Environment`), really run their harmless `echo mlsec-gguf-marker` payload, and the
  sandboxed environment refuses them.

Run from the repository root: /work/venvs/gguf/bin/python scripts/gguf/check_fixtures.py
(pinned versions in requirements.txt beside this file).
"""

import pathlib
import sys

import gguf
import jinja2
import jinja2.sandbox

ROOT = pathlib.Path("testdata/gguf")
MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Hello"},
    {"role": "assistant", "content": "Hi there"},
    {"role": "user", "content": "Who are you?"},
]
MARKER = "mlsec-gguf-marker"


def template_keys(reader):
    return [k for k in reader.fields if k.endswith("chat_template") or k.startswith("tokenizer.chat_template.")]


def text(reader, key):
    field = reader.fields[key]
    return bytes(field.parts[field.data[0]]).decode("utf-8")


class TemplateError(Exception):
    pass


def raise_exception(message):
    raise TemplateError(message)


def render(env, template):
    def go(messages):
        return env.from_string(template).render(
            messages=messages, add_generation_prompt=True, bos_token="<s>", eos_token="</s>",
            raise_exception=raise_exception,
        )

    try:
        return go(MESSAGES)
    except TemplateError:  # templates without a system role (Gemma) refuse one
        return go(MESSAGES[1:])


def main():
    failures = []
    for path in sorted(ROOT.rglob("*.gguf")):
        rel = path.relative_to(ROOT)
        group = rel.parts[0]
        try:
            reader = gguf.GGUFReader(path)
        except Exception as e:  # noqa: BLE001 - any refusal counts
            if group == "broken" or rel.name == "tensor-out-of-bounds.gguf":
                print(f"ok   {rel}: refused by GGUFReader ({type(e).__name__}: {str(e)[:60]})")
            else:
                failures.append(f"{rel}: GGUFReader failed: {e}")
            continue
        if group == "broken":
            failures.append(f"{rel}: GGUFReader accepted a broken file")
            continue
        names = [t.name for t in reader.tensors]
        line = f"ok   {rel}: {len(reader.fields)} fields, tensors {names}"
        if group in ("clean", "templates", "malicious"):
            t = reader.get_tensor(0)
            assert t.name == "token_embd.weight" and list(t.shape) == [16, 8], t
            for key in template_keys(reader):
                tpl = text(reader, key)
                sandbox = jinja2.sandbox.ImmutableSandboxedEnvironment()
                if group == "malicious" and MARKER in tpl:
                    out = render(jinja2.Environment(), tpl)
                    if MARKER not in out:
                        failures.append(f"{rel}: {key} did not run its marker")
                    try:
                        render(sandbox, tpl)
                        failures.append(f"{rel}: {key} rendered in the sandbox")
                    except jinja2.exceptions.SecurityError:
                        pass
                    line += f"; {key} runs `echo` unsandboxed, refused sandboxed"
                else:
                    out = render(sandbox, tpl)
                    line += f"; {key} renders ({len(out)} chars)"
        print(line)
    for f in failures:
        print("FAIL", f)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
