import math

import pytest
import torch

from sgm.autoencoders.regularizers import (
    DiagonalGaussianDistribution,
    DiagonalGaussianRegularizer,
    EMAVectorQuantizer,
    GumbelQuantizer,
    VectorQuantizer,
)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_kl_to_standard_normal_is_the_closed_form():
    mean = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    logvar = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    posterior = DiagonalGaussianDistribution(torch.cat([mean, logvar], dim=1))
    # KL(N(mu, s^2) || N(0, 1)) = 0.5 * (mu^2 + s^2 - 1 - log s^2), summed over the sample
    expected = 0.5 * (mean**2 + logvar.exp() - 1 - logvar).sum(dim=(1, 2, 3))
    torch.testing.assert_close(posterior.kl(), expected)
    assert posterior.kl().dtype == torch.float64


def test_kl_between_gaussians_and_nll():
    a = DiagonalGaussianDistribution(torch.randn(2, 4, 3, 3, dtype=torch.float64))
    b = DiagonalGaussianDistribution(torch.randn(2, 4, 3, 3, dtype=torch.float64))
    expected = 0.5 * (torch.log(b.var / a.var) + (a.var + (a.mean - b.mean) ** 2) / b.var - 1).sum(dim=(1, 2, 3))
    torch.testing.assert_close(a.kl(b), expected)
    torch.testing.assert_close(a.kl(a), torch.zeros(2, dtype=torch.float64))
    x = torch.randn(2, 2, 3, 3, dtype=torch.float64)
    log_density = torch.distributions.Normal(a.mean, a.std).log_prob(x).sum(dim=(1, 2, 3))
    torch.testing.assert_close(a.nll(x), -log_density)


def test_logvar_is_clamped_and_deterministic_has_no_spread():
    moments = torch.cat([torch.zeros(1, 1, 2, 2), torch.full((1, 1, 2, 2), 100.0)], dim=1)
    assert DiagonalGaussianDistribution(moments).logvar.max() == 20.0
    deterministic = DiagonalGaussianDistribution(moments, deterministic=True)
    assert torch.equal(deterministic.sample(), deterministic.mean)
    assert deterministic.kl().item() == 0.0


def test_sample_draws_standard_normal_noise_in_the_reference_order():
    moments = torch.randn(2, 8, 4, 4)
    posterior = DiagonalGaussianDistribution(moments)
    torch.manual_seed(123)
    sample = posterior.sample()
    torch.manual_seed(123)
    noise = torch.randn(2, 4, 4, 4)
    torch.testing.assert_close(sample, posterior.mean + posterior.std * noise)


def test_regularizer_sample_versus_mode():
    moments = torch.randn(3, 8, 4, 4)
    z_mode, log = DiagonalGaussianRegularizer(sample=False)(moments)
    torch.testing.assert_close(z_mode, moments[:, :4])
    z_sample, _ = DiagonalGaussianRegularizer(sample=True)(moments)
    assert z_sample.shape == z_mode.shape and not torch.equal(z_sample, z_mode)
    expected_kl = DiagonalGaussianDistribution(moments).kl().mean()
    torch.testing.assert_close(log["kl_loss"], expected_kl)


def test_sample_keeps_low_precision_dtypes():
    for dtype in (torch.bfloat16, torch.float64):
        z, _ = DiagonalGaussianRegularizer()(torch.randn(1, 8, 2, 2, dtype=dtype))
        assert z.dtype == dtype


def test_vector_quantizer_picks_the_nearest_code():
    quantizer = VectorQuantizer(n_e=16, e_dim=4, beta=0.25)
    quantizer.embedding.weight.data.normal_()
    z = torch.randn(2, 4, 3, 5)
    z_q, log = quantizer(z)
    vectors = z.permute(0, 2, 3, 1).reshape(-1, 4)
    brute_force = torch.stack([((quantizer.embedding.weight - v) ** 2).sum(1).argmin() for v in vectors])
    assert torch.equal(log["min_encoding_indices"], brute_force)
    torch.testing.assert_close(z_q.permute(0, 2, 3, 1).reshape(-1, 4), quantizer.embedding.weight[brute_force])
    # beta * ||z - sg[e]||^2 + ||sg[z] - e||^2 have equal values: (1 + beta) * mse
    torch.testing.assert_close(log["loss/vq"], 1.25 * ((z_q - z) ** 2).mean())


