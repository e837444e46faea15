"""nopdb's ViT tutorial, redone with jupdb on a real timm Vision Transformer.

1. Capture the attention weights of block 4 only (the bound method
   ``model.blocks[4].attn.forward``) and plot the class token's attention per
   head to a PNG (if matplotlib is installed).
2. Put a breakpoint in timm's ``Attention.forward`` at the softmax line and
   ``exec('attn = attn * 3')`` there: the predictions change, the model's code
   does not.
3. ``--bench``: time a batch-8 forward pass bare, under jupdb's capture_call
   and under jupdb's breakpoint+exec (and nopdb's, if installed), on CUDA if
   available, and print the ratios.

The weights are random (``pretrained=False``), so no download is needed; the
attention maps are not meaningful pictures, only real tensors from a real model.

Needs:  pip install torch timm matplotlib
Run:    python examples/vit_attention.py [--out vit_attention.png] [--device cuda|cpu] [--bench]
"""

import argparse
import time

import jupdb

SOFTMAX_LINE = "attn = attn.softmax(dim=-1)"  # in timm's Attention.forward (unfused path)
BLOCK = 4


def make_model(device):
    import timm
    import torch
    from timm.models.vision_transformer import Attention

    torch.manual_seed(0)  # the random weights come from torch's global generator
    model = timm.create_model("vit_base_patch16_224", pretrained=False).eval().to(device)
    for blk in model.blocks:
        assert isinstance(blk.attn, Attention), type(blk.attn)
        blk.attn.fused_attn = False  # compute `attn` explicitly instead of F.scaled_dot_product_attention
    return model


def images(batch, device, seed=0):
    import torch

    return torch.randn(batch, 3, 224, 224, generator=torch.Generator().manual_seed(seed)).to(device)


def capture_attention(model, x):
    """Attention weights of block BLOCK (B, heads, tokens, tokens), and the logits."""
    import torch

    with torch.no_grad(), jupdb.capture_call(model.blocks[BLOCK].attn.forward) as call:
        logits = model(x)
    return call.locals["attn"], logits


def sharpened_logits(model, x):
    """Logits with every block's attention scores tripled before the softmax."""
    import torch
    from timm.models.vision_transformer import Attention

    with torch.no_grad(), jupdb.breakpoint(Attention.forward, line=SOFTMAX_LINE) as bp:
        bp.exec("attn = attn * 3")
        return model(x)


def plot(attn, path):
    """Class token -> patch attention of each head of image 0, as 14x14 maps."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed; no plot")
        return
    maps = attn[0, :, 0, 1:].float().cpu().numpy()
    heads, side = maps.shape[0], int(maps.shape[1] ** 0.5)
    fig, axes = plt.subplots(2, heads // 2, figsize=(heads, 4.4))
    for h, ax in enumerate(axes.flat):
        ax.imshow(maps[h].reshape(side, side))
        ax.set_title("head %d" % h, fontsize=8)
        ax.axis("off")
    fig.suptitle("block %d: class-token attention per head (random weights)" % BLOCK)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print("saved", path)


def demo(model, device, out):
    x = images(2, device)
    attn, logits = capture_attention(model, x)
    print("block %d attention: %s, rows sum to %.3f" % (BLOCK, tuple(attn.shape), attn.sum(-1).mean().item()))
    plot(attn, out)

    changed = sharpened_logits(model, x)
    print("top-5 classes            :", logits.topk(5).indices.tolist())
    print("top-5 with attn * 3      :", changed.topk(5).indices.tolist())
    diff = (changed - logits).abs().max().item()
    print("max |logit change| %.4g; predictions changed: %s" % (diff, diff > 0))


def bench(model, device, batch=8, warmup=3, runs=10):
    import torch
    from timm.models.vision_transformer import Attention

    x = images(batch, device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    with torch.no_grad():
        reference = model(x)

    def capture(debugger):
        with debugger.capture_call(model.blocks[BLOCK].attn.forward) as call:
            model(x)
        assert call.locals["attn"].shape[0] == batch, "capture did not fire"

    def breakpoint_exec(debugger):
        with debugger.breakpoint(Attention.forward, line=SOFTMAX_LINE) as bp:
            bp.exec("attn = attn * 3")
            out = model(x)
        assert not torch.equal(out, reference), "breakpoint did not fire"

    cases = {"bare": lambda: model(x)}
    debuggers = [("jupdb", jupdb)]
    try:
        import nopdb

        debuggers.append(("nopdb", nopdb))
    except ImportError:
        print("nopdb is not installed; skipping its cases")
    for name, debugger in debuggers:
        cases[name + " capture_call(blocks[%d].attn.forward)" % BLOCK] = lambda d=debugger: capture(d)
        cases[name + " breakpoint(Attention.forward) + exec"] = lambda d=debugger: breakpoint_exec(d)

    print(
        "forward pass, batch %d on %s, best of %d after %d warm-up rounds (cases interleaved)"
        % (batch, device, runs, warmup)
    )
    best = dict.fromkeys(cases, float("inf"))
    with torch.no_grad():
        for i in range(warmup + runs):
            for name, fn in cases.items():
                if best[name] is None:
                    continue
                sync()
                t0 = time.perf_counter()
                try:
                    fn()
                except Exception as e:  # e.g. nopdb's exec on a Python it does not support
                    print("%-48s failed: %s: %s" % (name, type(e).__name__, e))
                    best[name] = None
                    continue
                sync()
                if i >= warmup:
                    best[name] = min(best[name], time.perf_counter() - t0)
    for name, t in best.items():
        if t is not None:
            print("%-48s %8.2f ms  %6.2fx" % (name, t * 1e3, t / best["bare"]))


def main(argv=None):
    import torch

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="vit_attention.png", help="where to save the attention plot")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--bench", action="store_true", help="also time forward passes under the probes")
    args = p.parse_args(argv)
    device = torch.device(args.device)

    model = make_model(device)
    demo(model, device, args.out)
    if args.bench:
        bench(model, device)


if __name__ == "__main__":
    main()
