"""The chunked loss head: vocabulary projection and cross-entropy only at positions that carry loss.

Prompt tokens are often half of all tokens, and the (tokens x vocabulary) logits are the largest tensors of a
step. Here the decoder's last hidden states are gathered at loss positions, projected `chunk` rows at a time, and
each chunk's gradient (softmax minus one-hot, times the weight) is computed right away, so no chunk's logits are
kept for the backward pass: memory holds one chunk of logits, never all of them, at no extra compute.
"""

from __future__ import annotations

import torch
from torch import nn


class _ChunkedLinearCrossEntropy(torch.autograd.Function):
    """sum_i CE(head(hidden_i), target_i); gradients for hidden, weight and bias are made in the forward pass."""

    @staticmethod
    def forward(ctx, hidden, weight, bias, targets, head, chunk, needs):  # noqa: ANN001 - autograd signature
        need_h, need_w, need_b = needs
        acc_dtype = torch.promote_types(weight.dtype, torch.float32)  # fp32 loss under bf16, fp64 stays fp64
        total = torch.zeros((), dtype=acc_dtype, device=hidden.device)
        grad_h = torch.empty_like(hidden) if need_h else None
        grad_w = torch.zeros_like(weight, dtype=acc_dtype) if need_w else None
        grad_b = torch.zeros_like(bias, dtype=acc_dtype) if need_b else None
        for start in range(0, hidden.shape[0], chunk):
            h, y = hidden[start : start + chunk], targets[start : start + chunk]
            logits = head(h).to(acc_dtype)  # (n, V); the module call lets hooks (and autocast) see each chunk
            lse = torch.logsumexp(logits, dim=-1)
            total += (lse - logits.gather(1, y[:, None]).squeeze(1)).sum()
            if not (need_h or need_w or need_b):
                continue
            d_logits = logits.sub_(lse[:, None]).exp_()  # softmax, in place: d(sum CE)/d(logits) = p - onehot
            d_logits[torch.arange(len(y), device=y.device), y] -= 1.0
            d_logits = d_logits.to(weight.dtype)
            if need_h:
                grad_h[start : start + chunk] = d_logits @ weight  # (n, V) x (V, H)
            if need_w:
                grad_w += d_logits.t() @ h.to(weight.dtype)  # (V, n) x (n, H)
            if need_b:
                grad_b += d_logits.sum(0, dtype=acc_dtype)
        ctx.save_for_backward(grad_h, grad_w, grad_b)
        ctx.weight_dtype = weight.dtype
        return total

    @staticmethod
    def backward(ctx, grad_out):  # noqa: ANN001
        grad_h, grad_w, grad_b = ctx.saved_tensors
        scaled = [None if g is None else (g * grad_out).to(ctx.weight_dtype if k else g.dtype)
                  for k, g in enumerate((grad_h, grad_w, grad_b))]
        return (*scaled, None, None, None, None)


def chunked_cross_entropy(head: nn.Linear, hidden: torch.Tensor, targets: torch.Tensor, chunk: int) -> torch.Tensor:
    """Summed cross-entropy of `head(hidden)` (N, V) against `targets` (N,), `chunk` rows at a time.

    >>> head = nn.Linear(4, 10, bias=False)
    >>> h, y = torch.randn(5, 4), torch.tensor([1, 2, 3, 4, 5])
    >>> expected = nn.functional.cross_entropy(head(h), y, reduction="sum")
    >>> bool(torch.allclose(chunked_cross_entropy(head, h, y, chunk=2), expected, atol=1e-5))
    True
    """
    grad = torch.is_grad_enabled()
    bias = head.bias
    needs = (grad and hidden.requires_grad, grad and head.weight.requires_grad,
             grad and bias is not None and bias.requires_grad)
    return _ChunkedLinearCrossEntropy.apply(hidden, head.weight, bias, targets, head, chunk, needs)