def test_vector_quantizer_gradients_pass_straight_through():
    quantizer = VectorQuantizer(n_e=8, e_dim=4)
    z = torch.randn(1, 4, 2, 2, requires_grad=True)
    z_q, _ = quantizer(z)
    (z_q * torch.arange(16.0).view(1, 4, 2, 2)).sum().backward()
    torch.testing.assert_close(z.grad, torch.arange(16.0).view(1, 4, 2, 2))


def test_vector_quantizer_index_shapes_and_codebook_lookup():
    quantizer = VectorQuantizer(n_e=8, e_dim=4, sane_index_shape=True)
    z = torch.randn(2, 4, 3, 5)
    z_q, log = quantizer(z)
    assert log["min_encoding_indices"].shape == (2, 3, 5)
    flat = log["min_encoding_indices"].reshape(-1)
    torch.testing.assert_close(quantizer.get_codebook_entry(flat, shape=(2, 3, 5, 4)), z_q)
    tokens = torch.randn(2, 6, 4)  # [b, s, e_dim] sequences
    _, log = quantizer(tokens)
    assert log["min_encoding_indices"].shape == (2, 6)


def test_vector_quantizer_remap(tmp_path):
    import numpy as np

    used = np.array([1, 3, 5])
    np.save(tmp_path / "used.npy", used)
    quantizer = VectorQuantizer(n_e=8, e_dim=2, remap=str(tmp_path / "used.npy"), unknown_index="extra")
    indices = torch.tensor([[1, 3, 5, 7]])
    remapped = quantizer.remap_to_used(indices)
    assert remapped.tolist() == [[0, 1, 2, 3]]  # 7 is unused: the extra token 3
    assert quantizer.unmap_to_all(remapped).tolist() == [[1, 3, 5, 1]]  # the extra token maps to code 0 -> 1


def test_perplexity_is_the_number_of_codes_when_all_are_used_equally():
    quantizer = VectorQuantizer(n_e=4, e_dim=2, log_perplexity=True)
    quantizer.embedding.weight.data = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    z = quantizer.embedding.weight.detach().t().reshape(1, 2, 2, 2)
    _, log = quantizer(z)
    torch.testing.assert_close(log["perplexity"], torch.tensor(4.0))
    assert log["cluster_usage"].item() == 4


def test_ema_quantizer_moves_codes_toward_their_vectors():
    quantizer = EMAVectorQuantizer(n_embed=4, embedding_dim=2, beta=0.25, decay=0.5)
    z = torch.randn(2, 2, 4, 4)
    before = quantizer.embedding.weight.clone()
    quantizer.eval()
    z_q, log = quantizer(z)
    assert torch.equal(quantizer.embedding.weight, before)  # no update in eval
    quantizer.train()
    _, log = quantizer(z)
    used = log["encoding_indices"].unique()
    assert not torch.equal(quantizer.embedding.weight[used], before[used])
    assert 1.0 <= log["perplexity"].item() <= 4.0


def test_gumbel_quantizer_in_eval_returns_codebook_vectors():
    quantizer = GumbelQuantizer(num_hiddens=6, embedding_dim=3, n_embed=5).eval()
    z_q, log = quantizer(torch.randn(2, 6, 3, 3), return_logits=True)
    assert z_q.shape == (2, 3, 3, 3) and log["logits"].shape == (2, 5, 3, 3)
    codes = quantizer.get_codebook_entry(log["indices"].reshape(-1), shape=(2, 3, 3, 3))
    torch.testing.assert_close(z_q, codes)
    # the KL to the uniform prior is >= 0 and at most log(n_embed), times kl_weight
    assert 0.0 <= log["loss/vq"].item() <= 5e-4 * math.log(5) + 1e-9
