import pytest
import torch
import torch.nn.functional as F

from sgm.core.inference import constant_context
from sgm.core.inference.kept_context import keep_context_projections
from sgm.core.nn.attention import CrossAttention, MemoryEfficientCrossAttention, attention_class
from sgm.core.nn.transformer import GEGLU, BasicTransformerBlock, FeedForward, SpatialTransformer
from sgm.kernels import use_backend


def _randomize(module):
    torch.manual_seed(0)
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0, 0.3)
    return module


def _naive_attention(attn, x, context):
    q, k, v = attn.to_q(x), attn.to_k(context), attn.to_v(context)
    outs = []
    for h in range(attn.heads):
        cols = slice(h * attn.dim_head, (h + 1) * attn.dim_head)
        weights = (q[..., cols] @ k[..., cols].transpose(1, 2) / attn.dim_head**0.5).softmax(-1)
        outs.append(weights @ v[..., cols])
    return attn.to_out(torch.cat(outs, dim=-1))


@pytest.mark.parametrize("backend", ["sdpa", "math"])
def test_cross_attention_is_softmax_attention_per_head(backend):
    attn = _randomize(CrossAttention(12, context_dim=10, heads=3, dim_head=4, backend=backend)).double()
    x, ctx = torch.randn(2, 5, 12, dtype=torch.float64), torch.randn(2, 7, 10, dtype=torch.float64)
    torch.testing.assert_close(attn(x, ctx), _naive_attention(attn, x, ctx))
    self_attn = _randomize(CrossAttention(12, heads=3, dim_head=4, backend=backend)).double()
    torch.testing.assert_close(self_attn(x), _naive_attention(self_attn, x, x))  # no context: self-attention


def test_cross_attention_keys_and_modes():
    assert set(CrossAttention(8, 6, heads=2, dim_head=4).state_dict()) == {
        "to_q.weight", "to_k.weight", "to_v.weight", "to_out.0.weight", "to_out.0.bias"
    }
    assert MemoryEfficientCrossAttention is CrossAttention
    assert attention_class("softmax") is attention_class("softmax-xformers") is CrossAttention
    with pytest.raises(ValueError, match="softmax-xformers"):
        attention_class("flash")


def _counting_projections(attn):
    """Counts the calls of `attn.to_k` (to_v runs with it)."""
    calls = []
    attn.to_k.register_forward_hook(lambda module, inputs, output: calls.append(inputs[0].shape))
    return calls


def test_constant_context_reuses_keys_and_values_for_an_equal_context_only():
    attn = _randomize(CrossAttention(12, context_dim=10, heads=3, dim_head=4)).double()
    x, ctx = torch.randn(2, 5, 12, dtype=torch.float64), torch.randn(2, 7, 10, dtype=torch.float64)
    expected, other_expected, other_query = attn(x, ctx), attn(x, 2 * ctx), attn(x.flip(1), ctx)
    calls = _counting_projections(attn)
    assert keep_context_projections(attn) == 1
    kept = attn.context_keys_values
    with torch.no_grad(), constant_context():
        torch.testing.assert_close(attn(x, ctx), expected)
        torch.testing.assert_close(attn(x, ctx.clone()), expected)  # a new tensor with the same values
        torch.testing.assert_close(attn(x.flip(1), ctx), other_query)  # other queries, same keys and values
        assert len(calls) == 1
        torch.testing.assert_close(attn(x, 2 * ctx), other_expected)  # another context: projected anew
        changed = 2 * ctx
        attn(x, changed)
        changed.mul_(0.5)  # changed in place: its values are ctx's now, and the kept ones are stale
        torch.testing.assert_close(attn(x, changed), expected)
        assert len(calls) == 3 and kept.kept is not None
    assert kept.kept is None  # dropped at the end of the block
    with constant_context():  # with gradients: nothing kept
        attn(x, ctx), attn(x, ctx)
    assert len(calls) == 5 and kept.kept is None
    with torch.inference_mode(), constant_context():  # inference tensors: no version counter, the same answers
        inference_ctx = ctx.clone()
        torch.testing.assert_close(attn(x, inference_ctx), expected)
        inference_ctx.mul_(2)
        torch.testing.assert_close(attn(x, inference_ctx), other_expected)
        torch.testing.assert_close(attn(x, 2 * ctx), other_expected)
    assert len(calls) == 7
    attn.to("meta")
    with torch.no_grad(), constant_context():  # shapes only: no values to compare, each context projected anew
        attn(x.to("meta"), ctx.to("meta")), attn(x.to("meta"), ctx.to("meta"))
    assert len(calls) == 9


