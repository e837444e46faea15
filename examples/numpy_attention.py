"""Look at, then edit, the attention weights of one block of a tiny ViT-style model.

A plain-numpy copy of timm's ViT attention (qkv projection, per-head scaled dot
product, softmax, output projection) in a small transformer with deterministic
random weights, so it runs anywhere numpy does.  main() does nopdb's ViT
tutorial with jupdb:

1. capture the attention weights of block 1 only, by capturing the bound method
   ``model.blocks[1].attn.forward`` and reading ``call.locals['attn']``;
2. put a breakpoint on ``Attention.forward`` (every block) at the softmax line
   and ``exec('attn = attn * 3')`` there: the model's output changes, without
   touching the model's code.

Run:  python examples/numpy_attention.py
"""

import numpy as np

import jupdb


def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def layer_norm(x, eps=1e-6):
    return (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + eps)


class Attention:
    """Multi-head self-attention over tokens x of shape (N, C), as timm's Attention."""

    def __init__(self, dim, num_heads, rng):
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.qkv = rng.standard_normal((dim, 3 * dim)) / np.sqrt(dim)
        self.proj = rng.standard_normal((dim, dim)) / np.sqrt(dim)

    def forward(self, x):
        n, c = x.shape
        qkv = (x @ self.qkv).reshape(n, 3, self.num_heads, self.head_dim).transpose(1, 2, 0, 3)
        q, k, v = qkv[0], qkv[1], qkv[2]  # each (heads, N, head_dim)
        attn = q @ k.swapaxes(-2, -1) * self.scale
        attn = softmax(attn)
        return (attn @ v).transpose(1, 0, 2).reshape(n, c) @ self.proj


class Block:
    """Pre-norm transformer block: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, dim, num_heads, rng):
        self.attn = Attention(dim, num_heads, rng)
        self.fc1 = rng.standard_normal((dim, 2 * dim)) / np.sqrt(dim)
        self.fc2 = rng.standard_normal((2 * dim, dim)) / np.sqrt(2 * dim)

    def __call__(self, x):
        x = x + self.attn.forward(layer_norm(x))
        return x + np.maximum(layer_norm(x) @ self.fc1, 0) @ self.fc2


class Model:
    """Patch embedding + class token, a stack of blocks, a linear head on the class token."""

    def __init__(self, patch_dim=48, dim=32, depth=4, num_heads=4, num_tokens=16, num_classes=10, seed=0):
        rng = np.random.default_rng(seed)
        self.embed = rng.standard_normal((patch_dim, dim)) / np.sqrt(patch_dim)
        self.cls_token = rng.standard_normal((1, dim)) * 0.02
        self.pos = rng.standard_normal((num_tokens + 1, dim)) * 0.02
        self.blocks = [Block(dim, num_heads, rng) for _ in range(depth)]
        self.head = rng.standard_normal((dim, num_classes)) / np.sqrt(dim)

    def tokens(self, patches):
        """Input of the first block: embedded patches after the class token, plus positions."""
        return np.concatenate([self.cls_token, patches @ self.embed]) + self.pos

    def __call__(self, patches):
        x = self.tokens(patches)
        for blk in self.blocks:
            x = blk(x)
        return layer_norm(x)[0] @ self.head  # logits from the class token


def example_input(num_tokens=16, patch_dim=48, seed=1):
    return np.random.default_rng(seed).standard_normal((num_tokens, patch_dim))


def main():
    model, patches = Model(), example_input()
    logits = model(patches)

    # 1. Attention weights of block 1 only: a bound method targets that one instance.
    with jupdb.capture_call(model.blocks[1].attn.forward) as call:
        model(patches)
    attn = call.locals["attn"]
    print("block 1 attention: shape %s (heads, queries, keys), rows sum to %.3f" % (attn.shape, attn.sum(-1).mean()))
    print("class token attends most to tokens", attn[:, 0].argmax(-1), "(one per head)")

    # 2. Sharpen every block's attention before the softmax; the model code is untouched.
    with jupdb.breakpoint(Attention.forward, line="attn = softmax(attn)") as bp:
        bp.exec("attn = attn * 3")
        sharpened = model(patches)
    print("logits              :", np.round(logits, 2))
    print("logits with attn * 3:", np.round(sharpened, 2))
    print(
        "prediction %d -> %d, max |change| %.3f; after the with block: %s"
        % (
            logits.argmax(),
            sharpened.argmax(),
            abs(sharpened - logits).max(),
            "unchanged" if np.array_equal(model(patches), logits) else "CHANGED",
        )
    )


if __name__ == "__main__":
    main()
