#!/usr/bin/env python3
"""Renders conversations with the real DeepSeek-V3 chat template, evaluated by jinja2 the way
Hugging Face transformers evaluates it (sandboxed, trim_blocks, lstrip_blocks), and writes them
as the expectations of ChatTemplateTest. The Java ChatTemplate implements the template's semantics
by hand; these renderings are the independent reference it is checked against.

Usage (from the repository root):
  python3 gpu-runtime/src/test/python/render_chat_template.py \
      ../shared/tokenizers/deepseek-v3/tokenizer_config.json \
      gpu-runtime/src/test/resources/io/latentstream/tokenizer/chat-template-renderings.json
"""
import hashlib
import json
import sys

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment


def user(text):
    return {"role": "user", "content": text}


def assistant(text):
    return {"role": "assistant", "content": text}


def system(text):
    return {"role": "system", "content": text}


def tool(text):
    return {"role": "tool", "content": text}


def calls(*pairs):
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"type": "function", "function": {"name": name, "arguments": arguments}}
            for name, arguments in pairs
        ],
    }


CASES = [
    ("one user turn", [user("Hello!")]),
    ("system and user", [system("You are a helpful assistant."), user("What is 2+2?")]),
    ("two system prompts are joined", [system("Be brief."), user("Hi"), system("Be kind.")]),
    (
        "multi-turn",
        [
            system("You answer in French."),
            user("Hello"),
            assistant("Bonjour !"),
            user("How are you?"),
        ],
    ),
    ("ends with the assistant", [user("Say hi"), assistant("hi")]),
    ("no messages", []),
    (
        "unicode and markup in content",
        [user("深度求索 😀 <｜User｜> line1\nline2\t{{ not jinja }}"), assistant("ok\n\n")],
    ),
    ("empty contents", [system(""), user(""), assistant("")]),
    ("an unknown role is skipped", [{"role": "developer", "content": "x"}, user("y")]),
    (
        "tool calls and outputs",
        [
            system("You can call tools."),
            user("Weather in Paris and Rome?"),
            calls(("get_weather", '{"city": "Paris"}'), ("get_weather", '{"city": "Rome"}')),
            tool('{"temp": 21}'),
            tool('{"temp": 25}'),
            assistant("Paris 21, Rome 25."),
            user("Thanks"),
        ],
    ),
    (
        "conversation ending in tool output",
        [user("Time?"), calls(("now", "{}")), tool("12:00")],
    ),
    (
        "a second tool-call turn",
        [
            user("a"),
            calls(("f", "{}")),
            tool("1"),
            assistant("b"),
            user("c"),
            calls(("g", '{"x": 1}')),
            tool("2"),
            assistant("d"),
        ],
    ),
]


def main(config_path, out_path):
    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    template_text = config["chat_template"]
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    template = env.from_string(template_text)
    bos = config["bos_token"]["content"]
    eos = config["eos_token"]["content"]
    cases = []
    for name, messages in CASES:
        for add_generation_prompt in (False, True):
            rendered = template.render(
                messages=messages,
                bos_token=bos,
                eos_token=eos,
                add_generation_prompt=add_generation_prompt,
            )
            cases.append(
                {
                    "name": name,
                    "add_generation_prompt": add_generation_prompt,
                    "messages": messages,
                    "rendered": rendered,
                }
            )
    result = {
        "generator": "gpu-runtime/src/test/python/render_chat_template.py, jinja2 "
        + jinja2.__version__,
        "template_sha256": hashlib.sha256(template_text.encode("utf-8")).hexdigest(),
        "bos_token": bos,
        "cases": cases,
    }
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