def test_geglu_and_feedforward():
    geglu = _randomize(GEGLU(4, 6))
    x = torch.randn(3, 4)
    a, b = geglu.proj(x).chunk(2, dim=-1)
    torch.testing.assert_close(geglu(x), a * F.gelu(b))
    assert FeedForward(4, dim_out=5, glu=True)(x).shape == (3, 5)
    keys = {"net.0.0.weight", "net.0.0.bias", "net.2.weight", "net.2.bias"}
    assert set(FeedForward(4, glu=False).state_dict()) == keys


def test_transformer_block_is_three_residual_sublayers():
    block = _randomize(BasicTransformerBlock(8, 2, 4, context_dim=6, checkpoint=False)).double()
    x, ctx = torch.randn(2, 5, 8, dtype=torch.float64), torch.randn(2, 3, 6, dtype=torch.float64)
    h = x + block.attn1(block.norm1(x))
    h = h + block.attn2(block.norm2(h), ctx)
    torch.testing.assert_close(block(x, ctx), h + block.ff(block.norm3(h)))
    assert block.attn1.to_k.in_features == 8 and block.attn2.to_k.in_features == 6


def test_disabled_self_attention_attends_to_context():
    block = _randomize(BasicTransformerBlock(8, 2, 4, context_dim=6, disable_self_attn=True, checkpoint=False))
    assert block.attn1.to_k.in_features == 6
    x, ctx = torch.randn(2, 5, 8), torch.randn(2, 3, 6)
    h = x + block.attn1(block.norm1(x), ctx)
    h = h + block.attn2(block.norm2(h), ctx)
    torch.testing.assert_close(block(x, ctx), h + block.ff(block.norm3(h)))


def test_checkpointed_block_gives_the_same_gradients():
    plain = _randomize(BasicTransformerBlock(8, 2, 4, context_dim=6, checkpoint=False)).double()
    ckpt = _randomize(BasicTransformerBlock(8, 2, 4, context_dim=6, checkpoint=True)).double()
    x, ctx = torch.randn(2, 5, 8, dtype=torch.float64), torch.randn(2, 3, 6, dtype=torch.float64)
    grads = []
    for block in (plain, ckpt):
        block.zero_grad()
        block(x, ctx).square().sum().backward()
        grads.append([p.grad.clone() for p in block.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)


def test_spatial_transformer_starts_as_identity():
    st = SpatialTransformer(32, 2, 8, context_dim=6, use_checkpoint=False)
    x = torch.randn(2, 32, 4, 4)
    torch.testing.assert_close(st(x, torch.randn(2, 3, 6)), x)  # proj_out is zero-initialised


def test_linear_and_conv_projections_agree():
    conv = _randomize(SpatialTransformer(32, 2, 8, depth=2, context_dim=6, use_checkpoint=False)).double()
    linear = SpatialTransformer(32, 2, 8, depth=2, context_dim=6, use_linear=True, use_checkpoint=False).double()
    linear.load_state_dict({k: v.reshape(linear.state_dict()[k].shape) for k, v in conv.state_dict().items()})
    x, ctx = torch.randn(2, 32, 3, 5, dtype=torch.float64), torch.randn(2, 4, 6, dtype=torch.float64)
    torch.testing.assert_close(linear(x, ctx), conv(x, ctx))
    assert conv.proj_in.weight.shape == (16, 32, 1, 1) and linear.proj_in.weight.shape == (16, 32)


def test_context_dim_list_and_per_block_contexts():
    st = _randomize(SpatialTransformer(32, 2, 8, depth=2, context_dim=[6, 10], use_checkpoint=False))
    assert [b.attn2.to_k.in_features for b in st.transformer_blocks] == [6, 10]
    out = st(torch.randn(1, 32, 2, 2), [torch.randn(1, 3, 6), torch.randn(1, 5, 10)])
    assert out.shape == (1, 32, 2, 2)
    shared = SpatialTransformer(32, 2, 8, depth=3, context_dim=[6])
    assert [b.attn2.to_k.in_features for b in shared.transformer_blocks] == [6, 6, 6]
    with pytest.raises(ValueError, match="context_dim"):
        SpatialTransformer(32, 2, 8, depth=3, context_dim=[6, 10])


def test_backends_agree_on_a_spatial_transformer():
    st = _randomize(SpatialTransformer(32, 2, 8, context_dim=6, use_linear=True)).double()
    x, ctx = torch.randn(2, 32, 4, 4, dtype=torch.float64), torch.randn(2, 3, 6, dtype=torch.float64)
    with use_backend("math"):
        reference = st(x, ctx)
    with use_backend("sdpa"):
        torch.testing.assert_close(st(x, ctx), reference)
