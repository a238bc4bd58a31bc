#!/usr/bin/env python3
"""The GPU decode peer: Hugging Face transformers `generate` on the same checkpoint and GPU.

Run by `ops/gpu-check run` on the GPU machine after GpuCheck (torch and transformers are
installed there, not here). Greedy decoding in bf16, a fixed number of new tokens at each batch
size, with the prompts CudaBenchmarks uses (16 tokens, token i of row b = (31 b + 7 i) mod vocab),
so that the two figures describe the same work. Prints one line per batch size.

    python3 ops/gpu-peer-transformers.py --model DIR [--batches 1,32,128] [--new-tokens 128]
"""
import argparse
import time

import torch
import transformers


def prompts(batch, vocab, length=16):
    return torch.tensor([[(b * 31 + i * 7) % vocab for i in range(length)] for b in range(batch)])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--batches", default="1,32,128")
    p.add_argument("--new-tokens", type=int, default=128)
    a = p.parse_args()
    model = transformers.AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.bfloat16)
    model = model.to("cuda").eval()
    vocab = model.config.vocab_size
    print(f"peer: transformers {transformers.__version__}, torch {torch.__version__}, "
          f"{torch.cuda.get_device_name()}, bf16, attention {model.config._attn_implementation}",
          flush=True)
    for batch in (int(b) for b in a.batches.split(",")):
        ids = prompts(batch, vocab).to("cuda")
        mask = torch.ones_like(ids)

        def generate(n):
            # min_new_tokens: EOS must not end a row early, so every row makes n tokens.
            return model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=n,
                                  min_new_tokens=n, do_sample=False, pad_token_id=1)

        with torch.inference_mode():
            generate(4)  # warm-up: kernels, allocator
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            out = generate(a.new_tokens)
            torch.cuda.synchronize()
            seconds = time.perf_counter() - t0
        made = (out.shape[1] - ids.shape[1]) * batch
        print(f"peer transformers generate batch {batch}: {made / seconds:.0f} tok/s "
              f"({made} tokens in {seconds:.2f} s, {1e3 * seconds / a.new_tokens:.2f} ms per step)",
              flush=True)


if __name__ == "__main__":
    main()
